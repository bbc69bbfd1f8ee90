/**
 * The PROXY protocol step of a listener with `accept_proxy`, before any TLS/HTTP sniffing.
 *
 * A peer inside `accept_proxy.from` must start with a PROXY header (v1 or v2): its addresses
 * become the connection's client and destination for routing, logs, forwarded headers and
 * PROXY headers sent onward. A peer outside `from` must not send one. Either mistake closes
 * the connection: the spec forbids guessing.
 *
 * @module
 */

import type { Addr, Conn, ConnHandlers } from "../runtime/types.ts";
import { after } from "../runtime/clock.ts";
import { sniffProxyHeader } from "../proxy_protocol/decode.ts";
import type { ProxyHeader } from "../proxy_protocol/header.ts";
import { concat } from "../wire/bytes.ts";
import { SniffBuffer } from "./sniff_buffer.ts";

/** The `name` of the error a guarded session gets when its client sent a forbidden header. */
export const PROXY_REFUSED = "ProxyRefused";

/** A v2 header is at most 16 + 65535 bytes. */
const MAX_HEADER = 16 + 65535;

/** Why the step refused a connection. */
export interface ProxyRefusal {
  readonly outcome:
    | "proxy_missing"
    | "proxy_invalid"
    | "proxy_untrusted"
    | "inspect_timeout"
    | "client_closed";
  readonly reason: string;
}

/** A Conn that hands everything but the start of reading to the one it wraps. */
abstract class WrappedConn implements Conn {
  abstract readonly remote: Addr;
  abstract readonly local: Addr;
  constructor(protected readonly inner: Conn) {}
  abstract start(h: ConnHandlers): void;

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  write(chunk: Uint8Array): boolean {
    return this.inner.write(chunk);
  }

  end(): void {
    this.inner.end();
  }

  close(): void {
    this.inner.close();
  }
}

/**
 * A connection whose first bytes were read by this step: it reports the addresses of the
 * PROXY header (if any) and delivers the bytes read past the header before anything else.
 */
class PrefixedConn extends WrappedConn {
  #rest: Uint8Array | null;
  #h: ConnHandlers | null = null;
  #paused = false;

  constructor(inner: Conn, readonly remote: Addr, readonly local: Addr, rest: Uint8Array | null) {
    super(inner);
    this.#rest = rest !== null && rest.length > 0 ? rest : null;
  }

  start(h: ConnHandlers): void {
    this.#h = h;
    if (this.#rest === null) {
      this.inner.start(h);
      if (!this.#paused) this.inner.resume();
      return;
    }
    this.inner.pause();
    this.inner.start(h);
    queueMicrotask(() => this.#replay());
  }

  #replay(): void {
    if (this.#paused || this.#rest === null || this.#h === null) return;
    const rest = this.#rest;
    this.#rest = null;
    this.#h.data(rest);
    if (!this.#paused) this.inner.resume();
  }

  override pause(): void {
    this.#paused = true;
    this.inner.pause();
  }

  override resume(): void {
    this.#paused = false;
    if (this.#rest !== null) queueMicrotask(() => this.#replay());
    else this.inner.resume();
  }
}

function addrOf(a: { family: 4 | 6; address: string; port: number }): Addr {
  return { host: a.address, port: a.port, family: a.family };
}

/**
 * An untrusted connection, handed to its session at once (a silent SSH client must not wait
 * here): its first bytes are checked as they flow, and a PROXY signature fails it.
 */
class GuardedConn extends WrappedConn {
  readonly remote: Addr;
  readonly local: Addr;
  #held: SniffBuffer | null = new SniffBuffer(16, 16);
  #onRefuse: (r: ProxyRefusal) => void;

  constructor(inner: Conn, onRefuse: (r: ProxyRefusal) => void) {
    super(inner);
    this.remote = inner.remote;
    this.local = inner.local;
    this.#onRefuse = onRefuse;
  }

  start(h: ConnHandlers): void {
    if (this.#held === null) {
      this.inner.start(h);
      return;
    }
    this.inner.start({
      data: (chunk) => this.#check(h, chunk),
      end: () => {
        this.#release(h);
        h.end();
      },
      drain: () => h.drain(),
      error: (err) => h.error(err),
    });
  }

  #check(h: ConnHandlers, chunk: Uint8Array): void {
    const held = this.#held!;
    // A PROXY signature is decided within its first 12 bytes; more is never held.
    const room = held.cap - held.length;
    held.push(chunk.subarray(0, room));
    const r = sniffProxyHeader(held.bytes);
    if (r.kind === "no") {
      this.#release(h, chunk.subarray(room));
      return;
    }
    if (r.kind === "more" && chunk.length <= room) return;
    const reason = `PROXY header from ${this.remote.host}, which is not in accept_proxy.from`;
    this.#held = null;
    this.inner.end();
    this.inner.close();
    this.#onRefuse({ outcome: "proxy_untrusted", reason });
    const err = new Error(reason);
    // The refusal is already counted and logged: the session only has to let go.
    err.name = PROXY_REFUSED;
    h.error(err);
  }

  /** Ends the check: later events go straight to `h`; held bytes (and `more`) first. */
  #release(h: ConnHandlers, more?: Uint8Array): void {
    const held = this.#held;
    if (held === null) return;
    this.#held = null;
    this.inner.start(h);
    // One chunk: a session may stop reading after it, so nothing may follow in a second call.
    let first = held.bytes;
    if (more !== undefined && more.length > 0) first = concat([first, more]);
    if (first.length > 0) h.data(first);
  }
}

/** Wraps an untrusted connection so that a PROXY header from it is refused. */
export function guardUntrusted(conn: Conn, onRefuse: (r: ProxyRefusal) => void): Conn {
  return new GuardedConn(conn, onRefuse);
}

/** Whether `conn` is an untrusted connection still checked for a PROXY header. */
export function isGuarded(conn: Conn): boolean {
  return conn instanceof GuardedConn;
}

/**
 * Reads the PROXY header a trusted peer must send within `timeoutMs`. Calls `done` once, with
 * a Conn to hand to the session (paused, reporting the header's addresses, replaying the
 * bytes read past the header first) or with the refusal; on refusal `conn` is closed.
 */
export function readProxyHeader(
  conn: Conn,
  timeoutMs: number,
  done: (r: { conn: Conn; header: ProxyHeader } | ProxyRefusal) => void,
): void {
  const buf = new SniffBuffer(MAX_HEADER, 128);
  let finished = false;
  const finish = (r: { conn: Conn; header: ProxyHeader } | ProxyRefusal) => {
    if (finished) return;
    finished = true;
    deadline.cancel();
    if ("outcome" in r) {
      conn.end();
      conn.close();
    } else conn.pause();
    done(r);
  };
  // On the coarse clock: a setTimeout per connection costs more on Deno.
  const deadline = after(
    timeoutMs,
    () =>
      finish({
        outcome: "inspect_timeout",
        reason: `no complete PROXY header within ${timeoutMs} ms`,
      }),
  );
  conn.start({
    data(chunk) {
      // One read may hold the header and more payload than the header's cap: sniff what fits,
      // and keep the rest of the chunk for after the header.
      const room = buf.cap - buf.length;
      const over = chunk.subarray(room);
      buf.push(chunk.subarray(0, room));
      const r = sniffProxyHeader(buf.bytes);
      if (r.kind === "more") {
        if (over.length === 0) return;
        finish({
          outcome: "proxy_invalid",
          reason: `PROXY header longer than ${MAX_HEADER} bytes`,
        });
        return;
      }
      if (r.kind === "no") {
        finish({
          outcome: "proxy_missing",
          reason: "the connection did not start with a PROXY header",
        });
      } else if (r.kind === "invalid") {
        finish({ outcome: "proxy_invalid", reason: r.reason });
      } else {
        const h = r.value;
        // LOCAL, UNSPEC/UNKNOWN and AF_UNIX keep the real peer addresses.
        const proxied = h.command === "proxy" && h.source !== null && h.destination !== null;
        const remote = proxied ? addrOf(h.source!) : conn.remote;
        const local = proxied ? addrOf(h.destination!) : conn.local;
        const after = buf.bytes.subarray(r.length);
        const rest = over.length > 0 ? concat([after, over]) : after;
        finish({ conn: new PrefixedConn(conn, remote, local, rest), header: h });
      }
    },
    end() {
      finish({ outcome: "client_closed", reason: "closed before the PROXY header was complete" });
    },
    drain() {},
    error(err) {
      finish({ outcome: "client_closed", reason: err.message });
    },
  });
}
