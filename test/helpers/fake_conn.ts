/**
 * In-process doubles for the transport seam (`Conn` in src/runtime/types.ts), in the spirit of
 * tokio_test::io::Builder: a {@link FakeConn} is the far end of one connection, scripted by the
 * test (bytes, FIN, errors, drains pushed in), which records everything the code under test did
 * to it (every write, end, close, pause and resume, in order). A {@link ConnectStub} stands in
 * for `Runtime.connect` and hands out a FakeConn per connect; {@link listenerContext} builds a
 * ListenerContext the way src/proxy/instance.ts does, over the real runtime with only its
 * connect replaced.
 *
 * The fake calls the handlers as the adapters do (see the invariants in types.ts): nothing
 * before `start()` or after the owner's `close()`; no `data` or `end` while paused (held, then
 * delivered in order on a microtask after `resume()`, as DenoConn does, so that a `resume()`
 * made inside a handler cannot re-enter it); `end` once; `error` at most once, after which the
 * connection is dead; `drain` only when a write returned false or an end() waited behind one.
 * Bytes pushed while the owner reads are delivered synchronously, one `data` call per push.
 *
 * Waiting is on events, never on time: {@link until} re-checks its condition after every
 * recorded action of every fake (and every access record of a {@link RecordingLogger}); its
 * deadline only turns a hang into a failure that says what was awaited.
 *
 * @module
 */

import { Challenges } from "../../src/acme/challenges.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Logger } from "../../src/log/logger.ts";
import type { AccessRecord } from "../../src/log/logger.ts";
import { CidrSet } from "../../src/net/cidr.ts";
import { Balancer } from "../../src/proxy/balancer.ts";
import { type ListenerContext, newCounters, type Services } from "../../src/proxy/context.ts";
import { compileRouter } from "../../src/route/router.ts";
import { runtime } from "../../src/runtime/mod.ts";
import type { Addr, Conn, ConnectOptions, ConnHandlers, Runtime } from "../../src/runtime/types.ts";

// ---- waiting on events ------------------------------------------------------------------------

const waiters = new Set<() => void>();

/** Re-checks every pending {@link until}; called on every recorded action. */
export function wake(): void {
  for (const w of [...waiters]) w();
}

/** How long {@link until} waits before failing (a hang is a failure, not a timeout of the run). */
export const UNTIL_DEADLINE_MS = 5000;

/**
 * Resolves once `cond()` holds, re-checked after every action any fake records. Rejects with
 * `what` (and `detail()`, for the state seen) if it does not hold within the deadline.
 */
export function until(cond: () => boolean, what: string, detail?: () => string): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cond()) return;
      waiters.delete(check);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`still waiting for: ${what}${detail ? `\n${detail()}` : ""}`));
    }, UNTIL_DEADLINE_MS);
    waiters.add(check);
  });
}

/** Lets every microtask and promise callback queued so far run (one macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

// ---- bytes ----------------------------------------------------------------------------------

/** The bytes of `s`, one byte per character (as {@link latin1} reads them back). */
export function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`bytes(): character ${c} at ${i} is not one byte`);
    out[i] = c;
  }
  return out;
}

/** `b` as text, one character per byte (never fails on binary). */
export function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode(...b.subarray(i, i + 8192));
  }
  return s;
}

/** `parts` joined into one array. */
export function join(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- the fake connection ---------------------------------------------------------------------

/** A client's address, as an accepted connection reports it. */
export const CLIENT: Addr = { host: "192.0.2.10", port: 40000, family: 4 };
/** The router's address, as an accepted connection reports it. */
export const ROUTER: Addr = { host: "192.0.2.1", port: 8080, family: 4 };

type Inbound = { kind: "data"; chunk: Uint8Array } | { kind: "end" };

/** Options for a {@link FakeConn}. */
export interface FakeConnOptions {
  /** For messages ("client", "backend#0"). */
  readonly name?: string;
  readonly remote?: Addr;
  readonly local?: Addr;
}

/**
 * One connection as seen from its far end: the test plays the peer (and the kernel: it says
 * when writes drain); the code under test owns it through the `Conn` interface.
 */
export class FakeConn implements Conn {
  readonly name: string;
  readonly remote: Addr;
  readonly local: Addr;

  // -- what the owner did --
  /** Every write(), in order, each copied when it was made. */
  readonly writes: Uint8Array[] = [];
  /** Every call the owner made, in order: "start", "pause", "resume", "write N", "end", "close". */
  readonly calls: string[] = [];
  /** The handlers given to the latest start(), null before. */
  handlers: ConnHandlers | null = null;
  startCalls = 0;
  pauseCalls = 0;
  resumeCalls = 0;
  endCalls = 0;
  closeCalls = 0;
  /** Writes made after the connection was closed or had failed (the adapters drop them). */
  writesAfterClose = 0;
  /** The owner stopped reading (pause() and no resume() since). */
  paused = false;

  // -- the peer's script --
  /**
   * While true, every write() returns false: part of it stays "queued" until {@link drain}.
   * A write made while something is queued returns false too, as in the adapters.
   */
  backpressure = false;
  #queued = false;
  #finPending = false;
  /** The owner's FIN has gone out (end() with nothing queued, or the drain after it). */
  finSent = false;
  #inbox: Inbound[] = [];
  #heldError: Error | null = null;
  #flushScheduled = false;
  /** The peer's FIN was delivered to the owner. */
  endDelivered = false;
  /** An error was delivered (the connection is dead). */
  failed = false;
  #dead = false;

  constructor(opts: FakeConnOptions = {}) {
    this.name = opts.name ?? "conn";
    this.remote = opts.remote ?? CLIENT;
    this.local = opts.local ?? ROUTER;
  }

  // ---- Conn (called by the code under test) ----

  start(h: ConnHandlers): void {
    this.startCalls++;
    this.#note("start");
    this.handlers = h;
    if (this.#dead) return;
    if (this.#heldError !== null) {
      const err = this.#heldError;
      this.#heldError = null;
      queueMicrotask(() => this.#deliverError(err));
      return;
    }
    this.#scheduleFlush();
  }

  pause(): void {
    this.pauseCalls++;
    this.paused = true;
    this.#note("pause");
  }

  resume(): void {
    this.resumeCalls++;
    this.paused = false;
    this.#note("resume");
    this.#scheduleFlush();
  }

  write(chunk: Uint8Array): boolean {
    if (this.#dead) {
      this.writesAfterClose++;
      this.#note(`write ${chunk.length} after close`);
      return true;
    }
    this.writes.push(chunk.slice());
    this.#note(`write ${chunk.length}`);
    if (this.backpressure || this.#queued) {
      this.#queued = true;
      return false;
    }
    return true;
  }

  end(): void {
    this.endCalls++;
    this.#note("end");
    if (this.#dead || this.finSent || this.#finPending) return;
    if (this.#queued) this.#finPending = true;
    else this.finSent = true;
  }

  close(): void {
    this.closeCalls++;
    this.#note("close");
    this.#dead = true;
    this.#inbox.length = 0;
    this.#queued = false;
    this.#finPending = false;
  }

  // ---- the peer (called by the test) ----

  /** The peer sends `data` (one read on the owner's side). */
  push(data: Uint8Array | string): this {
    if (this.#inbox.some((m) => m.kind === "end") || this.endDelivered) {
      throw new Error(`${this.name}: push after the peer's FIN`);
    }
    const chunk = typeof data === "string" ? bytes(data) : data;
    this.#inbox.push({ kind: "data", chunk });
    this.#flush();
    return this;
  }

  /** The peer sends FIN (after whatever it pushed before). */
  pushEnd(): this {
    if (this.#inbox.some((m) => m.kind === "end") || this.endDelivered) {
      throw new Error(`${this.name}: a second FIN from the peer`);
    }
    this.#inbox.push({ kind: "end" });
    this.#flush();
    return this;
  }

  /** The connection fails (a reset): `error` fires once and the connection is dead. */
  fail(err: Error | string = "connection reset by peer"): this {
    const e = typeof err === "string" ? Object.assign(new Error(err), { code: "ECONNRESET" }) : err;
    if (this.#dead) return this;
    if (this.handlers === null) this.#heldError = e;
    else this.#deliverError(e);
    return this;
  }

  /** The kernel took everything queued: fires `drain` (the FIN an end() held goes out first). */
  drain(): this {
    if (!this.#queued && !this.#finPending) {
      throw new Error(`${this.name}: drain with nothing queued (no write returned false)`);
    }
    this.#queued = false;
    if (this.#finPending) {
      this.#finPending = false;
      this.finSent = true;
    }
    this.#note("(drained)");
    if (!this.#dead) this.handlers?.drain();
    return this;
  }

  // ---- what the test reads ----

  /** A write returned false (or an end() waits behind one) and has not drained. */
  get blocked(): boolean {
    return this.#queued || this.#finPending;
  }

  /** Everything written, as one byte string. */
  get written(): Uint8Array {
    return join(this.writes);
  }

  /** Everything written, as text (one character per byte). */
  get text(): string {
    return latin1(this.written);
  }

  /** The owner called end() (half-close). */
  get ended(): boolean {
    return this.endCalls > 0;
  }

  /** The owner called close(). */
  get closed(): boolean {
    return this.closeCalls > 0;
  }

  /** Bytes pushed that the owner has not been handed yet (paused, or before start). */
  get unread(): number {
    let n = 0;
    for (const m of this.#inbox) if (m.kind === "data") n += m.chunk.length;
    return n;
  }

  /** A one-line summary for failure messages. */
  describe(): string {
    return `${this.name}: calls [${this.calls.join(", ")}], written ${
      JSON.stringify(this.text.slice(0, 400))
    }`;
  }

  // ---- delivery ----

  #note(call: string): void {
    this.calls.push(call);
    wake();
  }

  #readable(): boolean {
    return !this.#dead && !this.paused && this.handlers !== null;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#inbox.length === 0) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#inbox.length > 0 && this.#readable()) {
      const m = this.#inbox.shift()!;
      if (m.kind === "data") {
        this.handlers!.data(m.chunk);
      } else {
        this.endDelivered = true;
        this.handlers!.end();
      }
      wake();
    }
  }

  #deliverError(err: Error): void {
    if (this.#dead) return;
    // As DenoConn#fail: the connection is dead before its owner hears of it.
    this.#dead = true;
    this.failed = true;
    this.#inbox.length = 0;
    this.handlers?.error(err);
    wake();
  }
}

// ---- the connect stub --------------------------------------------------------------------------

/** One call of the stubbed connect. */
export interface ConnectAttempt {
  readonly opts: ConnectOptions;
  /** The connection it gave (once accepted). */
  conn: FakeConn | null;
  /** The error it failed with (once refused). */
  error: Error | null;
  /** Completes a held attempt with a fresh FakeConn (or `conn`). */
  accept(conn?: FakeConn): FakeConn;
  /** Fails a held attempt. */
  refuse(err: Error): void;
}

/** How a connect is answered: at once with a new connection, with an error, or when the test says. */
export type ConnectAnswer = "accept" | "hold" | Error;

/** An Error as both runtimes report a refused connect. */
export function refused(): Error {
  return Object.assign(new Error("Connection refused"), { code: "ECONNREFUSED" });
}

/** Stands in for `Runtime.connect`: every connect is recorded and answered as `answer` says. */
export class ConnectStub {
  readonly attempts: ConnectAttempt[] = [];
  /** Decides each attempt (`n` counts from 0). Default: accept at once. */
  answer: (opts: ConnectOptions, n: number) => ConnectAnswer = () => "accept";

  readonly connect = (opts: ConnectOptions): Promise<Conn> => {
    const n = this.attempts.length;
    return new Promise<Conn>((resolve, reject) => {
      let settled = false;
      const attempt: ConnectAttempt = {
        opts,
        conn: null,
        error: null,
        accept: (conn?: FakeConn) => {
          if (settled) throw new Error(`connect #${n} already settled`);
          settled = true;
          const c = conn ?? new FakeConn({
            name: `backend#${n}`,
            remote: { host: opts.host, port: opts.port, family: opts.host.includes(":") ? 6 : 4 },
            local: { host: "127.0.0.1", port: 50000 + n, family: 4 },
          });
          attempt.conn = c;
          resolve(c);
          wake();
          return c;
        },
        refuse: (err: Error) => {
          if (settled) throw new Error(`connect #${n} already settled`);
          settled = true;
          attempt.error = err;
          reject(err);
          wake();
        },
      };
      this.attempts.push(attempt);
      const a = this.answer(opts, n);
      if (a === "accept") attempt.accept();
      else if (a instanceof Error) attempt.refuse(a);
      else wake();
    });
  };

  /** The real runtime of this process with only `connect` replaced by this stub. */
  runtime(base: Runtime = runtime): Runtime {
    return Object.assign(Object.create(base) as Runtime, { connect: this.connect });
  }

  /** Attempt `n` (from 0), once it has been made. */
  async attempt(n: number): Promise<ConnectAttempt> {
    await until(() => this.attempts.length > n, `connect #${n}`);
    return this.attempts[n];
  }

  /** The connection of attempt `n`, once accepted. */
  async conn(n: number): Promise<FakeConn> {
    await until(() => this.attempts[n]?.conn != null, `connect #${n} accepted`);
    return this.attempts[n].conn!;
  }
}

// ---- a listener context ----------------------------------------------------------------------

/** A Logger that keeps access records (and events) in memory instead of printing them. */
export class RecordingLogger extends Logger {
  readonly records: AccessRecord[] = [];
  readonly events: { level: string; msg: string; fields: Record<string, unknown> }[] = [];

  constructor() {
    super("json", {}, () => {}, () => {});
  }

  override access(rec: AccessRecord): void {
    this.records.push(rec);
    wake();
  }

  override event(
    level: "info" | "warn" | "error",
    msg: string,
    fields: Record<string, unknown> = {},
  ): void {
    this.events.push({ level, msg, fields });
    wake();
  }
}

/** A listener context for in-process sessions, and the doubles behind it. */
export interface TestContext {
  readonly ctx: ListenerContext;
  readonly log: RecordingLogger;
  readonly stub: ConnectStub;
  /** Makes Services.isDraining() answer true. */
  draining: boolean;
}

/**
 * Builds the context of `listener` from the YAML `config` as src/proxy/instance.ts does (a
 * Balancer per backend, the compiled router, fresh counters, accept_proxy's CIDR set), with
 * services over the real runtime whose connect is `stub`. No certificates, so no `terminate`.
 */
export function listenerContext(
  config: string,
  listener: string,
  stub: ConnectStub = new ConnectStub(),
): TestContext {
  const { config: c, problems } = parseConfig(config, "test.yaml");
  if (c === null) throw new Error(`test config: ${JSON.stringify(problems)}`);
  const l = c.listeners.get(listener);
  if (l === undefined) throw new Error(`test config has no listener "${listener}"`);
  const backends = new Map<string, Balancer>();
  for (const [name, b] of c.backends) backends.set(name, new Balancer(b));
  const log = new RecordingLogger();
  const t = { draining: false } as { draining: boolean };
  const services: Services = {
    rt: stub.runtime(),
    log,
    isLocal: () => false,
    isDraining: () => t.draining,
    challenges: new Challenges(),
  };
  const ctx: ListenerContext = {
    config: c,
    listener: l,
    router: compileRouter(l),
    backends,
    counters: newCounters(),
    services,
    proxyFrom: l.acceptProxy === null ? null : new CidrSet(l.acceptProxy.from),
    terminate: null,
  };
  return Object.assign(t, { ctx, log, stub });
}
