/**
 * Forwards bytes both ways between two connections until both directions have ended, with
 * backpressure, half-close propagation and an idle timeout. A Pipe owns both connections
 * from the moment it starts: it alone closes them, and it reports its end exactly once.
 *
 * The data path neither copies nor allocates: a chunk read from one side is handed to the
 * other side's write() as is, and the reader is paused until that write drains.
 *
 * @module
 */

import type { Conn, ConnHandlers } from "../runtime/types.ts";
import { clock, unwatch, watch } from "../runtime/clock.ts";

/** Byte counters a pipe adds to as data flows (per listener, shared by its pipes). */
export interface ByteCounters {
  bytesIn: number;
  bytesOut: number;
}

/** How a pipe ended. */
export type PipeOutcome =
  | "ok"
  | "client_error"
  | "server_error"
  | "idle_timeout"
  | "aborted";

/** Called once when the pipe has closed both connections. */
export type PipeDone = (outcome: PipeOutcome, err: Error | null, pipe: Pipe) => void;

/** One direction's state. */
class Side implements ConnHandlers {
  /** Bytes read from `from`. */
  bytes = 0;
  eof = false;
  /** A write to `to` returned false and has not drained yet. */
  blocked = false;
  constructor(
    readonly pipe: Pipe,
    readonly from: Conn,
    readonly to: Conn,
    readonly counters: ByteCounters,
    readonly inbound: boolean,
  ) {}

  data(chunk: Uint8Array): void {
    const n = chunk.length;
    this.bytes += n;
    if (this.inbound) this.counters.bytesIn += n;
    else this.counters.bytesOut += n;
    this.pipe.last = clock.now;
    if (!this.to.write(chunk)) {
      this.blocked = true;
      this.from.pause();
    }
  }

  end(): void {
    this.eof = true;
    this.to.end();
    this.pipe.check();
  }

  /** The *other* side's writes into `from` drained: handled by the opposite Side. */
  drain(): void {
    const other = this.pipe.otherOf(this);
    if (other.blocked) {
      other.blocked = false;
      other.from.resume();
    }
    this.pipe.check();
  }

  error(err: Error): void {
    const other = this.pipe.otherOf(this);
    // A client that resets after the server's last byte and FIN reached its kernel lost
    // nothing (HTTPS clients commonly close without reading the final close_notify).
    if (this.inbound && other.eof && !other.blocked) this.pipe.fail("ok", null);
    else this.pipe.fail(this.inbound ? "client_error" : "server_error", err);
  }
}

/** A running bidirectional forward between a client and a server connection. */
export class Pipe {
  /** clock.now at the last byte in either direction. */
  last = clock.now;
  readonly up: Side;
  readonly down: Side;
  #done = false;
  #onDone: PipeDone;
  #idleMs: number;

  /**
   * Takes ownership of `client` and `server`. `head` (bytes already read from the client
   * while sniffing) is written to the server first.
   */
  constructor(
    client: Conn,
    server: Conn,
    head: Uint8Array | null,
    counters: ByteCounters,
    idleMs: number,
    onDone: PipeDone,
  ) {
    this.up = new Side(this, client, server, counters, true);
    this.down = new Side(this, server, client, counters, false);
    this.#onDone = onDone;
    this.#idleMs = idleMs;
    if (head !== null && head.length > 0) {
      this.up.bytes += head.length;
      counters.bytesIn += head.length;
      if (!server.write(head)) {
        this.up.blocked = true;
        client.pause();
      }
    }
    client.start(this.up);
    server.start(this.down);
    // The sniffing session paused the client; reading resumes now unless the head is still
    // waiting to drain (then the drain resumes it).
    if (!this.up.blocked) client.resume();
    watch(this);
  }

  otherOf(s: Side): Side {
    return s === this.up ? this.down : this.up;
  }

  /** Closes both sides once both directions ended and every write drained. */
  check(): void {
    const { up, down } = this;
    if (up.eof && down.eof && !up.blocked && !down.blocked) this.#finish("ok", null);
  }

  fail(outcome: PipeOutcome, err: Error | null): void {
    this.#finish(outcome, err);
  }

  /** Called by the clock's sweeper. */
  sweep(now: number): void {
    if (now - this.last > this.#idleMs) this.#finish("idle_timeout", null);
  }

  #finish(outcome: PipeOutcome, err: Error | null): void {
    if (this.#done) return;
    this.#done = true;
    unwatch(this);
    this.up.from.close();
    this.down.from.close();
    this.#onDone(outcome, err, this);
  }
}
