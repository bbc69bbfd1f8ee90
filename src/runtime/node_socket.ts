/**
 * A node:net Socket as a `Conn`: how Deno adopts sockets made through FFI (Deno has no fd API
 * of its own; node:net's Socket({ fd }) works there).
 *
 * Deno's node:net buffers writes without bound, so `write()` reports backpressure from
 * `writableNeedDrain` and the owner pauses its source exactly as for a native connection.
 *
 * @module
 */

import type net from "node:net";
import { normalizeMapped } from "../net/ip.ts";
import type { Addr, Conn, ConnHandlers } from "./types.ts";

function addr(host: string | undefined, port: number | undefined): Addr {
  const h = normalizeMapped(host ?? "");
  return { host: h, port: port ?? 0, family: h.includes(":") ? 6 : 4 };
}

class NodeSocketConn implements Conn {
  readonly local: Addr;
  readonly remote: Addr;
  #s: net.Socket;
  #h: ConnHandlers | null = null;
  #paused = false;
  #closed = false;
  #ended = false;

  constructor(s: net.Socket, remote?: Addr, local?: Addr) {
    this.#s = s;
    this.local = local ?? addr(s.localAddress, s.localPort);
    this.remote = remote ?? addr(s.remoteAddress, s.remotePort);
  }

  start(h: ConnHandlers): void {
    const first = this.#h === null;
    this.#h = h;
    // Listeners are attached once and follow #h, so a second start() hands over cleanly.
    if (first) {
      const s = this.#s;
      s.on("data", (chunk: Uint8Array) => this.#h!.data(chunk));
      s.on("end", () => this.#h!.end());
      s.on("drain", () => this.#h!.drain());
      s.on("error", (err: Error) => {
        if (this.#closed) return;
        this.close();
        this.#h!.error(err);
      });
    }
    if (!this.#paused) this.#s.resume();
  }

  pause(): void {
    this.#paused = true;
    this.#s.pause();
  }

  resume(): void {
    this.#paused = false;
    if (this.#h !== null) this.#s.resume();
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed) return true;
    return this.#s.write(chunk);
  }

  end(): void {
    if (this.#closed) return;
    this.#ended = true;
    this.#s.end();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const s = this.#s;
    // write() returning true only means the stream took the bytes: after end(), let them
    // (and the FIN) go out before the socket is torn down. Otherwise this is an abort.
    if (this.#ended && !s.writableFinished && !s.destroyed) {
      s.once("finish", () => s.destroy());
      s.once("error", () => s.destroy());
    } else s.destroy();
  }
}

/** Wraps a connected node:net Socket, paused until the owner calls `start()`. */
export function adoptNodeSocket(s: net.Socket): Promise<Conn> {
  s.pause();
  return Promise.resolve(new NodeSocketConn(s));
}

/**
 * Wraps a socket that runs over another connection (a node:tls TLSSocket over a ConnDuplex),
 * reporting that connection's addresses.
 */
export function wrapStreamSocket(s: net.Socket, remote: Addr, local: Addr): Conn {
  s.pause();
  return new NodeSocketConn(s, remote, local);
}
