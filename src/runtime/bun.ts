/// <reference path="./bun_globals.d.ts" />
/**
 * The Bun implementation of the transport contract in `types.ts`, over Bun.listen and
 * Bun.connect callbacks (measured the cheapest Bun socket API: ~5 KiB per idle connection).
 *
 * Bun's `write()` returns how much the kernel took and keeps nothing, so the rest is queued
 * here (Bun hands every `data` event a fresh buffer, so queuing a view needs no copy) and
 * flushed on `drain`. Half-close needs `allowHalfOpen` on both listen and connect.
 *
 * @module
 */

import process from "node:process";
import { formatIp, normalizeMapped, parseIp } from "../net/ip.ts";
import { wrapStreamSocket } from "./node_socket.ts";
import { connectWithTimeout } from "./timeout.ts";
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

type Sock = Bun.Socket<BunConn | undefined>;

/** How much a socket may read before start() before it is paused. */
const EARLY_MAX = 65536;

function addr(host: string | undefined, port: number | undefined): Addr {
  const h = normalizeMapped(host ?? "");
  return { host: h, port: port ?? 0, family: h.includes(":") ? 6 : 4 };
}

/**
 * The address every socket accepted by a listener on `host` and `port` has: for an IP literal
 * other than 0.0.0.0 and ::, in the spelling getsockname's would have; else null.
 */
function boundAddr(host: string, port: number): Addr | null {
  const ip = parseIp(host);
  if (ip === null || ip.bytes.every((b) => b === 0)) return null;
  return addr(formatIp(ip.bytes), port);
}

/** BunConn's state bits. */
const F = {
  /** end() waits for the queue to drain. */
  END_PENDING: 1,
  /** Our FIN was sent (shutdown, or end() once the peer's FIN came). */
  SHUT: 2,
  /** The peer's FIN was delivered to the owner. */
  EOF: 4,
  CLOSED: 8,
  /** Paused by the owner. */
  PAUSED: 16,
  /** The peer's FIN came while paused. */
  END_HELD: 32,
  /** The native socket is paused (by the owner, or for holding EARLY_MAX). */
  SOCK_PAUSED: 64,
} as const;

class BunConn implements Conn {
  #remote: Addr | null;
  #local: Addr | null;
  #s: Sock;
  #h: ConnHandlers | null = null;
  /** What Bun's write() did not take, in order; null while nothing waits. */
  #queue: Uint8Array[] | null = null;
  /**
   * The state bits (F): one field rather than seven booleans, because an idle proxied
   * connection holds two of these objects and #19 counts its bytes (measured in JSC: 235
   * bytes per object with seven booleans and an eager queue array, 123 with neither).
   */
  #f = 0;
  /**
   * Data that came before start(): a client whose request arrives while its backend is being
   * dialed, a server that speaks first. The socket is paused only past EARLY_MAX, not for every
   * new socket: each pause or resume is an epoll_ctl.
   */
  #early: Uint8Array[] | null = null;
  #earlyBytes = 0;

  /**
   * Each of Bun's address getters is a getsockname/getpeername syscall, and after the
   * socket closed they answer nothing, so an accepted socket's addresses are read at once
   * (every owner logs them), `local` only when the listener's address does not say it (a
   * wildcard or adopted socket). A dialed socket's are read on first use: only TLS
   * origination asks, while the socket is open.
   */
  constructor(s: Sock, accepted: boolean, local: Addr | null) {
    this.#s = s;
    s.data = this;
    this.#local = accepted ? local ?? addr(s.localAddress, s.localPort) : null;
    this.#remote = accepted ? addr(s.remoteAddress, s.remotePort) : null;
  }

  #has(flag: number): boolean {
    return (this.#f & flag) !== 0;
  }

  #set(flag: number): void {
    this.#f |= flag;
  }

  #clear(flag: number): void {
    this.#f &= ~flag;
  }

  get remote(): Addr {
    return this.#remote ??= addr(this.#s.remoteAddress, this.#s.remotePort);
  }

  get local(): Addr {
    return this.#local ??= addr(this.#s.localAddress, this.#s.localPort);
  }

  start(h: ConnHandlers): void {
    this.#h = h;
    if (this.#has(F.PAUSED) || this.#has(F.CLOSED)) return;
    if (this.#early !== null) queueMicrotask(() => this.#flushEarly());
    else this.#deliverHeldEnd();
  }

  pause(): void {
    if (this.#has(F.PAUSED)) return;
    this.#set(F.PAUSED);
    this.#pauseSocket(true);
  }

  resume(): void {
    if (!this.#has(F.PAUSED)) return;
    this.#clear(F.PAUSED);
    if (this.#has(F.CLOSED) || this.#h === null) return;
    if (this.#early !== null) {
      queueMicrotask(() => this.#flushEarly());
      return;
    }
    this.#pauseSocket(false);
    this.#deliverHeldEnd();
  }

  /** A no-op in the state it asks for: each native call is an epoll_ctl. */
  #pauseSocket(paused: boolean): void {
    if (this.#has(F.SOCK_PAUSED) === paused || this.#has(F.CLOSED)) return;
    if (paused) {
      this.#set(F.SOCK_PAUSED);
      this.#s.pause();
    } else {
      this.#clear(F.SOCK_PAUSED);
      this.#s.resume();
    }
  }

  /** Hands the data held before start() to the owner, then reads on. */
  #flushEarly(): void {
    const early = this.#early;
    if (early === null || this.#has(F.PAUSED) || this.#has(F.CLOSED) || this.#h === null) return;
    while (early.length > 0) {
      const chunk = early.shift()!;
      this.#earlyBytes -= chunk.length;
      this.#h.data(chunk);
      if (this.#has(F.PAUSED) || this.#has(F.CLOSED)) return;
    }
    this.#early = null;
    this.#pauseSocket(false);
    this.#deliverHeldEnd();
  }

  /** A FIN that arrived while paused is delivered now, after any data before it. */
  #deliverHeldEnd(): void {
    if (!this.#has(F.END_HELD)) return;
    this.#clear(F.END_HELD);
    queueMicrotask(() => this.onEnd());
  }

  write(chunk: Uint8Array): boolean {
    if (this.#has(F.CLOSED)) return true;
    if (this.#queue !== null) {
      this.#queue.push(chunk);
      return false;
    }
    const n = this.#s.write(chunk);
    if (n === chunk.length) return true;
    this.#queue = [n > 0 ? chunk.subarray(n) : chunk];
    return false;
  }

  end(): void {
    if (this.#has(F.CLOSED) || this.#has(F.SHUT)) return;
    if (this.#queue !== null) this.#set(F.END_PENDING);
    else this.#shutdown();
  }

  close(): void {
    if (this.#has(F.CLOSED)) return;
    this.#set(F.CLOSED);
    // After our FIN went out, end() lets the kernel deliver what it still buffers; otherwise
    // this is an abort and terminate() releases the socket at once.
    const graceful = this.#has(F.SHUT) && this.#queue === null;
    this.#queue = null;
    if (graceful) this.#s.end();
    else this.#s.terminate();
  }

  #shutdown(): void {
    this.#set(F.SHUT);
    // Both directions are done once the peer's FIN was read: end() closes the socket, which
    // sends the same FIN as shutdown() would, one syscall before the owner's close().
    if (this.#has(F.EOF)) this.#s.end();
    else this.#s.shutdown();
  }

  onData(chunk: Uint8Array): void {
    if (this.#has(F.CLOSED)) return;
    if (this.#h === null || this.#early !== null) {
      (this.#early ??= []).push(chunk);
      this.#earlyBytes += chunk.length;
      if (this.#earlyBytes > EARLY_MAX) this.#pauseSocket(true);
      return;
    }
    this.#h.data(chunk);
  }

  onDrain(): void {
    const q = this.#queue;
    while (q !== null && q.length > 0 && !this.#has(F.CLOSED)) {
      const c = q[0];
      const n = this.#s.write(c);
      if (n < c.length) {
        if (n > 0) q[0] = c.subarray(n);
        return;
      }
      q.shift();
    }
    if (this.#has(F.CLOSED)) return;
    this.#queue = null;
    if (this.#has(F.END_PENDING)) {
      this.#clear(F.END_PENDING);
      this.#shutdown();
    }
    this.#h?.drain();
  }

  /** `force`: the socket is gone, so nothing can come before the end: deliver it now. */
  onEnd(force = false): void {
    if (this.#has(F.EOF) || this.#has(F.CLOSED)) return;
    // Like data, the end of the stream waits for resume() (Bun reports it while paused).
    if (!force && (this.#has(F.PAUSED) || this.#h === null || this.#early !== null)) {
      this.#set(F.END_HELD);
      return;
    }
    this.#set(F.EOF);
    this.#h?.end();
  }

  onClose(err?: Error): void {
    if (this.#has(F.CLOSED)) return;
    // Bun reports a FIN that arrives after our own shutdown as close, not end.
    if (!err) this.onEnd(true);
    if (this.#has(F.CLOSED)) return;
    const h = this.#h;
    const unsent = !this.#has(F.SHUT) || this.#queue !== null;
    this.#set(F.CLOSED);
    this.#queue = null;
    // A socket that closes while our side still had bytes (or a FIN) to send was reset, even
    // when Bun passes no error.
    if (err || unsent) {
      h?.error(err ?? new Error("connection closed by the peer before our data was sent"));
    }
  }
}

const handlers = {
  data(s: Sock, chunk: Uint8Array) {
    s.data?.onData(chunk);
  },
  drain(s: Sock) {
    s.data?.onDrain();
  },
  end(s: Sock) {
    s.data?.onEnd();
  },
  close(s: Sock, err?: Error) {
    s.data?.onClose(err);
  },
  error(s: Sock, err: Error) {
    s.data?.onClose(err);
  },
};

/**
 * `local()`: the listener's address when every accepted socket has it (a specific IP bound
 * without IP_TRANSPARENT), else null.
 */
function listenHandlers(onConn: AcceptHandler, local: () => Addr | null) {
  return {
    ...handlers,
    open(s: Sock) {
      onConn(new BunConn(s, true, local()));
    },
  };
}

/** Bun.connect resolves after `open`; the conn is built there, before any data event. */
const connectHandlers = {
  ...handlers,
  open(s: Sock) {
    new BunConn(s, false, null);
  },
  connectError(_s: Sock, _err: Error) {
    // The Bun.connect promise rejects with the same error; nothing else to release.
  },
};

class BunListener implements Listener {
  readonly addr: Addr;
  #l: Bun.TCPSocketListener<BunConn | undefined>;
  /** `adopted`: the address of a socket made elsewhere (Bun reports none for `fd`). */
  constructor(l: Bun.TCPSocketListener<BunConn | undefined>, adopted?: Addr) {
    this.#l = l;
    this.addr = adopted ?? addr(l.hostname, l.port);
  }
  close(): void {
    // false: stop accepting, leave accepted connections running.
    this.#l.stop(false);
  }
}

/** The Bun runtime adapter. */
export const bunRuntime: Runtime = {
  name: "bun",
  version: `bun ${Bun.version}`,

  listen(opts: ListenOptions, onConn: AcceptHandler, _onError: AcceptErrorHandler) {
    let local: Addr | null = null;
    const socket = listenHandlers(onConn, () => local);
    if (opts.fd !== undefined) {
      // An adopted socket may be IP_TRANSPARENT: each accepted socket has its own address.
      const l: Bun.TCPSocketListener<BunConn | undefined> = Bun.listen(
        // deno-lint-ignore no-explicit-any
        { fd: opts.fd, socket, allowHalfOpen: true } as any,
      );
      return Promise.resolve(new BunListener(l, addr(opts.host, opts.port)));
    }
    const l = Bun.listen<BunConn | undefined>({
      hostname: opts.host === "" ? "::" : opts.host,
      port: opts.port,
      reusePort: opts.reusePort,
      allowHalfOpen: true,
      socket,
    });
    const listener = new BunListener(l);
    local = boundAddr(opts.host, listener.addr.port);
    return Promise.resolve(listener);
  },

  connect(opts: ConnectOptions): Promise<Conn> {
    const pending = Bun.connect<BunConn | undefined>({
      hostname: opts.host,
      port: opts.port,
      allowHalfOpen: true,
      socket: connectHandlers,
    }).then((s) => s.data as Conn);
    return connectWithTimeout(pending, opts, () => {});
  },

  async adopt(fd: number): Promise<Conn> {
    // Only hand over a socket whose connect() has completed: Bun loses the first write
    // on a socket still connecting (measured).
    // deno-lint-ignore no-explicit-any
    const s = await Bun.connect({ fd, allowHalfOpen: true, socket: connectHandlers } as any);
    return (s as Sock).data as Conn;
  },

  serveHttp(opts, handler: FetchHandler): Promise<HttpServer> {
    const server = Bun.serve({
      hostname: opts.host === "" ? "::" : opts.host,
      port: opts.port,
      fetch: handler,
    });
    return Promise.resolve({
      addr: addr(server.hostname, server.port),
      close: () => server.stop(true),
    });
  },

  wrapStream: wrapStreamSocket,

  argv: () => process.argv.slice(2),
  newBytes: (n) => new Uint8Array(n),

  selfCommand(args: readonly string[]): [string, string[]] {
    const script = process.argv[1] ?? "";
    // A `bun build --compile` binary runs its script from the embedded /$bunfs/ tree.
    const compiled = script.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(script);
    return compiled ? [process.execPath, [...args]] : [process.execPath, [script, ...args]];
  },
};
