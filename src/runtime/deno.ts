/**
 * The Deno implementation of the transport contract in `types.ts`, over Deno.listen and
 * Deno.connect with manual read/write loops (measured 3× cheaper than `pipeTo`, and Web
 * Streams on Deno cannot half-close).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import net from "node:net";
import process from "node:process";
import tls from "node:tls";
import { normalizeMapped } from "../net/ip.ts";
import type {
  AcceptErrorHandler,
  AcceptHandler,
  Addr,
  Conn,
  ConnectOptions,
  ConnHandlers,
  FetchHandler,
  HttpServer,
  Listener,
  ListenOptions,
  Runtime,
} from "./types.ts";
import { adoptNodeSocket, wrapStreamSocket } from "./node_socket.ts";
import { connectWithTimeout, timeoutError } from "./timeout.ts";

/** A pending read pins its buffer, so idle connections hold only this much. */
const FIRST_READ = 4096;
/** Reads that fill the buffer double it up to this size, for bulk transfers. */
const MAX_READ = 65536;
/** Marks an end of stream held back while paused. */
const EOF = -1;

function toAddr(a: Deno.Addr): Addr {
  const na = a as Deno.NetAddr;
  const host = normalizeMapped(na.hostname);
  return { host, port: na.port, family: host.includes(":") ? 6 : 4 };
}

class DenoConn implements Conn {
  readonly local: Addr;
  readonly remote: Addr;
  #conn: Deno.TcpConn;
  #h: ConnHandlers | null = null;
  #buf: Uint8Array | null = null;
  #paused = false;
  #reading = false;
  /** A read that completed while paused (reads cannot be cancelled), delivered on resume. */
  #pending = 0;
  #eof = false;
  #closed = false;
  #released = false;
  #queue: Uint8Array[] = [];
  #writing = false;
  #endPending = false;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    // Accepted sockets come without TCP_NODELAY: a response written as head then body would
    // wait out the peer's delayed ACK (~40 ms) under Nagle.
    conn.setNoDelay(true);
    this.local = toAddr(conn.localAddr);
    this.remote = toAddr(conn.remoteAddr);
  }

  start(handlers: ConnHandlers): void {
    this.#h = handlers;
    if (!this.#paused) this.#read();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    // Deliver on a microtask so that resume() called from a drain handler cannot re-enter it.
    if (this.#h && !this.#reading) queueMicrotask(() => this.#read());
  }

  async #read(): Promise<void> {
    if (this.#reading || this.#closed || this.#eof) return;
    this.#reading = true;
    try {
      while (!this.#paused && !this.#closed) {
        let n: number | null;
        let buf = this.#buf;
        if (this.#pending !== 0) {
          n = this.#pending === EOF ? null : this.#pending;
          this.#pending = 0;
        } else {
          if (buf === null) buf = this.#buf = new Uint8Array(FIRST_READ);
          n = await this.#conn.read(buf);
          if (this.#closed) return;
          if (this.#paused) {
            // The read was already under way when the owner paused: hold its result.
            this.#pending = n === null ? EOF : n;
            return;
          }
        }
        if (n === null) {
          this.#eof = true;
          this.#buf = null;
          this.#h!.end();
          return;
        }
        this.#h!.data(buf!.subarray(0, n));
        // A full read means more is waiting: grow. The old buffer may still be queued in a
        // write elsewhere, so it is replaced, never resized in place.
        if (n === buf!.length && n < MAX_READ) this.#buf = new Uint8Array(n * 2);
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#reading = false;
    }
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed) return true;
    this.#queue.push(chunk);
    if (!this.#writing) this.#flush();
    return false;
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        let c = this.#queue[0];
        while (c.length > 0) {
          const n = await this.#conn.write(c);
          if (this.#closed) return;
          c = c.subarray(n);
        }
        this.#queue.shift();
      }
      if (this.#endPending) {
        this.#endPending = false;
        // Both directions are done once the peer's FIN was read: closing sends the same FIN
        // as the async shutdown op would, and the owner's close() comes next anyway.
        if (this.#eof) this.#release();
        else await this.#conn.closeWrite();
      }
      this.#writing = false;
      if (!this.#closed) this.#h?.drain();
    } catch (err) {
      this.#writing = false;
      this.#fail(err);
    }
  }

  end(): void {
    if (this.#closed) return;
    this.#endPending = true;
    if (!this.#writing) this.#flush();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#buf = null;
    this.#release();
  }

  /** Closes the socket once, whether end() (after the peer's FIN) or close() got there first. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime after an error: nothing left to release.
    }
  }

  #fail(err: unknown): void {
    if (this.#closed) return;
    const h = this.#h;
    this.close();
    h?.error(err instanceof Error ? err : new Error(String(err)));
  }
}

class DenoListener implements Listener {
  readonly addr: Addr;
  #l: Deno.TcpListener;
  #closed = false;

  constructor(l: Deno.TcpListener) {
    this.#l = l;
    this.addr = toAddr(l.addr);
  }

  async run(onConn: AcceptHandler, onError: AcceptErrorHandler): Promise<void> {
    let backoff = 0;
    while (!this.#closed) {
      let c: Deno.TcpConn;
      try {
        c = await this.#l.accept();
        backoff = 0;
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        // A peer that connected and left before accept() finished: nothing to report.
        if (
          err instanceof Deno.errors.NotConnected || err instanceof Deno.errors.ConnectionAborted ||
          err instanceof Deno.errors.ConnectionReset
        ) continue;
        onError(err as Error);
        // EMFILE and friends: accepting again at once would spin; wait for fds to free up.
        backoff = Math.min(backoff * 2 || 10, 1000);
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      onConn(new DenoConn(c));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#l.close();
    } catch {
      // Closing twice is harmless.
    }
  }
}

/**
 * Deno's node:tls `TLSSocket._start` (run from a nextTick) calls `this._handle.start()` and
 * then reads `this._handle._flushEncOut`. A ClientHello that start() rejects destroys the
 * socket synchronously, nulling `_handle`, and the second read throws an uncaught TypeError
 * that kills the process (found by the network fuzzer, Deno 2.9.6). The socket is already
 * destroyed and its error emitted by then, so that one case is swallowed.
 */
function guardTlsStart(): void {
  type Wrapped = { _handle: unknown; _start(): void };
  const proto = tls.TLSSocket.prototype as unknown as Wrapped;
  const start = proto._start;
  proto._start = function (this: Wrapped) {
    try {
      start.call(this);
    } catch (err) {
      if (this._handle !== null) throw err;
    }
  };
}
guardTlsStart();

/** The Deno runtime adapter. */
export const denoRuntime: Runtime = {
  name: "deno",
  version: `deno ${Deno.version.deno}`,

  listen(opts: ListenOptions, onConn: AcceptHandler, onError: AcceptErrorHandler) {
    if (opts.fd !== undefined) return listenFd(opts.fd, onConn, onError);
    const l = Deno.listen({
      hostname: opts.host === "" ? "::" : opts.host,
      port: opts.port,
      reusePort: opts.reusePort,
    });
    const dl = new DenoListener(l);
    dl.run(onConn, onError);
    return Promise.resolve(dl);
  },

  connect(opts: ConnectOptions): Promise<Conn> {
    const ac = new AbortController();
    return connectWithTimeout(
      Deno.connect({ hostname: opts.host, port: opts.port, signal: ac.signal }).then((c) =>
        new DenoConn(c) as Conn
      ),
      opts,
      () => ac.abort(timeoutError(opts)),
    );
  },

  adopt(fd: number): Promise<Conn> {
    return adoptNodeSocket(new net.Socket({ fd, allowHalfOpen: true }));
  },

  serveHttp(opts, handler: FetchHandler): Promise<HttpServer> {
    return new Promise((resolve) => {
      const server = Deno.serve({
        hostname: opts.host === "" ? "::" : opts.host,
        port: opts.port,
        onListen: () => {},
      }, handler);
      resolve({ addr: toAddr(server.addr), close: () => server.shutdown() });
    });
  },

  wrapStream: wrapStreamSocket,

  argv: () => [...Deno.args],
  newBytes: (n) => {
    const b = Buffer.allocUnsafe(n);
    return new Uint8Array(b.buffer, b.byteOffset, n);
  },

  selfCommand(args: readonly string[]): [string, string[]] {
    // `deno compile`: the binary runs its embedded program on its own.
    if (Deno.build.standalone === true) return [process.execPath, [...args]];
    // Deno.listen's reusePort is behind --unstable-net (deno.json asks for it too, which also
    // covers `deno compile`). Deno finds deno.json from the working directory, which a worker
    // shares with its supervisor.
    return [process.execPath, ["run", "-A", "--unstable-net", process.argv[1] ?? "", ...args]];
  },
};

/** Adopts a listening socket made through FFI; node:net is the only fd-taking API Deno has. */
function listenFd(fd: number, onConn: AcceptHandler, onError: AcceptErrorHandler) {
  return new Promise<Listener>((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
      adoptNodeSocket(s).then(onConn, onError);
    });
    server.on("error", (err) => onError(err));
    server.listen({ fd }, () => {
      const a = server.address() as net.AddressInfo;
      const host = normalizeMapped(a.address);
      resolve({
        addr: { host, port: a.port, family: host.includes(":") ? 6 : 4 },
        close: () => server.close(),
      });
    });
    server.once("error", reject);
  });
}
