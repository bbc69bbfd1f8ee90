/**
 * One client connection to an `http` listener. Every request on it is routed on its own
 * (by Host, path, client address), so the session frames request and response bodies itself,
 * streaming: it never holds a whole body, only the current head.
 *
 * Requests are handled one at a time: a pipelined request waits, unread, until the response
 * before it is complete, so responses reach the client in order. A backend connection is kept
 * for the next request when both sides allow keep-alive and the next request goes to the same
 * backend. After a 101 the two connections become a plain Pipe.
 *
 * An h2c connection (prior knowledge) is routed by the :authority of its first request and
 * then forwarded whole.
 *
 * @module
 */

import { addForwarded } from "../http/forwarded.ts";
import { ChunkedDecoder, LengthCounter, requestBodyKind, responseBodyKind } from "../http/body.ts";
import { errorResponse, statusOf } from "../http/error_response.ts";
import { h2ConnectionError, h2ErrorCode, h2ErrorResponse } from "../http/h2_answer.ts";
import { type HttpResponseHead, sniffHttpResponseHead } from "../http/response_head.ts";
import { rewriteRequestHead, switchAllowed } from "../http/request_rewrite.ts";
import { TrailerFilter } from "../http/trailers.ts";
import { accessRecord, type Outcome } from "../log/access.ts";
import { type ParsedIp, parseIp } from "../net/ip.ts";
import type { RouteConfig } from "../config/types.ts";
import type { Conn, ConnHandlers } from "../runtime/types.ts";
import { sniffH2Authority } from "../sniff/h2_authority.ts";
import { concat } from "../sniff/bytes.ts";
import { latin1 } from "../sniff/http_fields.ts";
import {
  HEAD_LIMITS,
  type HttpRequestHead,
  sniffH2Preface,
  sniffHttpRequestHead,
} from "../sniff/http_head.ts";
import { clock, unwatch, watch } from "./clock.ts";
import { bump, type ListenerContext } from "./context.ts";
import { dial, type Lease } from "./dial.ts";
import { forwardWhole } from "./forward.ts";
import { SniffBuffer } from "./sniff_buffer.ts";

/** Longest response head a backend may send (502 beyond). */
const MAX_RESPONSE_HEAD = 65536;
/** Cap for buffering an h2c client's first frames while looking for :authority. */
const MAX_H2_SNIFF = 65536;
/**
 * Pipelined bytes kept while a response is pending; past this the client is paused. Below it
 * the client is not: on Bun each pause/resume pair cost four epoll_ctl and two setsockopt
 * calls, more syscalls than the request itself (strace, keep-alive load).
 */
const MAX_PIPELINED = 65536;

type BodyScanner = LengthCounter | ChunkedDecoder;

/**
 * `head` without its Content-Length fields: a message with Transfer-Encoding too is forwarded
 * only after removing them (RFC 9112 section 6.3).
 */
function withoutContentLength(head: Uint8Array): Uint8Array {
  const lines = latin1(head, 0, head.length).split("\r\n");
  const text = lines.filter((l) => !/^content-length:/i.test(l)).join("\r\n");
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** How the request stream stands. */
type ReqState = "head" | "dialing" | "body" | "sent" | "closed";
/** How the response stream stands. */
type ResState = "idle" | "head" | "body" | "done";

/** The upstream connection of the current request. */
interface Upstream {
  /** The backend connection and its server. */
  readonly lease: Lease;
  readonly backend: string;
  /** May carry another request after the current response. */
  reusable: boolean;
  /** A write to it returned false and has not drained. */
  blocked: boolean;
}

/** Facts about the request in flight, for its log line. */
interface Exchange {
  readonly t0: number;
  readonly method: string;
  readonly host: string | null;
  readonly path: string;
  /** The upgrade protocols the request offered as forwarded ("a, b"), or null. */
  upgrade: string | null;
  route: RouteConfig | null;
  backend: string | null;
  server: string | null;
  bytesIn: number;
  bytesOut: number;
  status: number;
}

/** One http client connection. */
export class HttpSession implements ConnHandlers {
  #req: ReqState = "head";
  #res: ResState = "idle";
  #buf = new SniffBuffer(HEAD_LIMITS.maxHead + 1);
  #first = true;
  /** When the head being waited for is late (ms since the epoch); 0: not waiting. */
  #headDeadline = 0;
  #reqBody: BodyScanner | null = null;
  #resBody: BodyScanner | null = null;
  /** The trailer sections of chunked bodies (null: not chunked). */
  #reqTrailers: TrailerFilter | null = null;
  #resTrailers: TrailerFilter | null = null;
  #resHead: HttpResponseHead | null = null;
  #resBuf: SniffBuffer | null = null;
  /** Response delimited by the backend closing. */
  #resUntilClose = false;
  /** A response head kept back to go out in one write with the body bytes after it. */
  #heldHead: Uint8Array | null = null;
  #up: Upstream | null = null;
  #ex: Exchange | null = null;
  /** Client bytes read past the current request (a pipelined request), kept for later. */
  #next: Uint8Array | null = null;
  /** The client sent FIN: finish the current response, then close. */
  #clientEof = false;
  /** Close the client once the current response is complete. */
  #closeAfter = false;
  /** A write to the client returned false and has not drained. */
  #clientBlocked = false;
  #closing = false;
  #done = false;
  #src: ParsedIp | null = null;
  #upHandlers: ConnHandlers;
  /** For dial(): whether this session still wants the connection it waits for. */
  readonly #alive = (): boolean => !this.#done && !this.#closing;
  last = clock.now;

  /**
   * `tls`: the connection arrived through TLS termination (HAProxy's ssl_fc), with the SNI
   * its ClientHello named; requests for another host are refused with 421 (domain fronting)
   * unless the listener says `fronting: allow`.
   */
  constructor(
    readonly ctx: ListenerContext,
    readonly client: Conn,
    readonly tls: { readonly sni: string | null } | null = null,
  ) {
    ctx.counters.active++;
    ctx.counters.accepted++;
    this.#upHandlers = {
      data: (c) => this.#upData(c),
      end: () => this.#upEnd(),
      drain: () => this.#upDrain(),
      error: (e) => this.#upError(e),
    };
  }

  /** Starts reading the first request. */
  start(initial: Uint8Array | null = null): void {
    watch(this);
    // A client that never sends a byte is closed quietly at inspect_timeout, like a TLS one.
    this.#armHeadTimer();
    this.client.start(this);
    if (initial !== null && initial.length > 0) this.data(initial);
  }

  // ---- client side ----

  data(chunk: Uint8Array): void {
    this.last = clock.now;
    switch (this.#req) {
      case "head":
        this.#headData(chunk);
        return;
      case "body":
        this.#bodyData(chunk);
        return;
      default:
        // A request sent before the response to the last one (pipelined): kept for after it.
        this.#keepNext(chunk);
        if (this.#next!.length > MAX_PIPELINED) this.client.pause();
    }
  }

  end(): void {
    this.#clientEof = true;
    this.#actOnEof();
  }

  /**
   * Acts on the client's FIN where it decides something: between requests it ends the
   * connection, inside one it aborts it. Elsewhere (a request sent, its response pending) it
   * waits: the adapter delivers a FIN once, so #responseDone and #send call this again, and
   * #tunnel hands it to its pipe.
   */
  #actOnEof(): void {
    if (
      this.#req === "head" && this.#buf.length === 0 && this.#res !== "head" && this.#res !== "body"
    ) {
      // A connection that never sent a request is still logged once (HAProxy logs these too,
      // unless dontlognull); after requests, a close between them is the normal end.
      if (this.#first) this.#logExchange("client_closed", "closed before sending a request");
      // FIN back, not a bare close (an abort, a reset on Bun).
      this.#closeClient();
    } else if (this.#req === "head" || this.#req === "body") {
      // The client gave up inside a request: nothing sensible can follow.
      this.#abort("client closed inside a request", 400, "client_closed");
    }
  }

  drain(): void {
    this.#clientBlocked = false;
    if (this.#closing) {
      this.#finishSession();
      return;
    }
    // Resuming an idle upstream is harmless: stray bytes only mark it not reusable.
    this.#up?.lease.conn.resume();
    // A response that ended while its last write was queued left the next request unread.
    if (this.#req === "head") this.client.resume();
  }

  error(err: Error): void {
    this.#abort(err.message, 0, "client_error");
  }

  /** Idle and head timeouts, from the clock's sweeper. */
  sweep(now: number): void {
    if (this.#headDeadline !== 0 && this.#req === "head" && Date.now() >= this.#headDeadline) {
      this.#headTimeout();
      return;
    }
    const idle = this.#req === "head" && this.#buf.length === 0 && this.#res !== "head";
    if (idle && this.ctx.services.isDraining()) {
      this.#closeClient();
      return;
    }
    if (now - this.last <= this.ctx.listener.idleTimeoutMs) return;
    if (this.#res === "head") {
      this.#abort("the backend sent no response in time", 504, "server_timeout");
    } else this.#abort("idle timeout", 0, "idle_timeout");
  }

  #write(bytes: Uint8Array): void {
    if (this.#ex !== null) this.#ex.bytesOut += bytes.length;
    this.ctx.counters.bytesOut += bytes.length;
    if (!this.client.write(bytes)) {
      this.#clientBlocked = true;
      this.#up?.lease.conn.pause();
    }
  }

  /**
   * Starts the wait for a request head. The clock's sweeper enforces it: a timer per request
   * would cost a setTimeout/clearTimeout pair on every keep-alive request.
   */
  #armHeadTimer(): void {
    this.#headDeadline = Date.now() + this.ctx.listener.inspectTimeoutMs;
  }

  #clearHeadTimer(): void {
    this.#headDeadline = 0;
  }

  /** The head did not come in time: a silent first connection or idle keep-alive just ends. */
  #headTimeout(): void {
    this.#headDeadline = 0;
    if (this.#buf.length === 0 && this.#first) {
      this.#logExchange("inspect_timeout", "no request");
      this.#abort("no request", 0, "inspect_timeout");
    } else if (this.#buf.length === 0) this.#closeClient();
    else this.#refuse(408, "request head not complete within inspect_timeout", "inspect_timeout");
  }

  #headData(chunk: Uint8Array): void {
    const buf = this.#buf;
    // One read may hold a whole head and, after it, more body or pipelined requests than the
    // buffer takes: sniff them joined. Past maxHead the sniffer answers 431 (or 414), never
    // "more", so the joined copy is never kept.
    const fits = buf.push(chunk);
    const bytes = fits ? buf.bytes : concat([buf.bytes, chunk]);
    if (this.#first && sniffH2Preface(bytes).kind !== "no") {
      this.#h2c(bytes, fits);
      return;
    }
    const r = sniffHttpRequestHead(bytes, HEAD_LIMITS);
    switch (r.kind) {
      case "more":
        if (!fits) this.#refuse(431, `request head over ${HEAD_LIMITS.maxHead} bytes`, "malformed");
        return;
      case "no":
        this.#refuse(400, "not an HTTP/1 request", "not_http");
        return;
      case "invalid":
        this.#refuse(statusOf(r.reason), r.reason, "malformed");
        return;
      case "match":
        this.#clearHeadTimer();
        this.#first = false;
        this.#request(r.value, bytes);
    }
  }

  #routeInput(host: string | null, path: string) {
    const remote = this.client.remote;
    this.#src ??= parseIp(remote.host) ??
      { family: remote.family, bytes: new Uint8Array(remote.family === 4 ? 4 : 16) };
    return {
      host,
      path,
      src: this.#src,
      local: this.ctx.services.isLocal(remote.host),
      dst: parseIp(this.client.local.host),
      tls: this.tls !== null,
    };
  }

  #request(head: HttpRequestHead, bytes: Uint8Array): void {
    this.#ex = {
      t0: Date.now(),
      method: head.method,
      host: head.host,
      path: head.path,
      upgrade: head.upgrade,
      route: null,
      backend: null,
      server: null,
      bytesIn: bytes.length,
      bytesOut: 0,
      status: 0,
    };
    this.ctx.counters.bytesIn += bytes.length;
    if (head.method === "CONNECT") {
      this.#refuse(405, "CONNECT is not supported by a reverse proxy", "refused");
      return;
    }
    const sni = this.tls?.sni ?? null;
    if (sni !== null && head.host !== sni && this.ctx.listener.fronting === "deny") {
      this.#refuse(421, `Host "${head.host}" is not the TLS server name "${sni}"`, "misdirected");
      return;
    }
    const { route, backend: name } = this.ctx.router.decide(this.#routeInput(head.host, head.path));
    this.#ex.route = route;
    if (name === null) {
      this.#refuse(503, "no route for this host", "no_route");
      return;
    }
    this.#ex.backend = name;
    // The head and whatever followed it in the buffer now belong to this request; the next
    // request gets a fresh buffer (the old one may still be queued in a write).
    this.#buf = new SniffBuffer(HEAD_LIMITS.maxHead + 1);
    this.#closeAfter = head.connectionClose;
    const up = this.#up;
    if (up !== null && up.backend === name && up.reusable) {
      this.#send(up, head, bytes);
      return;
    }
    this.#dropUpstream();
    this.#req = "dialing";
    this.client.pause();
    dial(this.ctx.services.rt, this.ctx.backends.get(name)!, this.#src!.bytes, {
      client: this.client.remote,
      local: this.client.local,
      authority: this.tls?.sni,
      alpn: this.tls === null ? null : "http/1.1",
      host: head.host,
    }, this.#alive).then((r) => {
      if (!r.ok && r.gone) return;
      if (!r.ok) {
        this.#ex!.server = r.server?.config.name ?? null;
        this.#refuse(r.server === null ? 503 : 502, r.reason, "connect_failed");
        return;
      }
      bump(this.ctx.counters.routed, name);
      const fresh: Upstream = {
        lease: r,
        backend: name,
        reusable: true,
        blocked: false,
      };
      this.#up = fresh;
      r.conn.start(this.#upHandlers);
      this.#send(fresh, head, bytes);
      // Only a body still to come is read now: pipelined requests wait, unread, in the socket.
      if (this.#req === "body" && !fresh.blocked) this.client.resume();
    });
  }

  /** Sends the (rewritten) head and any body bytes that came with it. */
  #send(up: Upstream, head: HttpRequestHead, bytes: Uint8Array): void {
    const ex = this.#ex!;
    ex.server = up.lease.server.config.name;
    const remote = this.client.remote;
    let sent = bytes.subarray(0, head.headerEnd);
    if (head.rewrite) {
      const r = rewriteRequestHead(bytes, head);
      sent = r.bytes;
      ex.upgrade = r.upgrade;
    }
    const out = addForwarded(sent, this.ctx.listener.forwarded, {
      client: remote.host,
      proto: this.tls !== null ? "https" : "http",
      host: head.hostRaw,
    }, head.headers);
    this.#res = "head";
    this.#resBuf = new SniffBuffer(MAX_RESPONSE_HEAD);
    this.#upWrite(up, out);
    const kind = requestBodyKind(head);
    this.#reqBody = kind.kind === "length"
      ? new LengthCounter(kind.length)
      : kind.kind === "chunked"
      ? new ChunkedDecoder()
      : null;
    this.#reqTrailers = kind.kind === "chunked" ? new TrailerFilter() : null;
    this.#req = this.#reqBody === null ? "sent" : "body";
    const rest = bytes.subarray(head.headerEnd);
    // Bytes counted once as part of the head already.
    ex.bytesIn -= rest.length;
    this.ctx.counters.bytesIn -= rest.length;
    if (this.#req === "sent") this.#keepNext(rest);
    else if (rest.length > 0) this.#bodyData(rest);
    // A FIN that came before this (pipelined) request cuts its body short.
    if (this.#clientEof && this.#req === "body") this.#actOnEof();
  }

  #bodyData(chunk: Uint8Array): void {
    const ex = this.#ex!;
    const p = this.#reqBody!.push(chunk);
    if ("error" in p) {
      this.#abort(`request body: ${p.error}`, 400, "malformed");
      return;
    }
    const body = p.consumed === chunk.length ? chunk : chunk.subarray(0, p.consumed);
    ex.bytesIn += body.length;
    this.ctx.counters.bytesIn += body.length;
    const out = this.#reqTrailers === null ? body : this.#reqTrailers.take(body, p);
    const up = this.#up;
    if (up !== null && out.length > 0) this.#upWrite(up, out);
    if (p.done) {
      this.#req = "sent";
      this.#reqBody = null;
      this.#keepNext(chunk.subarray(p.consumed));
    }
  }

  #keepNext(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#next = this.#next === null ? bytes.slice() : concat([this.#next, bytes]);
  }

  #upWrite(up: Upstream, bytes: Uint8Array): void {
    if (!up.lease.conn.write(bytes)) {
      up.blocked = true;
      this.client.pause();
    }
  }

  // ---- upstream side ----

  #upData(chunk: Uint8Array): void {
    this.last = clock.now;
    if (this.#res === "head") this.#resHeadData(chunk);
    else if (this.#res === "body") this.#resBodyData(chunk);
    else if (this.#up !== null) {
      // Bytes outside any response: the backend is out of step; never reuse it.
      this.#up.reusable = false;
    }
  }

  #resHeadData(chunk: Uint8Array): void {
    const buf = this.#resBuf!;
    // As for request heads: a read may hold the head and more body than the buffer takes.
    // `bytes` is exactly what #resBuf holds: nothing consumed from it, nothing left out.
    let kept = buf.push(chunk);
    let bytes = kept ? buf.bytes : concat([buf.bytes, chunk]);
    for (;;) {
      const r = sniffHttpResponseHead(bytes, { maxHead: MAX_RESPONSE_HEAD });
      if (r.kind === "more") {
        if (kept) return;
        // Only the unparsed bytes wait for more, not a 1xx head already forwarded.
        const next = new SniffBuffer(MAX_RESPONSE_HEAD);
        if (next.push(bytes)) this.#resBuf = next;
        else this.#abort(`response head over ${MAX_RESPONSE_HEAD} bytes`, 502, "bad_response");
        return;
      }
      if (r.kind !== "match") {
        const why = r.kind === "no" ? "not an HTTP/1 response" : r.reason;
        this.#abort(`backend response: ${why}`, 502, "bad_response");
        return;
      }
      const res = r.value;
      const head = bytes.subarray(0, res.headerEnd);
      const rest = bytes.subarray(res.headerEnd);
      if (res.status >= 100 && res.status < 200 && res.status !== 101) {
        // 100 Continue and friends: forward and keep reading for the final response.
        this.#write(head);
        bytes = rest;
        kept = false;
        continue;
      }
      this.#response(res, head, rest);
      return;
    }
  }

  #response(res: HttpResponseHead, head: Uint8Array, rest: Uint8Array): void {
    const ex = this.#ex!;
    const up = this.#up!;
    ex.status = res.status;
    this.#resHead = res;
    this.#resBuf = null;
    const kind = responseBodyKind(ex, res);
    if (kind.kind === "tunnel") {
      if (res.status === 101 && !switchAllowed(ex.upgrade, res.headers)) {
        const why = ex.upgrade === null
          ? "backend switched protocols without an Upgrade request"
          : `backend switched protocols to one not offered (${ex.upgrade})`;
        this.#abort(why, 502, "bad_response");
        return;
      }
      this.#tunnel(head, rest);
      return;
    }
    if (res.connectionClose || res.conflictingLength) up.reusable = false;
    if (res.connectionClose || res.conflictingLength) this.#closeAfter = true;
    const out = res.conflictingLength ? withoutContentLength(head) : head;
    this.#res = "body";
    if (kind.kind === "none") {
      this.#write(out);
      if (rest.length > 0) up.reusable = false;
      this.#responseDone();
      return;
    }
    if (kind.kind === "close") {
      this.#resUntilClose = true;
      up.reusable = false;
      this.#closeAfter = true;
      this.#resBody = null;
    } else {
      this.#resBody = kind.kind === "length"
        ? new LengthCounter(kind.length)
        : new ChunkedDecoder();
      this.#resTrailers = kind.kind === "chunked" ? new TrailerFilter() : null;
    }
    if (rest.length === 0) {
      this.#write(out);
      return;
    }
    // Head and the body bytes that came with it go out in one write (one syscall).
    this.#heldHead = out;
    this.#resBodyData(rest);
  }

  /** Writes body bytes, preceded by a held head (one contiguous write when it can be). */
  #writeBody(body: Uint8Array): void {
    const h = this.#heldHead;
    if (h !== null) {
      this.#heldHead = null;
      if (h.buffer === body.buffer && h.byteOffset + h.length === body.byteOffset) {
        this.#write(new Uint8Array(body.buffer, h.byteOffset, h.length + body.length));
        return;
      }
      this.#write(h);
    }
    if (body.length > 0) this.#write(body);
  }

  #resBodyData(chunk: Uint8Array): void {
    if (this.#resUntilClose) {
      this.#writeBody(chunk);
      return;
    }
    const p = this.#resBody!.push(chunk);
    if ("error" in p) {
      this.#heldHead = null;
      this.#abort(`backend response body: ${p.error}`, 0, "bad_response");
      return;
    }
    const body = p.consumed === chunk.length ? chunk : chunk.subarray(0, p.consumed);
    this.#writeBody(this.#resTrailers === null ? body : this.#resTrailers.take(body, p));
    if (p.done) {
      if (p.consumed < chunk.length) this.#up!.reusable = false;
      this.#responseDone();
    }
  }

  #upEnd(): void {
    const up = this.#up;
    if (up === null) return;
    up.reusable = false;
    if (this.#res === "body" && this.#resUntilClose) {
      this.#responseDone();
      return;
    }
    if (this.#res === "head" || this.#res === "body") {
      const nothingSent = this.#res === "head" && (this.#ex?.bytesOut ?? 0) === 0;
      this.#abort(
        "backend closed before the response was complete",
        nothingSent ? 502 : 0,
        "server_closed",
      );
      return;
    }
    // Closed while idle between requests: just forget it.
    this.#dropUpstream();
  }

  #upDrain(): void {
    const up = this.#up;
    if (up === null) return;
    up.blocked = false;
    if ((this.#req === "body" || this.#req === "head") && !this.#clientBlocked) {
      this.client.resume();
    }
  }

  #upError(err: Error): void {
    if (this.#res === "head" || this.#res === "body") {
      const nothingSent = this.#res === "head" && (this.#ex?.bytesOut ?? 0) === 0;
      this.#abort(`backend: ${err.message}`, nothingSent ? 502 : 0, "server_error");
    } else this.#dropUpstream(true);
  }

  // ---- transitions ----

  #responseDone(): void {
    this.#res = "done";
    this.#resBody = null;
    this.#resUntilClose = false;
    this.#logExchange("ok");
    this.#ex = null;
    const up = this.#up;
    // A request body still streaming when the response ended cannot be resynchronized.
    if (this.#req === "body") this.#closeAfter = true;
    if (up !== null && !up.reusable) this.#dropUpstream();
    // While draining, a keep-alive connection ends after the response it is serving. A client
    // that sent its FIN after pipelined requests still gets their responses.
    const eof = this.#clientEof && this.#next === null;
    if (this.#closeAfter || eof || this.ctx.services.isDraining()) {
      this.#closeClient();
      return;
    }
    this.#req = "head";
    this.#res = "idle";
    this.#armHeadTimer();
    const next = this.#next;
    this.#next = null;
    // Not while the last request bytes still wait to go upstream: on Deno they are views of
    // the client's read buffer, which a read would overwrite (#upDrain resumes then).
    if (!this.#clientBlocked && !this.#up?.blocked) this.client.resume();
    if (next !== null) this.#headData(next);
    // The FIN came after those bytes: it ends the connection now unless they held a request.
    if (this.#clientEof) this.#actOnEof();
  }

  #tunnel(head: Uint8Array, rest: Uint8Array): void {
    const up = this.#up!;
    const ex = this.#ex!;
    this.#write(head);
    if (rest.length > 0) this.#write(rest);
    this.#up = null;
    this.#req = "closed";
    this.#res = "done";
    this.#clearHeadTimer();
    unwatch(this);
    const clientNext = this.#next;
    this.#next = null;
    const tunnel = forwardWhole(
      this.ctx,
      this.client,
      up.lease,
      clientNext,
      (outcome, _err, pipe) => {
        ex.bytesIn += pipe.up.bytes;
        ex.bytesOut += pipe.down.bytes;
        this.#ex = ex;
        this.#done = true;
        this.ctx.counters.active--;
        this.#logExchange(outcome === "ok" ? "upgraded" : outcome);
      },
    );
    // The upstream was paused when a write of the head to the client did not complete at once
    // (see #write); the pipe resumes it when that write drains, as for one of its own.
    if (this.#clientBlocked) tunnel.down.blocked = true;
    // A FIN the client sent before the 101 goes on to the backend.
    if (this.#clientEof) tunnel.up.end();
  }

  /** `kept`: `bytes` is what #buf holds (false: a read past its cap, joined to it). */
  #h2c(bytes: Uint8Array, kept: boolean): void {
    const r = sniffH2Authority(bytes, MAX_H2_SNIFF);
    if (r.kind === "more" && kept) return;
    if (r.kind !== "match") {
      const why = r.kind === "more"
        ? `h2c: no complete request headers in the first ${bytes.length} bytes`
        : r.kind === "no"
        ? "not an HTTP/2 connection preface"
        : r.reason;
      // Logged like an HTTP/1 refusal; #abort logs only when it answers or a request is known.
      this.#logExchange("malformed", why, "h2c");
      // A connection error once the preface was seen: the client learns why from a GOAWAY.
      if (r.kind === "invalid") this.#write(h2ConnectionError(h2ErrorCode(why), why));
      this.#abort(why, 0, "malformed");
      return;
    }
    this.#clearHeadTimer();
    this.client.pause();
    const { authority, path, method } = r.value;
    const { route, backend: name } = this.ctx.router.decide(
      this.#routeInput(authority, path ?? "/"),
    );
    const ex: Exchange = {
      t0: Date.now(),
      method: method ?? "PRI",
      host: authority,
      path: path ?? "",
      upgrade: null,
      route,
      backend: name,
      server: null,
      bytesIn: 0,
      bytesOut: 0,
      status: 0,
    };
    this.#ex = ex;
    const stream = r.value.stream;
    if (name === null) {
      this.#abort("h2c: no route for this authority", 503, "no_route", stream);
      return;
    }
    this.#req = "dialing";
    // The client's addresses: a transparent `source:` and PROXY headers need them.
    dial(this.ctx.services.rt, this.ctx.backends.get(name)!, this.#src!.bytes, {
      client: this.client.remote,
      local: this.client.local,
    }, this.#alive).then((d) => {
      if (!d.ok && d.gone) return;
      if (!d.ok) {
        ex.server = d.server?.config.name ?? null;
        this.#abort(d.reason, d.server === null ? 503 : 502, "connect_failed", stream);
        return;
      }
      bump(this.ctx.counters.routed, name);
      ex.server = d.server.config.name;
      this.#req = "closed";
      unwatch(this);
      forwardWhole(
        this.ctx,
        this.client,
        d,
        bytes,
        (outcome, _err, pipe) => {
          ex.bytesIn = pipe.up.bytes;
          ex.bytesOut = pipe.down.bytes;
          this.#done = true;
          this.ctx.counters.active--;
          this.#logExchange(outcome === "ok" ? "h2c" : outcome, undefined, "h2c");
        },
      );
    });
  }

  /** Answers `status` without contacting a backend, then closes. */
  #refuse(status: number, reason: string, outcome: Outcome): void {
    bump(this.ctx.counters.sniffFailures, outcome);
    this.#abort(reason, status, outcome);
  }

  /**
   * Ends the session after a failure: answers `status` when nothing of a response was sent
   * yet (0: no answer), logs the request in flight, and closes both connections. `h2Stream`:
   * the answer is HTTP/2, on that stream of an h2c connection.
   */
  #abort(reason: string, status: number, outcome: Outcome, h2Stream = 0): void {
    if (this.#done || this.#closing) return;
    this.#clearHeadTimer();
    this.#req = "closed";
    this.#dropUpstream(true);
    const ex = this.#ex;
    if (status !== 0 && (ex === null || ex.bytesOut === 0)) {
      if (ex !== null) ex.status = status;
      this.#write(
        h2Stream === 0
          ? errorResponse(status, reason)
          : h2ErrorResponse(h2Stream, status, reason, ex?.method === "HEAD"),
      );
    }
    const proto = h2Stream === 0 ? undefined : "h2c";
    if (ex !== null || status !== 0) this.#logExchange(outcome, reason, proto, status);
    this.#ex = null;
    this.#closeClient();
  }

  #dropUpstream(abort = false): void {
    const up = this.#up;
    if (up === null) return;
    this.#up = null;
    up.lease.release();
    if (!abort && !up.blocked) up.lease.conn.end();
    up.lease.conn.close();
  }

  /** FIN to the client once everything queued is out, then close. */
  #closeClient(): void {
    if (this.#closing || this.#done) return;
    this.#closing = true;
    this.#req = "closed";
    this.client.end();
    if (!this.#clientBlocked) this.#finishSession();
  }

  #finishSession(): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearHeadTimer();
    unwatch(this);
    this.#dropUpstream(true);
    this.client.close();
    this.ctx.counters.active--;
  }

  #logExchange(outcome: Outcome, reason?: string, proto?: string, status?: number): void {
    const ex = this.#ex;
    const code = status ?? ex?.status ?? 0;
    if (code !== 0) bump(this.ctx.counters.httpRequests, `${ex?.backend ?? ""}\t${code}`);
    this.ctx.services.log.access(accessRecord(this.ctx.listener.name, this.client, outcome, {
      host: ex?.host ?? null,
      method: ex?.method,
      path: ex?.path,
      proto,
      status: code === 0 ? undefined : code,
      route: ex?.route?.index ?? null,
      backend: ex?.backend ?? null,
      server: ex?.server ?? null,
      bytes_in: ex?.bytesIn ?? this.#buf.length,
      bytes_out: ex?.bytesOut ?? 0,
      duration_ms: ex === null ? 0 : Date.now() - ex.t0,
      reason,
    }));
  }
}
