/**
 * Transparent sockets: an outgoing connection from a chosen (possibly foreign) source address,
 * connected without blocking the event loop, and a listening socket that accepts connections
 * addressed to foreign addresses (with a TPROXY rule). Both return a file descriptor for the
 * runtime adapter to adopt (`Runtime.adopt`, `ListenOptions.fd`).
 *
 * @module
 */

import { hostPort } from "../net/endpoint.ts";
import { parseIp } from "../net/ip.ts";
import { ffi } from "../runtime/ffi.ts";
import { timeoutError } from "../runtime/timeout.ts";
import { EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, SysError } from "./errno.ts";
import {
  bindTo,
  closeFd,
  listenOn,
  openSocket,
  setBindAddressNoPort,
  setBindToDevice,
  setNoDelay,
  setReuseAddr,
  setReusePort,
  setTransparent,
  setV6Only,
  socketError,
  startConnect,
} from "./socket.ts";

/** How to make one outgoing connection. */
export interface ConnectSpec {
  /** Where to connect: an IP literal and port. */
  readonly host: string;
  readonly port: number;
  /** The source to bind first (port 0: the kernel picks at connect time); null: no bind. */
  readonly source: { readonly host: string; readonly port: number } | null;
  /** Set IP_TRANSPARENT / IPV6_TRANSPARENT so that `source` may be a foreign address. */
  readonly transparent: boolean;
  /** SO_BINDTODEVICE: the interface whose routes carry the connection; null: any. */
  readonly device: string | null;
  readonly timeoutMs: number;
}

function familyOf(host: string): 4 | 6 {
  const ip = parseIp(host);
  if (ip === null) throw new RangeError(`"${host}" is not an IP address`);
  return ip.family;
}

/**
 * Connects as `spec` says and resolves with the connected, non-blocking fd (the caller owns
 * it). The connect is started non-blocking and its completion awaited off the event loop
 * (`Ffi.waitWritable`), then SO_ERROR says whether it worked: the fd is only handed on once
 * the connection is established. Rejects with a SysError (bind, connect) or a TimeoutError.
 */
export async function connectFrom(spec: ConnectSpec): Promise<number> {
  const family = familyOf(spec.host);
  if (spec.source !== null && familyOf(spec.source.host) !== family) {
    // Never an IPv4-mapped address: the server must be of the source's family.
    throw new RangeError(
      `source ${spec.source.host} and server ${spec.host} are of different address families`,
    );
  }
  const fd = openSocket(family);
  try {
    if (spec.transparent) setTransparent(fd, family);
    if (spec.device !== null) setBindToDevice(fd, spec.device);
    if (spec.source !== null) {
      if (spec.source.port === 0 && family === 4) setBindAddressNoPort(fd);
      bindTo(fd, spec.source.host, spec.source.port, bindHint(spec));
    }
    if (!startConnect(fd, spec.host, spec.port)) {
      const ready = await ffi.waitWritable(fd, spec.timeoutMs);
      if (!ready) throw timeoutError(spec);
      const err = socketError(fd);
      if (err !== 0) throw new SysError(`connect ${hostPort(spec.host, spec.port)}`, err);
    }
    setNoDelay(fd);
    return fd;
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/** What a failed source bind means, in the operator's terms. */
function bindHint(spec: ConnectSpec): (errno: number) => string | undefined {
  return (errno) => {
    if (spec.source === null) return undefined;
    if (errno === EADDRINUSE && spec.transparent && spec.source.port !== 0) {
      return "the client's own address and port are in use on this host (the same 4-tuple " +
        "twice, or a local client): usesrc clientip avoids it";
    }
    if (errno === EADDRNOTAVAIL && !spec.transparent) {
      return `${spec.source.host} is not an address of this host`;
    }
    return undefined;
  };
}

/**
 * A listening socket for `host:port` with IP_TRANSPARENT set, so that with a TPROXY rule it
 * accepts connections addressed to any IP (and, with `--on-port`, any port). `host` "" or
 * "::" listens on every address, IPv4 included. `reusePort`: SO_REUSEPORT (worker processes
 * sharing the port). Returns the fd, ready for `ListenOptions.fd`.
 */
export function listenTransparent(
  host: string,
  port: number,
  reusePort = false,
  backlog = 511,
): number {
  const all = host === "" || host === "::";
  const family = all ? 6 : familyOf(host);
  const fd = openSocket(family);
  try {
    setReuseAddr(fd);
    if (reusePort) setReusePort(fd);
    setTransparent(fd, family);
    if (family === 6) setV6Only(fd, !all);
    bindTo(fd, all ? "::" : host, port);
    listenOn(fd, backlog);
    return fd;
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/**
 * Checks that this process may make transparent sockets of `family`: true when it may, false
 * when the family is not supported here (IPv6 disabled); throws a SysError naming the missing
 * capability otherwise.
 */
export function probeTransparent(family: 4 | 6): boolean {
  let fd: number;
  try {
    fd = openSocket(family);
  } catch (err) {
    if (err instanceof SysError && err.errno === EAFNOSUPPORT) return false;
    throw err;
  }
  try {
    setTransparent(fd, family);
    return true;
  } finally {
    closeFd(fd);
  }
}
