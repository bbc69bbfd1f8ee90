/**
 * The response side of an HTTP/1 session: reads the backend's answer to the request in flight,
 * passes 1xx heads through, frames the body (by length, chunked, or until the backend closes)
 * and forwards it to the client as it comes, with a chunked body's trailers filtered. It never
 * holds a whole body, only the current head.
 *
 * The session owns both connections and the log: this side writes to the client and reports to
 * the session through `ResponseOwner` (complete, tunnel, abort); it never closes a connection
 * or logs. It decides whether a 101 may become a tunnel; the session builds the tunnel.
 *
 * @module
 */

import { ChunkedDecoder, LengthCounter, responseBodyKind } from "../http1/body.ts";
import { type HttpResponseHead, sniffHttpResponseHead } from "../http1/response_head.ts";
import { switchAllowed } from "../http1/request_rewrite.ts";
import { TrailerFilter } from "../http1/trailers.ts";
import type { Outcome } from "../log/access.ts";
import { latin1Bytes } from "../wire/bytes.ts";
import { latin1 } from "../http1/fields.ts";
import type { Exchange, Upstream } from "./http_exchange.ts";
import { SniffBuffer } from "./sniff_buffer.ts";
import type { HeaderActions } from "../config/types.ts";
import { editResponseHead, responseEdits } from "./own_answer.ts";

/** Longest response head a backend may send (502 beyond). */
const MAX_RESPONSE_HEAD = 65536;

/**
 * `head` without its Content-Length fields: a message with Transfer-Encoding too is forwarded
 * only after removing them (RFC 9112 section 6.3).
 */
function withoutContentLength(head: Uint8Array): Uint8Array {
  const lines = latin1(head, 0, head.length).split("\r\n");
  const text = lines.filter((l) => !/^content-length:/i.test(l)).join("\r\n");
  return latin1Bytes(text);
}

/** What the response side asks of the session, which owns both connections and the log. */
export interface ResponseOwner {
  /** Writes to the client, counted for the exchange (a blocked client pauses the backend). */
  write(bytes: Uint8Array): void;
  /** The response is complete; `close`: the client connection must not carry another one. */
  complete(close: boolean): void;
  /**
   * The backend switched protocols: `head` (the 101) and `rest` (bytes after it) go to the
   * client, then the two connections are piped.
   */
  tunnel(head: Uint8Array, rest: Uint8Array): void;
  /** The response failed: answer `status` if nothing was sent yet (0: no answer), then close. */
  abort(reason: string, status: number, outcome: Outcome): void;
}

/** idle: no request awaits an answer; head: waiting for its head; body: forwarding the body. */
type State = "idle" | "head" | "body";

/** The response to each request of one session, one at a time. */
export class HttpResponse {
  #state: State = "idle";
  #ex: Exchange | null = null;
  #up: Upstream | null = null;
  #buf: SniffBuffer | null = null;
  #body: LengthCounter | ChunkedDecoder | null = null;
  /** The trailer section of a chunked body (null: not chunked). */
  #trailers: TrailerFilter | null = null;
  /** Body delimited by the backend closing. */
  #untilClose = false;
  /** The response ends the client connection. */
  #closes = false;
  /** A head kept back to go out in one write with the body bytes after it. */
  #heldHead: Uint8Array | null = null;
  /** What the held head was cut from, when it goes out unedited; see #writeBody. */
  #heldWhole: Uint8Array | null = null;
  readonly #owner: ResponseOwner;

  /** `listenerEdits`: the listener's response_headers, applied to every response head. */
  constructor(owner: ResponseOwner, readonly listenerEdits: HeaderActions | null = null) {
    this.#owner = owner;
  }

  /** No response head has arrived yet for the request in flight. */
  get awaitingHead(): boolean {
    return this.#state === "head";
  }

  /** A request awaits its response, or the response is being forwarded. */
  get pending(): boolean {
    return this.#state !== "idle";
  }

  /** The head of `ex` went out on `up`: its response comes next. */
  expect(ex: Exchange, up: Upstream): void {
    this.#state = "head";
    this.#ex = ex;
    this.#up = up;
    this.#closes = false;
    this.#buf = new SniffBuffer(MAX_RESPONSE_HEAD);
  }

  /** Bytes from the backend while a response is pending. */
  data(chunk: Uint8Array): void {
    if (this.#state === "head") this.#headData(chunk);
    else this.#bodyData(chunk);
  }

  /** The backend sent FIN while a response is pending: its end, or a truncation. */
  ended(): void {
    if (this.#state === "body" && this.#untilClose) this.#complete();
    else this.#fail("backend closed before the response was complete", "server_closed");
  }

  /** The backend connection failed while a response is pending. */
  failed(err: Error): void {
    this.#fail(`backend: ${err.message}`, "server_error");
  }

  /** Aborts; the client gets a 502 only while it has seen nothing of a response (no 1xx). */
  #fail(reason: string, outcome: Outcome): void {
    const nothingSent = this.#state === "head" && this.#ex!.bytesOut === 0;
    this.#owner.abort(reason, nothingSent ? 502 : 0, outcome);
  }

  #headData(chunk: Uint8Array): void {
    // As for request heads: a head that starts a read is sniffed in place (SniffBuffer.join).
    let bytes = this.#buf!.join(chunk);
    for (;;) {
      const r = sniffHttpResponseHead(bytes, { maxHead: MAX_RESPONSE_HEAD });
      if (r.kind === "more") {
        if (!this.#buf!.keep(bytes)) {
          this.#owner.abort(`response head over ${MAX_RESPONSE_HEAD} bytes`, 502, "bad_response");
        }
        return;
      }
      if (r.kind !== "match") {
        const why = r.kind === "no" ? "not an HTTP/1 response" : r.reason;
        this.#owner.abort(`backend response: ${why}`, 502, "bad_response");
        return;
      }
      const res = r.value;
      const head = bytes.subarray(0, res.headerEnd);
      const rest = bytes.subarray(res.headerEnd);
      if (res.status >= 100 && res.status < 200 && res.status !== 101) {
        // 100 Continue and friends: forward and keep reading for the final response.
        this.#owner.write(head);
        // Only the bytes after it may wait for more: not the interim head, already forwarded.
        this.#buf = new SniffBuffer(MAX_RESPONSE_HEAD);
        bytes = rest;
        continue;
      }
      this.#head(res, head, rest, bytes);
      return;
    }
  }

  /** `whole`: the bytes `head` and `rest` were cut from (head first, rest right after it). */
  #head(res: HttpResponseHead, head: Uint8Array, rest: Uint8Array, whole: Uint8Array): void {
    const ex = this.#ex!;
    const up = this.#up!;
    ex.status = res.status;
    this.#buf = null;
    const kind = responseBodyKind(ex, res);
    if (kind.kind === "tunnel") {
      if (res.status === 101 && !switchAllowed(ex.upgrade, res.headers)) {
        const why = ex.upgrade === null
          ? "backend switched protocols without an Upgrade request"
          : `backend switched protocols to one not offered (${ex.upgrade})`;
        this.#owner.abort(why, 502, "bad_response");
        return;
      }
      this.#reset();
      this.#owner.tunnel(head, rest);
      return;
    }
    if (res.connectionClose || res.conflictingLength) {
      up.reusable = false;
      this.#closes = true;
    }
    const plain = res.conflictingLength ? withoutContentLength(head) : head;
    // Most routes edit nothing: no list is built for them.
    const edits = ex.route?.responseHeaders !== undefined || this.listenerEdits !== null;
    const out = edits
      ? editResponseHead(plain, responseEdits(ex.route, this.listenerEdits))
      : plain;
    this.#state = "body";
    if (kind.kind === "none") {
      this.#owner.write(out);
      if (rest.length > 0) up.reusable = false;
      this.#complete();
      return;
    }
    if (kind.kind === "close") {
      this.#untilClose = true;
      up.reusable = false;
      this.#closes = true;
      this.#body = null;
    } else {
      this.#body = kind.kind === "length" ? new LengthCounter(kind.length) : new ChunkedDecoder();
      this.#trailers = kind.kind === "chunked" ? new TrailerFilter() : null;
    }
    if (rest.length === 0) {
      this.#owner.write(out);
      return;
    }
    // Head and the body bytes that came with it go out in one write (one syscall).
    this.#heldHead = out;
    this.#heldWhole = out === head ? whole : null;
    this.#bodyData(rest);
  }

  /**
   * Writes body bytes, preceded by a held head: in one write (one syscall) when the head went
   * out unedited and `fromRest`, i.e. `body` starts where the head ended in the same read.
   * (Contiguity is known, not tested: comparing `.buffer`s costs an ArrayBuffer per chunk on
   * Bun.)
   */
  #writeBody(body: Uint8Array, fromRest: boolean): void {
    const h = this.#heldHead;
    if (h !== null) {
      const whole = this.#heldWhole;
      this.#heldHead = null;
      this.#heldWhole = null;
      if (whole !== null && fromRest) {
        const n = h.length + body.length;
        this.#owner.write(n === whole.length ? whole : whole.subarray(0, n));
        return;
      }
      this.#owner.write(h);
    }
    if (body.length > 0) this.#owner.write(body);
  }

  #bodyData(chunk: Uint8Array): void {
    if (this.#untilClose) {
      this.#writeBody(chunk, true);
      return;
    }
    const p = this.#body!.push(chunk);
    if ("error" in p) {
      this.#heldHead = null;
      this.#heldWhole = null;
      this.#owner.abort(`backend response body: ${p.error}`, 0, "bad_response");
      return;
    }
    const body = p.consumed === chunk.length ? chunk : chunk.subarray(0, p.consumed);
    const out = this.#trailers === null ? body : this.#trailers.take(body, p);
    this.#writeBody(out, out === body);
    if (p.done) {
      if (p.consumed < chunk.length) this.#up!.reusable = false;
      this.#complete();
    }
  }

  #complete(): void {
    const close = this.#closes;
    this.#reset();
    this.#owner.complete(close);
  }

  /** Back to idle, holding nothing of the response that ended. */
  #reset(): void {
    this.#state = "idle";
    this.#ex = null;
    this.#up = null;
    this.#body = null;
    this.#trailers = null;
    this.#untilClose = false;
  }
}
