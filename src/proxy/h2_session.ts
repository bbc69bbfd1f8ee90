/**
 * One HTTP/2 client connection (h2 through TLS termination, or h2c with prior knowledge): every
 * stream is routed on its own, exactly as an HTTP/1 request is (Host from `:authority`, path,
 * client address), translated to HTTP/1.1 for its backend, and answered with the backend's
 * response as it streams. Flow control bounds what is held per stream: request body bytes are
 * acknowledged to the client only once the backend took them, and a backend whose response
 * the client does not read is paused.
 *
 * The session owns the client connection, the H2Connection state machine and every stream's
 * backend lease; it alone closes them and logs each stream once (`proto: "h2"`). Backend
 * connections whose exchange ended cleanly are kept for the next stream to the same backend.
 *
 * @module
 */

import { addForwarded, type ForwardedFacts, forwardedLines } from "../http1/forwarded.ts";
import { reasonPhrase } from "../http1/error_response.ts";
import { HEAD_LIMITS } from "../http1/request_head.ts";
import { ERROR } from "../h2/frame.ts";
import { type FieldList, H2Connection, type H2Events } from "../h2/connection.ts";
import {
  h2BackendFields,
  type H2RequestHead,
  http1RequestHead,
  readRequestFields,
  readTrailerFields,
} from "../h2/request_fields.ts";
import { addForwardedFields } from "../h2/forwarded_fields.ts";
import type { DetectedProtocol } from "../config/types.ts";
import type { Outcome } from "../log/access.ts";
import type { Conn, ConnHandlers } from "../runtime/types.ts";
import { clock, unwatch, watch } from "../runtime/clock.ts";
import { bump, type ListenerContext } from "./context.ts";
import { dial, Lease, pickIdle } from "./dial.ts";
import type { ServerState } from "./balancer.ts";
import {
  type ConnFacts,
  connFacts,
  type Exchange,
  httpRouteInput,
  logExchange,
  newExchange,
} from "./http_exchange.ts";
import type { RouteInput } from "../route/router.ts";
import { H2Upstream } from "./h2_upstream.ts";
import {
  forwardTarget,
  gate,
  type GateAnswer,
  hasGate,
  requestEdits,
  requestFieldEdits,
} from "./route_gate.ts";
import { h2Answer, responseEdits } from "./own_answer.ts";
import { editFieldList } from "../route/actions/headers.ts";
import type { HeaderActions } from "../config/types.ts";
import { putIdle, shareable } from "./idle_pool.ts";
import type { BackendStreamOwner } from "./h2_backend.ts";
import { type BackendStream, H2Backends } from "./h2_backends.ts";

/**
 * Idle backend connections kept per backend for later streams of this client connection, for
 * backends whose connections speak for one client (PROXY header, transparent source:); the
 * others share a process-wide pool (idle_pool.ts).
 */
const MAX_IDLE_PER_BACKEND = 8;
/** The body of a DATA frame that only ends its stream. */
const EMPTY = new Uint8Array(0);

interface Stream {
  readonly id: number;
  readonly ex: Exchange;
  up: H2Upstream | null;
  /** Request body bytes that arrived before the backend was connected. */
  early: Uint8Array[] | null;
  earlyEnd: boolean;
  /** Request body bytes the backend queued, to acknowledge to the client once it drains. */
  owed: number;
  /** The response head went out. */
  answered: boolean;
  /** Routed to an `http2: true` backend; its stream there once opened. */
  http2: boolean;
  h2: BackendStream | null;
  /** Request trailers that arrived before the backend stream was open. */
  trailers: FieldList | null;
  /** Response bytes the client has not taken yet, to acknowledge to the backend once it does. */
  held: number;
  /** When bytes last moved on this stream, either way (clock.now). */
  moved: number;
}

/** One HTTP/2 client connection. */
export class H2Session implements ConnHandlers {
  readonly #h2: H2Connection;
  readonly #streams = new Map<number, Stream>();
  readonly #idle = new Map<string, Lease[]>();
  readonly #backends = new H2Backends((name, host) =>
    dial(this.ctx.services.rt, this.ctx.backends.get(name)!, this.#conn!.src.bytes, {
      client: this.client.remote,
      local: this.client.local,
      authority: this.tls?.sni,
      alpn: this.tls === null ? null : "h2",
      host,
      http2: true,
    })
  );
  /** What routing reads of this connection, once the first request needs it. */
  #conn: ConnFacts | null = null;
  #closed = false;
  #clientBlocked = false;
  last = clock.now;

  /**
   * `tls`: the connection came through TLS termination with this SNI; requests for another
   * host get 421 unless `covers` says the connection may carry it (its certificate names it
   * and the tls listener would terminate it too), or the listener allows fronting.
   */
  constructor(
    readonly ctx: ListenerContext,
    readonly client: Conn,
    readonly tls: {
      readonly sni: string | null;
      readonly covers?: (host: string) => boolean;
    } | null = null,
    /** On an `auto` listener: what it detected ("h2c"), for routes that name a protocol. */
    readonly protocol?: DetectedProtocol,
  ) {
    ctx.counters.active++;
    ctx.counters.accepted++;
    const events: H2Events = {
      write: (bytes) => this.#write(bytes),
      request: (id, fields, end) => this.#request(id, fields, end),
      body: (id, chunk, end) => this.#body(id, chunk, end),
      trailers: (id, fields) => this.#clientTrailers(id, fields),
      reset: (id, _code, reason) => this.#reset(id, reason),
      writable: (id) => this.#writable(id),
      closed: (code, reason) => this.#over(code, reason),
    };
    this.#h2 = new H2Connection(events);
  }

  /** Starts reading; `initial` holds bytes already read (the preface, for h2c). */
  start(initial: Uint8Array | null = null): void {
    watch(this);
    this.client.start(this);
    if (initial !== null && initial.length > 0) this.data(initial);
  }

  // ---- client connection ----

  data(chunk: Uint8Array): void {
    this.last = clock.now;
    this.ctx.counters.bytesIn += chunk.length;
    this.#h2.receive(chunk);
  }

  end(): void {
    this.#h2.abort(ERROR.NO_ERROR, "the client closed the connection");
  }

  drain(): void {
    this.#clientBlocked = false;
    if (this.#closed) {
      this.client.close();
      return;
    }
    this.client.resume();
    this.#h2.outputDrained();
  }

  error(err: Error): void {
    this.#h2.abort(ERROR.INTERNAL_ERROR, err.message);
    this.#closeClient();
  }

  /**
   * From the clock's sweeper: a stream on which no byte moved for idle_timeout gets 504 if its
   * backend sent no response head yet, else RST_STREAM CANCEL; a connection with no stream for
   * that long, or a draining process, gets GOAWAY.
   */
  sweep(now: number): void {
    const limit = this.ctx.listener.idleTimeoutMs;
    for (const s of [...this.#streams.values()]) {
      if (now - s.moved <= limit) continue;
      if (!s.answered) {
        s.up?.abandonRequest();
        this.#answer(s, 504, "the backend sent no response in time", "server_timeout");
      } else {
        // A client that never opens its window (or a backend that stalls mid-body) holds the
        // stream and its backend connection: both go.
        s.up?.abandonRequest();
        this.#h2.reset(s.id, ERROR.CANCEL);
        this.#finish(s, "idle_timeout", "no bytes moved within idle_timeout", false);
      }
    }
    if (this.ctx.services.isDraining()) this.#h2.shutdown("draining");
    if (this.#streams.size > 0 || now - this.last <= limit) return;
    this.#h2.shutdown("idle timeout");
  }

  #write(bytes: Uint8Array): boolean {
    this.ctx.counters.bytesOut += bytes.length;
    if (this.client.write(bytes)) return true;
    // Stop reading the client too: what it sends (PINGs, SETTINGS) would only queue answers.
    this.#clientBlocked = true;
    this.client.pause();
    return false;
  }

  // ---- streams ----

  #routeInput(host: string | null, path: string): RouteInput {
    this.#conn ??= connFacts(this);
    return httpRouteInput(this.#conn, host, path, this.tls !== null, this.protocol);
  }

  #request(id: number, fields: FieldList, endStream: boolean): void {
    const limit = tooLarge(fields);
    if (limit !== null) {
      const ex = newExchange(methodOf(fields), null, pathOf(fields).slice(0, 256), null);
      const s = newStream(id, ex, endStream);
      s.early = null;
      this.#streams.set(id, s);
      this.#answer(s, limit.status, limit.reason, "malformed");
      return;
    }
    const req = readRequestFields(fields);
    if ("kind" in req) {
      const ex = newExchange(methodOf(fields), null, pathOf(fields), null);
      this.#h2.reset(id, ERROR.PROTOCOL_ERROR);
      this.#log(ex, "malformed", req.reason, 0);
      return;
    }
    const ex = newExchange(req.method, req.host, pathOnly(req.path), null);
    const s = newStream(id, ex, endStream);
    this.#streams.set(id, s);
    if (req.method === "CONNECT") {
      this.#answer(s, 405, "CONNECT is not supported by a reverse proxy", "refused");
      return;
    }
    const challenge = this.ctx.services.challenges.httpAnswer(ex.path);
    if (challenge !== null && (req.method === "GET" || req.method === "HEAD")) {
      this.#answer(s, 200, challenge, "acme_challenge", true);
      return;
    }
    const sni = this.tls?.sni ?? null;
    if (
      sni !== null && req.host !== sni && this.ctx.listener.fronting === "deny" &&
      !(req.host !== null && this.tls?.covers?.(req.host))
    ) {
      const why = `Host "${req.host}" is not served on this connection (TLS server name "${sni}")`;
      this.#answer(s, 421, why, "misdirected");
      return;
    }
    const { route, backend: name } = this.ctx.router.decide(this.#routeInput(req.host, ex.path));
    ex.route = route;
    if (route !== null && hasGate(route)) {
      const r = gate(route, {
        ip: this.#conn!.src,
        host: req.host,
        target: req.path,
        authorization: req.fields.find(([n]) => n === "authorization")?.[1] ?? null,
      }, () => bump(this.ctx.counters.rateLimited, String(route.index)));
      if (r instanceof Promise) {
        // A password is being checked (bcrypt, off the event loop); body bytes wait in `early`.
        r.then((a) => {
          if (this.#streams.get(id) !== s) return;
          if (a !== null) this.#gateAnswer(s, a);
          else this.#toBackend(s, req, endStream, name);
        });
        return;
      }
      if (r !== null) {
        this.#gateAnswer(s, r);
        return;
      }
    }
    this.#toBackend(s, req, endStream, name);
  }

  /** Answers a stream the route's actions decided on. */
  #gateAnswer(s: Stream, a: GateAnswer): void {
    const { fields, body } = h2Answer(a, this.#edits(s));
    const head = s.ex.method === "HEAD" || body.length === 0;
    s.answered = true;
    this.#h2.respond(s.id, fields, head);
    if (!head) this.#h2.data(s.id, body, true);
    s.ex.status = a.status;
    s.ex.bytesOut += head ? 0 : body.length;
    this.#finish(s, a.outcome, a.reason, false, a.status);
  }

  /** The response-header edits for stream `s`: its route's, then the listener's. */
  #edits(s: Stream): HeaderActions[] {
    return responseEdits(s.ex.route, this.ctx.listener.responseHeaders);
  }

  /** `fields` (a response head) with the response-header edits of `s` applied. */
  #edited(s: Stream, fields: FieldList): FieldList {
    let out = fields;
    for (const e of this.#edits(s)) out = editFieldList(out, e);
    return out;
  }

  /** Sends the stream to backend `name` (null: no route and no default, 503). */
  #toBackend(s: Stream, req: H2RequestHead, endStream: boolean, name: string | null): void {
    const { ex, id } = s;
    const route = ex.route;
    if (name === null) {
      this.#answer(s, 503, "no route for this host", "no_route");
      return;
    }
    ex.backend = name;
    if (this.ctx.backends.get(name)!.config.http2) {
      this.#toHttp2(s, req, endStream, name);
      return;
    }
    const remote = this.client.remote;
    const chunked = !endStream && req.contentLength === null;
    const framing = endStream ? "none" : chunked ? "chunked" : "length";
    const forwarded = this.ctx.listener.forwarded;
    const facts: ForwardedFacts = {
      client: remote.host,
      proto: this.tls !== null ? "https" : "http",
      host: req.authority ?? req.fields.find(([n]) => n === "host")?.[1] ?? null,
    };
    // The forwarded fields go after the route's header edits. Without such edits, and with no
    // forwarded field from the client, they are written into the head as it is made (addForwarded
    // would copy the head again).
    const lines = route?.requestHeaders === undefined
      ? forwardedLines(forwarded, facts, req.fields)
      : null;
    let head = http1RequestHead(req, framing, lines ?? "");
    if (route !== null) head = requestEdits(route, head, req.path);
    if (lines === null) head = addForwarded(head, forwarded, facts, req.fields);
    const balancer = this.ctx.backends.get(name)!;
    let picked: ServerState | undefined;
    if (shareable(balancer.config)) {
      // Most streams find an idle connection: taken here, without dial()'s promises.
      const p = pickIdle(balancer, this.#conn!.src.bytes);
      if (p instanceof Lease) {
        bump(this.ctx.counters.routed, name);
        this.#connected(s, p, req.method, chunked, head);
        return;
      }
      picked = p ?? undefined;
    } else {
      const idle = this.#idle.get(name)?.pop();
      if (idle !== undefined) {
        this.#connected(s, idle, req.method, chunked, head);
        return;
      }
    }
    dial(this.ctx.services.rt, balancer, this.#conn!.src.bytes, {
      client: remote,
      local: this.client.local,
      authority: this.tls?.sni,
      alpn: this.tls === null ? null : "http/1.1",
      host: req.host,
      reuse: true,
      picked,
    }, () => this.#streams.get(id) === s).then((r) => {
      if (!r.ok && r.gone) return;
      if (!r.ok) {
        ex.server = r.server?.config.name ?? null;
        this.#answer(s, r.server === null ? 503 : 502, r.reason, "connect_failed");
        return;
      }
      bump(this.ctx.counters.routed, name);
      this.#connected(s, r, req.method, chunked, head);
    });
  }

  #connected(s: Stream, lease: Lease, method: string, chunked: boolean, head: Uint8Array): void {
    s.ex.server = lease.server.config.name;
    const up = new H2Upstream(lease, method, chunked, {
      head: (fields, end) => {
        s.answered = true;
        s.moved = clock.now;
        s.ex.status = Number(fields[0][1]);
        this.#h2.respond(s.id, this.#edited(s, fields), end);
      },
      body: (chunk, last) => {
        s.ex.bytesOut += chunk.length;
        s.moved = clock.now;
        return this.#h2.data(s.id, chunk, last);
      },
      done: (reusable, ended) => {
        if (s.up === null) return;
        if (!ended) this.#h2.data(s.id, EMPTY, true);
        this.#finish(s, "ok", undefined, reusable);
      },
      fail: (reason, status, outcome) => {
        if (status !== 0) this.#answer(s, status, reason, outcome);
        else {
          this.#h2.reset(s.id, ERROR.INTERNAL_ERROR);
          this.#finish(s, outcome, reason, false);
        }
      },
      drained: () => {
        if (s.owed > 0) this.#h2.consumed(s.id, s.owed);
        s.owed = 0;
      },
    });
    s.up = up;
    up.start(head);
    const early = s.early!;
    s.early = null;
    for (const chunk of early) this.#forwardBody(s, chunk);
    if (s.earlyEnd) up.endBody();
  }

  #body(id: number, chunk: Uint8Array, end: boolean): void {
    const s = this.#streams.get(id);
    if (s === undefined) {
      // Answered already (an error, a challenge): the body goes nowhere.
      this.#h2.consumed(id, chunk.length);
      return;
    }
    s.ex.bytesIn += chunk.length;
    s.moved = clock.now;
    if (s.h2 !== null) {
      this.#sendHttp2(s, chunk, end);
      return;
    }
    if (s.early !== null) {
      // Not connected yet: held, and acknowledged once the backend takes it.
      if (chunk.length > 0) s.early.push(chunk.slice());
      if (end) s.earlyEnd = true;
      return;
    }
    if (s.up === null) return;
    if (chunk.length > 0) this.#forwardBody(s, chunk);
    if (end) s.up.endBody();
  }

  /** Request trailers: on to an HTTP/2 backend, dropped for an HTTP/1.1 one (they end the body). */
  #clientTrailers(id: number, fields: FieldList): void {
    const s = this.#streams.get(id);
    if (s === undefined || !s.http2) {
      this.#body(id, EMPTY, true);
      return;
    }
    const trailers = readTrailerFields(fields);
    if ("kind" in trailers) {
      this.#h2.reset(id, ERROR.PROTOCOL_ERROR);
      this.#finish(s, "malformed", trailers.reason, false);
      return;
    }
    if (s.h2 === null) {
      s.trailers = trailers;
      s.earlyEnd = true;
    } else s.h2.conn.trailers(s.h2.id, trailers);
  }

  #writable(id: number): void {
    const s = this.#streams.get(id);
    if (s === undefined) return;
    s.moved = clock.now;
    s.up?.resume();
    if (s.h2 !== null && s.held > 0) {
      s.h2.conn.consumed(s.h2.id, s.held);
      s.held = 0;
    }
  }

  /** Sends the stream to an `http2: true` backend, on a connection shared with its siblings. */
  #toHttp2(s: Stream, req: H2RequestHead, endStream: boolean, name: string): void {
    s.http2 = true;
    const balancer = this.ctx.backends.get(name)!;
    const scheme = balancer.config.tls === null ? "http" : "https";
    const route = s.ex.route;
    const base = h2BackendFields({ ...req, path: forwardTarget(route, req.path) }, scheme);
    const edited = route === null ? base : requestFieldEdits(route, base);
    const fields = addForwardedFields(edited, this.ctx.listener.forwarded, {
      client: this.client.remote.host,
      proto: this.tls !== null ? "https" : "http",
      host: req.authority ?? req.fields.find(([n]) => n === "host")?.[1] ?? null,
    });
    const owner: BackendStreamOwner = {
      response: (head, end) => {
        s.answered = true;
        s.moved = clock.now;
        s.ex.status = Number(head[0]?.[1] ?? 0);
        this.#h2.respond(s.id, this.#edited(s, head), end);
        if (end) this.#finish(s, "ok", undefined, false);
      },
      body: (chunk, end) => {
        s.ex.bytesOut += chunk.length;
        s.moved = clock.now;
        if (this.#h2.data(s.id, chunk, end)) s.h2?.conn.consumed(s.h2.id, chunk.length);
        else s.held += chunk.length;
        if (end) this.#finish(s, "ok", undefined, false);
      },
      trailers: (list) => {
        this.#h2.trailers(s.id, list);
        this.#finish(s, "ok", undefined, false);
      },
      reset: (reason) => {
        if (!s.answered) this.#answer(s, 502, reason, "server_error");
        else {
          this.#h2.reset(s.id, ERROR.INTERNAL_ERROR);
          this.#finish(s, "server_error", reason, false);
        }
      },
      writable: () => {
        if (s.owed > 0) this.#h2.consumed(s.id, s.owed);
        s.owed = 0;
      },
    };
    // A body still to come keeps the backend stream open; it ends with the body's end.
    this.#backends.open(name, req.host, fields, endStream, owner).then((r) => {
      if (this.#streams.get(s.id) !== s) {
        if ("conn" in r) r.conn.cancel(r.id);
        return;
      }
      if (!("conn" in r)) {
        s.ex.server = r.server?.config.name ?? null;
        this.#answer(s, r.server === null ? 503 : 502, r.reason, "connect_failed");
        return;
      }
      bump(this.ctx.counters.routed, name);
      s.h2 = r;
      s.ex.server = r.conn.lease.server.config.name;
      const early = s.early ?? [];
      s.early = null;
      const last = early.length - 1;
      early.forEach((chunk, i) =>
        this.#sendHttp2(s, chunk, s.earlyEnd && s.trailers === null && i === last)
      );
      if (s.trailers !== null) r.conn.trailers(r.id, s.trailers);
      else if (s.earlyEnd && !endStream && early.length === 0) {
        this.#sendHttp2(s, EMPTY, true);
      }
    });
  }

  #sendHttp2(s: Stream, chunk: Uint8Array, end: boolean): void {
    if (s.h2!.conn.send(s.h2!.id, chunk, end)) this.#h2.consumed(s.id, chunk.length);
    else s.owed += chunk.length;
  }

  #forwardBody(s: Stream, chunk: Uint8Array): void {
    if (s.up!.writeBody(chunk)) this.#h2.consumed(s.id, chunk.length);
    else s.owed += chunk.length;
  }

  #reset(id: number, reason: string): void {
    const s = this.#streams.get(id);
    if (s === undefined) return;
    s.up?.abandonRequest();
    this.#finish(s, "client_closed", reason, false);
  }

  /** Answers a stream itself with `status` and a one-line text body. */
  #answer(s: Stream, status: number, detail: string, outcome: Outcome, raw = false): void {
    if (s.answered) {
      this.#h2.reset(s.id, ERROR.INTERNAL_ERROR);
      this.#finish(s, outcome, detail, false);
      return;
    }
    s.answered = true;
    const text = raw ? detail : `${status} ${reasonPhrase(status)}${detail ? `: ${detail}` : ""}\n`;
    const body = new TextEncoder().encode(text);
    const head = s.ex.method === "HEAD";
    this.#h2.respond(
      s.id,
      this.#edited(s, [
        [":status", String(status)],
        ["content-type", "text/plain; charset=utf-8"],
        ["content-length", String(body.length)],
      ]),
      head,
    );
    if (!head) this.#h2.data(s.id, body, true);
    s.ex.status = status;
    s.ex.bytesOut += head ? 0 : body.length;
    this.#finish(s, outcome, raw ? undefined : detail, false, status);
  }

  /** The stream is over: its lease kept for reuse or closed, and its line logged. */
  #finish(
    s: Stream,
    outcome: Outcome,
    reason: string | undefined,
    reusable: boolean,
    status?: number,
  ): void {
    if (!this.#streams.delete(s.id)) return;
    if (s.h2 !== null) {
      // A stream still open there (the client reset it, or it was answered here) is cancelled;
      // response bytes the client never took still count against the backend's window.
      s.h2.conn.cancel(s.h2.id);
      if (s.held > 0) s.h2.conn.consumed(s.h2.id, s.held);
    }
    const up = s.up;
    s.up = null;
    if (up !== null && !(reusable && this.#keep(s.ex.backend!, up.lease))) {
      up.lease.conn.close();
      up.lease.release();
    }
    this.#log(s.ex, outcome, reason, 0, status);
  }

  /**
   * Keeps a backend connection whose exchange ended cleanly: in the process-wide pool, or, for
   * a backend whose connections speak for this client, for this connection's later streams.
   * False when there is no room (the caller closes it).
   */
  #keep(name: string, lease: Lease): boolean {
    if (shareable(this.ctx.backends.get(name)!.config)) return putIdle(lease);
    const idle = this.#idle.get(name) ?? [];
    if (this.#closed || idle.length >= MAX_IDLE_PER_BACKEND) return false;
    idle.push(lease);
    this.#idle.set(name, idle);
    // Until the next exchange: a close or stray bytes just end it.
    lease.conn.start({
      data: () => this.#dropIdle(name, lease),
      end: () => this.#dropIdle(name, lease),
      drain: () => {},
      error: () => this.#dropIdle(name, lease),
    });
    return true;
  }

  #dropIdle(name: string, lease: Lease): void {
    const idle = this.#idle.get(name);
    const at = idle?.indexOf(lease) ?? -1;
    if (at >= 0) idle!.splice(at, 1);
    lease.conn.close();
    lease.release();
  }

  #log(
    ex: Exchange,
    outcome: Outcome,
    reason: string | undefined,
    unread: number,
    status?: number,
  ): void {
    logExchange(this, ex, unread, outcome, reason, "h2", status);
  }

  /** The HTTP/2 connection ended: close the client once the last frames drained. */
  #over(code: number, reason: string): void {
    for (const s of [...this.#streams.values()]) {
      s.up?.abandonRequest();
      this.#finish(s, "aborted", reason, false);
    }
    for (const [name, idle] of this.#idle) {
      for (const lease of [...idle]) this.#dropIdle(name, lease);
    }
    this.#backends.closeAll("the client connection ended");
    if (code !== ERROR.NO_ERROR) {
      bump(this.ctx.counters.sniffFailures, "malformed");
      logExchange(this, null, 0, "malformed", reason, "h2");
    }
    this.#closeClient();
  }

  #closeClient(): void {
    if (this.#closed) return;
    this.#closed = true;
    unwatch(this);
    this.ctx.counters.active--;
    this.client.end();
    if (!this.#clientBlocked) this.client.close();
  }
}

function newStream(id: number, ex: Exchange, endStream: boolean): Stream {
  return {
    id,
    ex,
    up: null,
    early: [],
    earlyEnd: endStream,
    owed: 0,
    answered: false,
    http2: false,
    h2: null,
    trailers: null,
    held: 0,
    moved: clock.now,
  };
}

/**
 * The HTTP/1 head limits (HEAD_LIMITS), applied to an HTTP/2 request: a :path over the request
 * line limit gets 414, a head whose fields would make a larger HTTP/1 head gets 431.
 */
function tooLarge(fields: FieldList): { status: number; reason: string } | null {
  let size = 0;
  for (const [name, value] of fields) {
    if (name === ":path" && value.length > HEAD_LIMITS.maxLine) {
      return { status: 414, reason: `:path over ${HEAD_LIMITS.maxLine} bytes` };
    }
    size += name.length + value.length + 4;
  }
  if (size > HEAD_LIMITS.maxHead) {
    return { status: 431, reason: `request head over ${HEAD_LIMITS.maxHead} bytes` };
  }
  return null;
}

function methodOf(fields: FieldList): string {
  return fields.find(([n]) => n === ":method")?.[1] ?? "";
}

function pathOf(fields: FieldList): string {
  return pathOnly(fields.find(([n]) => n === ":path")?.[1] ?? "");
}

/** The path without its query, as HTTP/1 requests are logged and routed. */
function pathOnly(path: string): string {
  const q = path.indexOf("?");
  return q < 0 ? path : path.slice(0, q);
}
