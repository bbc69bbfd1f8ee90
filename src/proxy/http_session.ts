/**
 * One client connection to an `http` listener. Every request on it is routed on its own
 * (by Host, path, client address), so the session frames request bodies itself and its
 * `HttpResponse` (http_response.ts) the responses, streaming: neither holds a whole body, only
 * the current head. The session owns both connections: it alone closes them and logs each
 * request once; the response side reports back to it.
 *
 * Requests are handled one at a time: a pipelined request waits, unread, until the response
 * before it is complete, so responses reach the client in order. A backend connection is kept
 * for the next request when both sides allow keep-alive and the next request goes to the same
 * backend. After a 101 the two connections become a plain Pipe.
 *
 * An h2c connection (prior knowledge) becomes an H2Session (h2_session.ts), which routes each
 * stream on its own.
 *
 * @module
 */

import { addForwarded } from "../http1/forwarded.ts";
import { ChunkedDecoder, LengthCounter, requestBodyKind } from "../http1/body.ts";
import { errorResponse, statusOf, textResponse } from "../http1/error_response.ts";
import { rewriteRequestHead } from "../http1/request_rewrite.ts";
import { TrailerFilter } from "../http1/trailers.ts";
import type { Outcome } from "../log/access.ts";
import type { Conn, ConnHandlers } from "../runtime/types.ts";
import { concat } from "../wire/bytes.ts";
import { HEAD_LIMITS, type HttpRequestHead, sniffHttpRequestHead } from "../http1/request_head.ts";
import { sniffH2Preface } from "../h2/preface.ts";
import { clock, unwatch, watch } from "../runtime/clock.ts";
import { bump, type ListenerContext } from "./context.ts";
import { dial, type Lease } from "./dial.ts";
import { forwardWhole } from "./forward.ts";
import {
  type ConnFacts,
  connFacts,
  type Exchange,
  httpRouteInput,
  logExchange,
  newExchange,
  type Upstream,
} from "./http_exchange.ts";
import type { RouteInput } from "../route/router.ts";
import { HttpResponse } from "./http_response.ts";
import { gate, type GateAnswer, hasGate, requestEdits } from "./route_gate.ts";
import { editResponse, http1Answer, responseEdits } from "./own_answer.ts";
import { H2Session } from "./h2_session.ts";
import type { Pipe, PipeOutcome } from "./pipe.ts";
import { SniffBuffer } from "./sniff_buffer.ts";

/**
 * Pipelined bytes kept while a response is pending; past this the client is paused. Below it
 * the client is not: on Bun each pause/resume pair cost four epoll_ctl and two setsockopt
 * calls, more syscalls than the request itself (strace, keep-alive load).
 */
const MAX_PIPELINED = 65536;

const EMPTY = new Uint8Array(0);

/** How the request stream stands. */
type ReqState = "head" | "dialing" | "body" | "sent" | "closed";

/** One http client connection. */
export class HttpSession implements ConnHandlers {
  #req: ReqState = "head";
  readonly #res: HttpResponse;
  #buf = new SniffBuffer(HEAD_LIMITS.maxHead + 1);
  #first = true;
  /** When the head being waited for is late (ms since the epoch); 0: not waiting. */
  #headDeadline = 0;
  #reqBody: LengthCounter | ChunkedDecoder | null = null;
  /** The trailer section of a chunked request body (null: not chunked). */
  #reqTrailers: TrailerFilter | null = null;
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
  /** What routing reads of this connection, once the first request needs it. */
  #conn: ConnFacts | null = null;
  #upHandlers: ConnHandlers;
  /** For dial(): whether this session still wants the connection it waits for. */
  readonly #alive = (): boolean => !this.#done && !this.#closing;
  last = clock.now;
  /** The HTTP version of the request in flight, for its log line (`proto`). */
  #proto = "http/1.1";

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
    this.#res = new HttpResponse({
      write: (bytes) => this.#write(bytes),
      complete: (close) => this.#responseDone(close),
      tunnel: (head, rest) => this.#tunnel(head, rest),
      abort: (reason, status, outcome) => this.#abort(reason, status, outcome),
    }, ctx.listener.responseHeaders);
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
    if (this.#req === "head" && this.#buf.length === 0 && !this.#res.pending) {
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
    const idle = this.#req === "head" && this.#buf.length === 0 && !this.#res.awaitingHead;
    if (idle && this.ctx.services.isDraining()) {
      this.#closeClient();
      return;
    }
    if (now - this.last <= this.ctx.listener.idleTimeoutMs) return;
    if (this.#res.awaitingHead) {
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
    // A head that starts a read is sniffed in place (SniffBuffer.join): its bytes are then a
    // view of the adapter's read buffer, and the session reads nothing more while a write of
    // them is queued, as for body bytes. Past maxHead the sniffer answers 431 (or 414).
    const bytes = buf.join(chunk);
    if (this.#first && sniffH2Preface(bytes).kind !== "no") {
      this.#h2c(bytes);
      return;
    }
    const r = sniffHttpRequestHead(bytes, HEAD_LIMITS);
    switch (r.kind) {
      case "more":
        if (!buf.keep(bytes)) {
          this.#refuse(431, `request head over ${HEAD_LIMITS.maxHead} bytes`, "malformed");
        }
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

  #routeInput(host: string | null, path: string): RouteInput {
    this.#conn ??= connFacts(this);
    return httpRouteInput(this.#conn, host, path, this.tls !== null);
  }

  #request(head: HttpRequestHead, bytes: Uint8Array): void {
    this.#ex = newExchange(head.method, head.host, head.path, head.upgrade);
    this.#proto = head.version === "1.0" ? "http/1.0" : "http/1.1";
    this.#ex.bytesIn = bytes.length;
    this.ctx.counters.bytesIn += bytes.length;
    if (head.method === "CONNECT") {
      this.#refuse(405, "CONNECT is not supported by a reverse proxy", "refused");
      return;
    }
    const challenge = this.ctx.services.challenges.httpAnswer(head.path);
    if (challenge !== null && (head.method === "GET" || head.method === "HEAD")) {
      this.#answerChallenge(challenge, head.method === "HEAD");
      return;
    }
    const sni = this.tls?.sni ?? null;
    if (sni !== null && head.host !== sni && this.ctx.listener.fronting === "deny") {
      this.#refuse(421, `Host "${head.host}" is not the TLS server name "${sni}"`, "misdirected");
      return;
    }
    const { route, backend: name } = this.ctx.router.decide(this.#routeInput(head.host, head.path));
    this.#ex.route = route;
    if (route !== null && hasGate(route)) {
      const r = gate(route, {
        ip: this.#conn!.src,
        host: head.host,
        target: head.target,
        authorization: fieldOf(head, "authorization"),
      }, () => bump(this.ctx.counters.rateLimited, String(route.index)));
      if (r instanceof Promise) {
        // A password is being checked (bcrypt, off the event loop): hold the connection.
        this.#req = "dialing";
        this.client.pause();
        r.then((a) => {
          if (this.#done || this.#closing) return;
          if (a !== null) this.#gateAnswer(a, head);
          else this.#toBackend(head, bytes, name);
        });
        return;
      }
      if (r !== null) {
        this.#gateAnswer(r, head);
        return;
      }
    }
    this.#toBackend(head, bytes, name);
  }

  /** Answers a request the route's actions decided on; the connection closes after it. */
  #gateAnswer(a: GateAnswer, head: HttpRequestHead): void {
    this.#clearHeadTimer();
    this.#req = "closed";
    const ex = this.#ex!;
    ex.status = a.status;
    const edits = responseEdits(ex.route, this.ctx.listener.responseHeaders);
    this.#write(http1Answer(a, head.method === "HEAD", edits));
    this.#logExchange(a.outcome, a.reason, a.status);
    this.#ex = null;
    this.#closeClient();
  }

  /** Sends the request to backend `name` (null: no route and no default, 503). */
  #toBackend(head: HttpRequestHead, bytes: Uint8Array, name: string | null): void {
    if (name === null) {
      this.#refuse(503, "no route for this host", "no_route");
      return;
    }
    this.#ex!.backend = name;
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
    dial(this.ctx.services.rt, this.ctx.backends.get(name)!, this.#conn!.src.bytes, {
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
      const fresh: Upstream = { lease: r, backend: name, reusable: true, blocked: false };
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
    // Views only where needed: on Bun the first view of a socket chunk costs an ArrayBuffer.
    const whole = head.headerEnd === bytes.length;
    let sent = whole ? bytes : bytes.subarray(0, head.headerEnd);
    if (head.rewrite) {
      const r = rewriteRequestHead(bytes, head);
      sent = r.bytes;
      ex.upgrade = r.upgrade;
    }
    if (ex.route !== null) sent = requestEdits(ex.route, sent, head.target);
    const out = addForwarded(sent, this.ctx.listener.forwarded, {
      client: remote.host,
      proto: this.tls !== null ? "https" : "http",
      host: head.hostRaw,
    }, head.headers);
    this.#res.expect(ex, up);
    this.#upWrite(up, out);
    const kind = requestBodyKind(head);
    this.#reqBody = kind.kind === "length"
      ? new LengthCounter(kind.length)
      : kind.kind === "chunked"
      ? new ChunkedDecoder()
      : null;
    this.#reqTrailers = kind.kind === "chunked" ? new TrailerFilter() : null;
    this.#req = this.#reqBody === null ? "sent" : "body";
    const rest = whole ? EMPTY : bytes.subarray(head.headerEnd);
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
    if (this.#res.pending) this.#res.data(chunk);
    // Bytes outside any response: the backend is out of step; never reuse it.
    else if (this.#up !== null) this.#up.reusable = false;
  }

  #upEnd(): void {
    const up = this.#up;
    if (up === null) return;
    up.reusable = false;
    if (this.#res.pending) this.#res.ended();
    // Closed while idle between requests: just forget it.
    else this.#dropUpstream();
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
    if (this.#res.pending) this.#res.failed(err);
    else this.#dropUpstream(true);
  }

  // ---- transitions ----

  /** `close`: the response ended the connection (Connection: close, or delimited by close). */
  #responseDone(close: boolean): void {
    this.#logExchange("ok");
    this.#ex = null;
    const up = this.#up;
    // A request body still streaming when the response ended cannot be resynchronized.
    if (close || this.#req === "body") this.#closeAfter = true;
    if (up !== null && !up.reusable) this.#dropUpstream();
    // While draining, a keep-alive connection ends after the response it is serving. A client
    // that sent its FIN after pipelined requests still gets their responses.
    const eof = this.#clientEof && this.#next === null;
    if (this.#closeAfter || eof || this.ctx.services.isDraining()) {
      this.#closeClient();
      return;
    }
    this.#req = "head";
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
    const clientNext = this.#next;
    this.#next = null;
    const tunnel = this.#forward(up.lease, clientNext, (outcome, pipe) => {
      ex.bytesIn += pipe.up.bytes;
      ex.bytesOut += pipe.down.bytes;
      this.#ex = ex;
      this.#logExchange(outcome === "ok" ? "upgraded" : outcome);
    });
    // The upstream was paused when a write of the head to the client did not complete at once
    // (see #write); the pipe resumes it when that write drains, as for one of its own.
    if (this.#clientBlocked) tunnel.down.blocked = true;
    // A FIN the client sent before the 101 goes on to the backend.
    if (this.#clientEof) tunnel.up.end();
  }

  /**
   * An h2c client (prior knowledge): the connection becomes an H2Session, which routes each
   * stream on its own. `bytes` (the preface and what followed) are its first input.
   */
  #h2c(bytes: Uint8Array): void {
    this.#done = true;
    this.#clearHeadTimer();
    unwatch(this);
    // The H2Session counts the connection from here on.
    this.ctx.counters.active--;
    this.ctx.counters.accepted--;
    new H2Session(this.ctx, this.client, this.tls).start(bytes.slice());
  }

  /**
   * Hands the client and the backend connection of `lease` to a Pipe, `first` (client bytes
   * already read) going to the backend first. The session then only logs, once, through
   * `log` when the pipe is done.
   */
  #forward(
    lease: Lease,
    first: Uint8Array | null,
    log: (outcome: PipeOutcome, pipe: Pipe) => void,
  ): Pipe {
    this.#req = "closed";
    this.#clearHeadTimer();
    unwatch(this);
    return forwardWhole(this.ctx, this.client, lease, first, (outcome, _err, pipe) => {
      this.#done = true;
      this.ctx.counters.active--;
      log(outcome, pipe);
    });
  }

  /** Answers `status` without contacting a backend, then closes. */
  /** Answers an ACME HTTP-01 validation (a pending token) itself, then closes. */
  #answerChallenge(keyAuthorization: string, head: boolean): void {
    this.#clearHeadTimer();
    this.#req = "closed";
    this.#ex!.status = 200;
    this.#write(textResponse(keyAuthorization, head));
    this.#logExchange("acme_challenge");
    this.#ex = null;
    this.#closeClient();
  }

  #refuse(status: number, reason: string, outcome: Outcome): void {
    bump(this.ctx.counters.sniffFailures, outcome);
    this.#abort(reason, status, outcome);
  }

  /**
   * Ends the session after a failure: answers `status` when nothing of a response was sent
   * yet (0: no answer), logs the request in flight, and closes both connections.
   */
  #abort(reason: string, status: number, outcome: Outcome): void {
    if (this.#done || this.#closing) return;
    this.#clearHeadTimer();
    this.#req = "closed";
    this.#dropUpstream(true);
    const ex = this.#ex;
    if (status !== 0 && (ex === null || ex.bytesOut === 0)) {
      if (ex !== null) ex.status = status;
      const edits = responseEdits(ex?.route ?? null, this.ctx.listener.responseHeaders);
      this.#write(editResponse(errorResponse(status, reason, ex?.method === "HEAD"), edits));
    }
    if (ex !== null || status !== 0) this.#logExchange(outcome, reason, status);
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

  #logExchange(outcome: Outcome, reason?: string, status?: number): void {
    // `proto` only once a request head was read: a refused or silent connection has none.
    const proto = this.#ex === null ? undefined : this.#proto;
    logExchange(this, this.#ex, this.#buf.length, outcome, reason, proto, status);
  }
}

/** The value of the first field named `name` (lower-case) in `head`, or null. */
function fieldOf(head: HttpRequestHead, name: string): string | null {
  for (const [n, v] of head.headers) if (n.toLowerCase() === name) return v;
  return null;
}
