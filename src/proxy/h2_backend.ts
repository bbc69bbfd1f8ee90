/**
 * One HTTP/2 connection to a server of an `http2: true` backend, carrying the streams of one
 * client connection that go to that backend (so a transparent `source:` and PROXY headers still
 * speak for one client). It owns the backend socket and its H2ClientConnection; each stream's
 * owner (h2_session.ts) gets the response through a `BackendStreamOwner`.
 *
 * Chunks cross between the two connections as copies: a view into one socket's read buffer
 * cannot wait in the other connection's flow-control queue, and pausing a whole socket for one
 * stream would stall the others.
 *
 * @module
 */

import { H2ClientConnection } from "../h2/client_connection.ts";
import type { FieldList } from "../h2/connection.ts";
import { ERROR } from "../h2/frame.ts";
import type { ConnHandlers } from "../runtime/types.ts";
import type { Lease } from "./dial.ts";

/** What a stream on a backend connection reports to its owner. */
export interface BackendStreamOwner {
  response(fields: FieldList, endStream: boolean): void;
  /** Body bytes (a copy the owner keeps); call `consumed` once passed on. */
  body(chunk: Uint8Array, endStream: boolean): void;
  trailers(fields: FieldList): void;
  /** The stream ended abnormally; `refused`: the server did not process it (safe to retry). */
  reset(reason: string, refused: boolean): void;
  /** Request body queued for this stream went out: more may be read from the client. */
  writable(): void;
}

/** A multiplexed HTTP/2 connection to one backend server. */
export class H2BackendConn implements ConnHandlers {
  readonly #h2: H2ClientConnection;
  readonly #owners = new Map<number, BackendStreamOwner>();
  #closed = false;

  /** `gone` is called once when the connection can take no more streams and is closed. */
  constructor(readonly lease: Lease, readonly gone: (conn: H2BackendConn) => void) {
    this.#h2 = new H2ClientConnection({
      write: (bytes) => this.lease.conn.write(bytes),
      // An owner stays until it cancels (the session does once the exchange is over): a
      // response may end while the request body is still going up (RFC 9113 section 8.1).
      response: (id, fields, end) => this.#owners.get(id)?.response(fields, end),
      body: (id, chunk, end) => {
        const owner = this.#owners.get(id);
        if (owner === undefined) this.#h2.consumed(id, chunk.length);
        else owner.body(chunk.slice(), end);
      },
      trailers: (id, fields) => this.#owners.get(id)?.trailers(fields),
      reset: (id, code, reason) => {
        const owner = this.#owners.get(id);
        this.#owners.delete(id);
        // Only a true refusal (the server did not process the stream) carries this code.
        owner?.reset(reason, code === ERROR.REFUSED_STREAM);
      },
      writable: (id) => this.#owners.get(id)?.writable(),
      closed: (_code, reason) => this.#close(reason),
    });
    lease.conn.start(this);
  }

  /** How many more streams this connection takes now. */
  get available(): number {
    return this.#closed ? 0 : this.#h2.available;
  }

  /** Opens a stream for `fields`; null when this connection takes no more. */
  open(fields: FieldList, endStream: boolean, owner: BackendStreamOwner): number | null {
    if (this.#closed) return null;
    const id = this.#h2.request(fields, endStream);
    if (id !== null) this.#owners.set(id, owner);
    return id;
  }

  /** Request body for stream `id` (copied); false: wait for the owner's `writable`. */
  send(id: number, chunk: Uint8Array, endStream: boolean): boolean {
    return this.#h2.data(id, chunk.slice(), endStream);
  }

  trailers(id: number, fields: FieldList): void {
    this.#h2.trailers(id, fields);
  }

  /** `n` response bytes of stream `id` were passed on to the client. */
  consumed(id: number, n: number): void {
    this.#h2.consumed(id, n);
  }

  /**
   * The exchange is over for the session (done, or given up): the stream is forgotten, and
   * reset with CANCEL if it is still open here (a request body still going up, a client gone).
   */
  cancel(id: number): void {
    this.#owners.delete(id);
    this.#h2.reset(id, ERROR.CANCEL);
  }

  /**
   * The client connection is over, and with it every stream here (already cancelled): the
   * socket is ended at once, without a GOAWAY of ours. A client owes none, and one arriving
   * just after RST_STREAMs trips an assertion in nghttp2 builds that keep them on (Deno's
   * node:http2 server aborted the process in about 1 run in 6).
   */
  close(reason: string): void {
    this.#close(reason);
  }

  // ---- backend socket ----

  data(chunk: Uint8Array): void {
    this.#h2.receive(chunk);
  }

  end(): void {
    this.#h2.abort(ERROR.NO_ERROR, "the backend closed the connection");
  }

  drain(): void {
    this.#h2.outputDrained();
  }

  error(err: Error): void {
    this.#h2.abort(ERROR.INTERNAL_ERROR, `backend: ${err.message}`);
  }

  #close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, owner] of [...this.#owners]) {
      this.#owners.delete(id);
      owner.reset(`backend connection ended: ${reason}`, false);
    }
    this.lease.conn.end();
    this.lease.conn.close();
    this.lease.release();
    this.gone(this);
  }
}
