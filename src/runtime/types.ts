/**
 * The runtime-neutral transport contract. Everything outside `src/runtime/` talks to sockets
 * only through these types; `src/runtime/deno.ts` and `src/runtime/bun.ts` implement them.
 *
 * Invariants every implementation keeps:
 * - No handler runs before `start()`, and none runs after the owner called `close()`.
 *   `start()` may be called again to hand the connection to a new owner (sniffing session →
 *   pipe): later events go to the new handlers.
 * - A `data` chunk stays valid until the handler returns or, if the handler paused the
 *   connection, until `resume()`: the adapter never reuses a buffer that the owner may still
 *   be writing elsewhere. So a pipe may hand a chunk straight to another connection's
 *   `write()` with no copy.
 * - `write()` never drops bytes. It returns true when the chunk was handed to the kernel
 *   whole; false when part of it is queued (the adapter keeps a reference, not a copy: the
 *   caller must not modify the chunk until `drain`). Callers pause their source on false.
 * - `end()` sends FIN after everything queued is written (half-close); reading continues.
 *   When the FIN waits behind queued bytes, `drain` fires once it has been sent.
 * - An owner closes only after every write it saw return false has drained; `close()` drops
 *   whatever is still queued.
 * - `end` fires once when the peer's FIN arrives; `error` fires at most once, for a reset or
 *   any other failure, and after it the connection is dead.
 *
 * @module
 */

import type { Socket } from "node:net";

/** A socket address; `family` is never 6 for an IPv4-mapped address (see normalizeMapped). */
export interface Addr {
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** What a connection reports to its owner. */
export interface ConnHandlers {
  /** Bytes from the peer. */
  data(chunk: Uint8Array): void;
  /** The peer sent FIN: no more data will arrive. */
  end(): void;
  /** Everything queued by `write()` has reached the kernel. */
  drain(): void;
  /** The connection failed (reset, refused write, ...); it is unusable afterwards. */
  error(err: Error): void;
}

/** One TCP connection, accepted, dialed or adopted. */
export interface Conn {
  readonly local: Addr;
  readonly remote: Addr;
  /** Starts delivering events to `handlers` (reading begins unless paused). */
  start(handlers: ConnHandlers): void;
  /** Stops reading (backpressure); `data` will not fire until `resume()`. */
  pause(): void;
  /** Resumes reading after `pause()`. */
  resume(): void;
  /** Queues bytes; true when no backpressure applies (see module invariants). */
  write(chunk: Uint8Array): boolean;
  /** Half-closes: FIN after queued bytes. */
  end(): void;
  /** Closes both directions at once, dropping anything queued. Idempotent. */
  close(): void;
}

/** A bound listening socket. */
export interface Listener {
  readonly addr: Addr;
  /** Stops accepting; connections already accepted are unaffected. */
  close(): void;
}

/** Where and how to listen. */
export interface ListenOptions {
  /** IP literal or name; "" means all addresses (dual-stack). */
  readonly host: string;
  readonly port: number;
  /** SO_REUSEPORT, for several processes sharing one port. */
  readonly reusePort?: boolean;
  /** Adopt an already bound and listening socket (made through src/sys/) instead of binding. */
  readonly fd?: number;
}

/** Called with each accepted connection; it must call `start()` or `close()`. */
export type AcceptHandler = (conn: Conn) => void;

/** Called when accepting fails (e.g. EMFILE); the listener keeps trying. */
export type AcceptErrorHandler = (err: Error) => void;

/** Where to connect. */
export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  /** Reject with a timeout error after this many milliseconds. */
  readonly timeoutMs: number;
}

/** A plain HTTP request handler (the admin endpoint uses Hono's `fetch`). */
export type FetchHandler = (req: Request) => Response | Promise<Response>;

/** A running HTTP server. */
export interface HttpServer {
  readonly addr: Addr;
  close(): Promise<void>;
}

/** Everything runtime-specific that the router needs. */
export interface Runtime {
  /** "deno" or "bun". */
  readonly name: "deno" | "bun";
  /** e.g. "deno 2.9.6" or "bun 1.4.5". */
  readonly version: string;
  listen(
    opts: ListenOptions,
    onConn: AcceptHandler,
    onError: AcceptErrorHandler,
  ): Promise<Listener>;
  connect(opts: ConnectOptions): Promise<Conn>;
  /** Wraps a connected socket made elsewhere (src/sys/) as a Conn. */
  adopt(fd: number): Promise<Conn>;
  serveHttp(opts: { host: string; port: number }, handler: FetchHandler): Promise<HttpServer>;
  /**
   * Wraps a connected node:net stream made over another `Conn` (a TLSSocket over a ConnDuplex)
   * as a Conn that reports `remote` and `local`.
   */
  wrapStream(socket: Socket, remote: Addr, local: Addr): Conn;
  /** The arguments this program was given (after the runtime, its flags and the script). */
  argv(): string[];
  /**
   * A new array of `n` bytes, its contents unspecified (the caller writes every one), for
   * arrays made per request or per frame: the cheap way differs. V8 gives `new Uint8Array(n)`
   * above 64 bytes an ArrayBuffer of its own (about 1-4 us each on Deno, measured), where a
   * slice of node:buffer's pool costs 0.16 us; on JavaScriptCore `new Uint8Array(n)` costs
   * 0.01 us and a view of a pooled Buffer 0.4 us (its ArrayBuffer has to be made).
   */
  newBytes(n: number): Uint8Array;
  /**
   * The command that runs this program again with `args`, as the executable and its
   * arguments: the runtime on this script (with what it needs to run it), or a compiled
   * binary on its own.
   */
  selfCommand(args: readonly string[]): [string, string[]];
}
