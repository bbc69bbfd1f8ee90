/**
 * Small named wrappers over the socket calls transparent proxying needs: each returns a plain
 * value or throws a SysError that names the call, its subject and, for a missing privilege,
 * the capability. Socket options all go through one helper, `setOpt`.
 *
 * Every socket is created non-blocking and close-on-exec; `startConnect` never waits.
 *
 * @module
 */

import { hostPort } from "../net/endpoint.ts";
import { HOST_LITTLE_ENDIAN } from "../runtime/ffi.ts";
import { EINPROGRESS, isPrivilegeError, SysError } from "./errno.ts";
import { lastErrno, libc } from "./libc.ts";
import {
  afOf,
  decodeSockaddr,
  encodeSockaddr,
  type SockAddr,
  SOCKADDR_MAX_SIZE,
} from "./sockaddr.ts";

const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_ERROR = 4;
const SO_REUSEPORT = 15;
const SO_BINDTODEVICE = 25;
const SOL_IP = 0;
const IP_TRANSPARENT = 19;
const IP_BIND_ADDRESS_NO_PORT = 24;
const SOL_IPV6 = 41;
const IPV6_V6ONLY = 26;
const IPV6_TRANSPARENT = 75;
const SOL_TCP = 6;
const TCP_NODELAY = 1;

/** What a failed IP_TRANSPARENT means for the operator. */
export const CAP_NET_ADMIN_HINT =
  "transparent proxying needs CAP_NET_ADMIN (or CAP_NET_RAW): run as root, or grant it, e.g. " +
  "AmbientCapabilities=CAP_NET_ADMIN in the systemd unit";

function check(
  what: string,
  rc: number | bigint | unknown,
  hint?: (errno: number) => string | undefined,
): void {
  if (typeof rc === "number" && rc >= 0) return;
  const errno = lastErrno();
  throw new SysError(what, errno, hint?.(errno));
}

/** A new non-blocking, close-on-exec TCP socket of `family`. */
export function openSocket(family: 4 | 6): number {
  const fd = libc().symbols.socket(afOf(family), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  check(`socket(${family === 4 ? "AF_INET" : "AF_INET6"})`, fd);
  return fd as number;
}

/** Closes `fd`; errors are ignored (nothing useful can be done about them). */
export function closeFd(fd: number): void {
  libc().symbols.close(fd);
}

/** The one setsockopt helper: sets option `name` at `level` to `value`'s bytes. */
export function setOpt(
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
  what: string,
  hint?: (errno: number) => string | undefined,
): void {
  check(
    `setsockopt ${what}`,
    libc().symbols.setsockopt(fd, level, name, value, value.length),
    hint,
  );
}

function int(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, HOST_LITTLE_ENDIAN);
  return b;
}

const needsCap = (cap: string) => (errno: number) => isPrivilegeError(errno) ? cap : undefined;

/** IP_TRANSPARENT (IPv4) or IPV6_TRANSPARENT: bind and accept for non-local addresses. */
export function setTransparent(fd: number, family: 4 | 6): void {
  if (family === 4) {
    setOpt(fd, SOL_IP, IP_TRANSPARENT, int(1), "IP_TRANSPARENT", needsCap(CAP_NET_ADMIN_HINT));
  } else {
    setOpt(
      fd,
      SOL_IPV6,
      IPV6_TRANSPARENT,
      int(1),
      "IPV6_TRANSPARENT",
      needsCap(CAP_NET_ADMIN_HINT),
    );
  }
}

/** SO_REUSEADDR, so a listener can bind again while old connections sit in TIME_WAIT. */
export function setReuseAddr(fd: number): void {
  setOpt(fd, SOL_SOCKET, SO_REUSEADDR, int(1), "SO_REUSEADDR");
}

/** SO_REUSEPORT: several processes share the port; the kernel spreads connections. */
export function setReusePort(fd: number): void {
  setOpt(fd, SOL_SOCKET, SO_REUSEPORT, int(1), "SO_REUSEPORT");
}

/** IPV6_V6ONLY: false makes a socket on :: accept IPv4 too. */
export function setV6Only(fd: number, on: boolean): void {
  setOpt(fd, SOL_IPV6, IPV6_V6ONLY, int(on ? 1 : 0), "IPV6_V6ONLY");
}

/** TCP_NODELAY: no Nagle delay on small writes. */
export function setNoDelay(fd: number): void {
  setOpt(fd, SOL_TCP, TCP_NODELAY, int(1), "TCP_NODELAY");
}

/**
 * IP_BIND_ADDRESS_NO_PORT: a bind to port 0 leaves the port to connect(), which can then reuse
 * it towards other destinations (no ephemeral port exhaustion for `usesrc clientip`).
 */
export function setBindAddressNoPort(fd: number): void {
  setOpt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, int(1), "IP_BIND_ADDRESS_NO_PORT");
}

/** SO_BINDTODEVICE: only the routes through interface `name` carry this socket. */
export function setBindToDevice(fd: number, name: string): void {
  const bytes = new TextEncoder().encode(name + "\0");
  setOpt(
    fd,
    SOL_SOCKET,
    SO_BINDTODEVICE,
    bytes,
    `SO_BINDTODEVICE ${name}`,
    needsCap("binding to an interface needs CAP_NET_RAW (run as root)"),
  );
}

/** SO_ERROR: the pending error (0 when none), read and cleared. */
export function socketError(fd: number): number {
  const val = new Uint8Array(4);
  const len = int(4);
  check("getsockopt SO_ERROR", libc().symbols.getsockopt(fd, SOL_SOCKET, SO_ERROR, val, len));
  return new DataView(val.buffer).getInt32(0, HOST_LITTLE_ENDIAN);
}

/** Binds `fd` to `host:port` (port 0: the kernel's choice); `hint` explains an errno. */
export function bindTo(
  fd: number,
  host: string,
  port: number,
  hint?: (errno: number) => string | undefined,
): void {
  const sa = encodeSockaddr(host, port);
  check(`bind ${hostPort(host, port)}`, libc().symbols.bind(fd, sa, sa.length), hint);
}

/**
 * Starts connecting `fd` to `host:port`: true when already connected, false while in progress
 * (wait for writability, then read `socketError`). Any other failure throws.
 */
export function startConnect(fd: number, host: string, port: number): boolean {
  const sa = encodeSockaddr(host, port);
  const rc = libc().symbols.connect(fd, sa, sa.length);
  if (rc === 0) return true;
  const errno = lastErrno();
  if (errno === EINPROGRESS) return false;
  throw new SysError(`connect ${hostPort(host, port)}`, errno);
}

/** listen(2) with `backlog`. */
export function listenOn(fd: number, backlog: number): void {
  check("listen", libc().symbols.listen(fd, backlog));
}

/** getsockname(2): the address `fd` is bound to. */
export function localAddress(fd: number): SockAddr {
  const sa = new Uint8Array(SOCKADDR_MAX_SIZE);
  const len = int(SOCKADDR_MAX_SIZE);
  check("getsockname", libc().symbols.getsockname(fd, sa, len));
  return decodeSockaddr(sa);
}
