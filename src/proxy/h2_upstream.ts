/**
 * One HTTP/2 stream's exchange with an HTTP/1.1 backend: the translated request head and body
 * go out (the body chunked when its length is unknown), and the response comes back as a head
 * for HEADERS and body bytes without their HTTP/1 framing, as it streams. Trailers of a chunked
 * response are not passed on (an HTTP/1.1 backend's trailers are dropped).
 *
 * The stream's owner (h2_session.ts) owns the lease: this reports, it never logs. A backend
 * connection whose response ended cleanly, after a complete request, may be reused.
 *
 * @module
 */

import { ChunkedDecoder, LengthCounter, responseBodyKind } from "../http1/body.ts";
import { type HttpResponseHead, sniffHttpResponseHead } from "../http1/response_head.ts";
import { h2ResponseFields } from "../h2/response_fields.ts";
import type { FieldList } from "../h2/connection.ts";
import type { Outcome } from "../log/access.ts";
import type { ConnHandlers } from "../runtime/types.ts";
import type { Lease } from "./dial.ts";
import { SniffBuffer } from "./sniff_buffer.ts";
import { tail } from "../wire/bytes.ts";

/** Longest response head a backend may send (502 beyond), as for HTTP/1 clients. */
const MAX_RESPONSE_HEAD = 65536;
const CRLF = Uint8Array.of(13, 10);
const LAST_CHUNK = Uint8Array.of(0x30, 13, 10, 13, 10);

/** What the exchange reports to the stream's owner. */
export interface UpstreamOwner {
  /** The response head; `endStream`: no body follows. */
  head(fields: FieldList, endStream: boolean): void;
  /**
   * Body bytes (valid until resume() if it returns false: the backend is paused until then).
   * `last`: the response ends with them, so the stream may end in the same DATA frame.
   */
  body(chunk: Uint8Array, last: boolean): boolean;
  /**
   * The response is complete; `reusable`: the connection may carry another request; `ended`:
   * a body chunk said `last`, so the stream's end went with it.
   */
  done(reusable: boolean, ended: boolean): void;
  /** The exchange failed: `status` to answer when no head went out yet (0 otherwise). */
  fail(reason: string, status: number, outcome: Outcome): void;
  /** The backend took queued request bytes: more body may be read from the client. */
  drained(): void;
}

type State = "head" | "body" | "done";

/** A stream's request and response over one backend connection. */
export class H2Upstream implements ConnHandlers {
  #state: State = "head";
  #buf: SniffBuffer | null = new SniffBuffer(MAX_RESPONSE_HEAD);
  #body: LengthCounter | ChunkedDecoder | null = null;
  #untilClose = false;
  #reusable = true;
  #requestDone = false;
  #paused = false;
  /** The last body chunk was passed as `last`. */
  #ended = false;
  /** Bytes of the response sent to the owner (for the log). */
  received = 0;

  constructor(
    readonly lease: Lease,
    readonly method: string,
    readonly chunked: boolean,
    readonly owner: UpstreamOwner,
  ) {}

  /** Starts the exchange with the request head; false: the backend is not taking more now. */
  start(head: Uint8Array): boolean {
    this.lease.conn.start(this);
    // A reused connection may have been paused by the exchange before.
    this.lease.conn.resume();
    return this.lease.conn.write(head);
  }

  /**
   * Request body bytes; false when the backend queued them (wait for `drained`). `chunk` is
   * copied: it is a view into the client's read buffer, which the client's adapter reuses, and
   * one slow stream must not stop the client connection's other streams by pausing it.
   */
  writeBody(chunk: Uint8Array): boolean {
    const own = chunk.slice();
    if (!this.chunked) return this.lease.conn.write(own);
    const size = new TextEncoder().encode(chunk.length.toString(16) + "\r\n");
    this.lease.conn.write(size);
    this.lease.conn.write(own);
    return this.lease.conn.write(CRLF);
  }

  /** The request body is complete. */
  endBody(): void {
    this.#requestDone = true;
    if (this.chunked) this.lease.conn.write(LAST_CHUNK);
  }

  /** Not all of the request will be sent (the client reset it): the connection cannot be reused. */
  abandonRequest(): void {
    this.#reusable = false;
  }

  /** The owner can take body bytes again. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.lease.conn.resume();
  }

  // ---- backend connection ----

  data(chunk: Uint8Array): void {
    if (this.#state === "head") this.#headData(chunk);
    else if (this.#state === "body") this.#bodyData(chunk);
    // Bytes after the response: the backend is out of step.
    else this.#reusable = false;
  }

  end(): void {
    this.#reusable = false;
    if (this.#state === "body" && this.#untilClose) this.#complete();
    else if (this.#state !== "done") {
      this.#fail("backend closed before the response was complete", "server_closed");
    }
  }

  drain(): void {
    this.owner.drained();
  }

  error(err: Error): void {
    this.#reusable = false;
    if (this.#state !== "done") this.#fail(`backend: ${err.message}`, "server_error");
  }

  #fail(reason: string, outcome: Outcome): void {
    const state = this.#state;
    this.#state = "done";
    this.owner.fail(reason, state === "head" ? 502 : 0, outcome);
  }

  #headData(chunk: Uint8Array): void {
    // As on HTTP/1 sessions: a head that starts a read is sniffed in place (SniffBuffer.join).
    let bytes = this.#buf!.join(chunk);
    for (;;) {
      const r = sniffHttpResponseHead(bytes, { maxHead: MAX_RESPONSE_HEAD });
      if (r.kind === "more") {
        if (!this.#buf!.keep(bytes)) {
          this.#fail(`response head over ${MAX_RESPONSE_HEAD} bytes`, "bad_response");
        }
        return;
      }
      if (r.kind !== "match") {
        const why = r.kind === "invalid" ? r.reason : "the backend did not answer in HTTP/1";
        this.#fail(why, "bad_response");
        return;
      }
      const head = r.value;
      // The body bytes that came with the head (tail(): no view of a fresh chunk on Bun).
      const rest = tail(bytes, r.length);
      if (head.status >= 100 && head.status < 200) {
        if (head.status === 101) {
          this.#fail("the backend switched protocols on an HTTP/2 stream", "bad_response");
          return;
        }
        // Interim responses are not passed on; the final one follows.
        this.#buf = new SniffBuffer(MAX_RESPONSE_HEAD);
        bytes = rest;
        continue;
      }
      this.#respond(head, rest);
      return;
    }
  }

  #respond(head: HttpResponseHead, rest: Uint8Array): void {
    this.#buf = null;
    const fields = h2ResponseFields(head);
    if ("kind" in fields) {
      this.#fail(fields.reason, "bad_response");
      return;
    }
    if (head.connectionClose || head.conflictingLength) this.#reusable = false;
    const kind = responseBodyKind({ method: this.method }, head);
    switch (kind.kind) {
      case "none":
        this.owner.head(fields, true);
        this.#complete();
        return;
      case "length":
        this.#body = new LengthCounter(kind.length);
        break;
      case "chunked":
        this.#body = new ChunkedDecoder((data) => this.#pass(data));
        break;
      default:
        this.#untilClose = true;
        this.#reusable = false;
    }
    this.#state = "body";
    this.owner.head(fields, false);
    if (rest.length > 0) this.#bodyData(rest);
  }

  #bodyData(chunk: Uint8Array): void {
    const body = this.#body;
    if (body === null) {
      this.#pass(chunk);
      return;
    }
    const p = body.push(chunk);
    if ("error" in p) {
      this.#reusable = false;
      this.#fail(`response body: ${p.error}`, "bad_response");
      return;
    }
    if (body instanceof LengthCounter && p.consumed > 0) {
      this.#pass(p.consumed === chunk.length ? chunk : chunk.subarray(0, p.consumed), p.done);
    }
    if (p.done) {
      if (p.consumed < chunk.length) this.#reusable = false;
      this.#complete();
    }
  }

  #pass(data: Uint8Array, last = false): void {
    this.received += data.length;
    this.#ended = last;
    if (!this.owner.body(data, last) && !this.#paused) {
      this.#paused = true;
      this.lease.conn.pause();
    }
  }

  #complete(): void {
    this.#state = "done";
    // While paused, the owner still holds body bytes read from this connection's buffers.
    this.owner.done(this.#reusable && this.#requestDone && !this.#paused, this.#ended);
  }
}
