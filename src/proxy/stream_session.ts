/**
 * One connection to a `tcp`, `tls` or `auto` listener, from accept to close: sniff (tls: wait
 * for the ClientHello; auto: detect the protocol; at most inspect_timeout), route, connect to a
 * server, then hand both sides to a Pipe. The session owns the client until the Pipe takes
 * over, and logs exactly once.
 *
 * An `auto` listener routes per connection, like sslh does: an HTTP/1 client is routed by its
 * first request and then forwarded whole. An h2c client (prior knowledge) is handed, right
 * after its connection preface, to an H2Session, which routes each stream on its own.
 *
 * @module
 */

import { accessRecord, type Outcome } from "../log/access.ts";
import type { RouteConfig } from "../config/types.ts";
import type { RouteInput } from "../route/router.ts";
import type { Conn, ConnHandlers } from "../runtime/types.ts";
import { after, type Deadline } from "../runtime/clock.ts";
import { TLS_ALERT_HANDSHAKE_FAILURE, TLS_ALERT_UNRECOGNIZED_NAME } from "../tls/client_hello.ts";
import { terminateTls } from "../tls/terminate.ts";
import { answerHandshake } from "../tls/tls13/answer.ts";
import { isGuarded, PROXY_REFUSED } from "./proxy_accept.ts";
import { HttpSession } from "./http_session.ts";
import { H2Session } from "./h2_session.ts";
import { errorResponse, textResponse } from "../http1/error_response.ts";
import { ACME_TLS_ALPN } from "../acme/challenges.ts";
import { detectAuto, type Detection, detectTls } from "./detect.ts";
import { bump, type ListenerContext } from "./context.ts";
import { dial } from "./dial.ts";
import type { Pipe, PipeOutcome } from "./pipe.ts";
import { forwardWhole } from "./forward.ts";
import { connFacts } from "./http_exchange.ts";
import { SniffBuffer } from "./sniff_buffer.ts";
import type { ServerState } from "./balancer.ts";

/** A ClientHello may span 64 KiB of handshake plus the record headers around it. */
const MAX_HELLO_BYTES = 65536 + 5 * 8 + 4;

/** How long a refusal reply may take to drain before the socket is closed anyway. */
const LINGER_MS = 1000;

type Phase = "inspect" | "connect" | "pipe" | "done";

/** A tcp/tls connection being routed. */
export class StreamSession implements ConnHandlers {
  #phase: Phase = "inspect";
  #buf: SniffBuffer | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** inspect_timeout, on the coarse clock: a setTimeout per connection costs more on Deno. */
  #inspectDeadline: Deadline | null = null;
  #t0 = Date.now();
  #found: Extract<Detection, { kind: "found" }> | null = null;
  #sshTimer: ReturnType<typeof setTimeout> | null = null;
  /** A reply (alert, HTTP error) is still queued for the client. */
  #unsent = false;
  #route: RouteConfig | null = null;
  #backend: string | null = null;
  #server: ServerState | null = null;

  constructor(readonly ctx: ListenerContext, readonly client: Conn) {
    ctx.counters.active++;
    ctx.counters.accepted++;
  }

  /** Begins inspecting (tls, auto) or routing at once (tcp). */
  start(): void {
    const l = this.ctx.listener;
    if (l.protocol === "tcp") {
      if (!isGuarded(this.client)) {
        this.#routeAndConnect(null);
        return;
      }
      // accept_proxy, untrusted client: its first bytes must not be a PROXY header, and the
      // backend must not be contacted before that is known. A client that stays silent (the
      // server speaks first) is connected after a short wait.
      this.#buf = new SniffBuffer(MAX_HELLO_BYTES);
      this.#timer = setTimeout(
        () => this.#routeAndConnect(null),
        Math.min(l.sshWaitMs, l.inspectTimeoutMs),
      );
      this.client.start(this);
      return;
    }
    this.#buf = new SniffBuffer(MAX_HELLO_BYTES);
    this.#inspectDeadline = after(
      l.inspectTimeoutMs,
      () => this.#refuse("inspect_timeout", `nothing recognizable within ${l.inspectTimeoutMs} ms`),
    );
    // An SSH client may wait for the server's banner: after a short silence it counts as ssh,
    // but only where a route could take it.
    if (l.protocol === "auto" && this.ctx.router.routesProtocol("ssh")) {
      this.#sshTimer = setTimeout(() => {
        if (this.#phase === "inspect" && this.#buf?.length === 0) {
          this.#detected({ kind: "found", protocol: "ssh" });
        }
      }, l.sshWaitMs);
    }
    this.client.start(this);
  }

  data(chunk: Uint8Array): void {
    if (this.#phase !== "inspect") return;
    const buf = this.#buf!;
    if (!buf.push(chunk)) {
      this.#refuse("malformed", `first message larger than ${buf.cap} bytes`);
      return;
    }
    const protocol = this.ctx.listener.protocol;
    if (protocol === "tcp") {
      // Past the PROXY guard: any byte will do.
      this.client.pause();
      this.#routeAndConnect(null);
      return;
    }
    const d = protocol === "auto" ? detectAuto(buf.bytes) : detectTls(buf.bytes);
    this.#detected(d);
  }

  #detected(d: Detection): void {
    switch (d.kind) {
      case "more":
        return;
      case "refuse":
        if (d.status !== undefined) this.#answer(d.status, d.reason, false);
        this.#refuse(d.outcome, d.reason);
        return;
      case "found":
        this.#found = d;
        if (d.protocol === "h2c") {
          this.#h2c();
          return;
        }
        this.client.pause();
        this.#routeAndConnect(d);
    }
  }

  /**
   * An h2c client (auto listener), seen by its connection preface: the connection becomes an
   * H2Session, given every byte read so far, which answers what breaks HTTP/2 itself and routes
   * each stream by its own :authority through this listener's routes (as protocol h2c).
   */
  #h2c(): void {
    this.#phase = "done";
    this.#clearTimer();
    const bytes = this.#buf!.bytes.slice();
    this.#buf = null;
    // The H2Session counts the connection from here on.
    this.ctx.counters.active--;
    this.ctx.counters.accepted--;
    new H2Session(this.ctx, this.client, null, "h2c").start(bytes);
  }

  /**
   * Sends an HTTP/1 error to a client that spoke HTTP, before the refusal closes it: the head
   * alone when the request was HEAD (RFC 9110 section 9.3.2).
   */
  #answer(status: number, reason: string, head: boolean): void {
    this.#reply(errorResponse(status, reason, head));
  }

  /** Writes a last message; #finish then waits (briefly) for it to drain before closing. */
  #reply(bytes: Uint8Array): void {
    if (!this.client.write(bytes)) this.#unsent = true;
  }

  end(): void {
    if (this.#phase === "inspect") {
      this.#refuse("client_closed", "closed before the first message was complete");
    } else if (this.#phase === "done" && this.#unsent) this.#closeNow();
  }

  drain(): void {
    if (this.#phase === "done" && this.#unsent) this.#closeNow();
  }

  error(err: Error): void {
    if (err.name === PROXY_REFUSED && this.#phase === "inspect") {
      // Counted and logged where it was refused; one line per connection.
      this.#phase = "done";
      this.#clearTimer();
      this.ctx.counters.active--;
      return;
    }
    if (this.#phase === "inspect") this.#refuse("client_error", err.message);
    else if (this.#phase === "connect") this.#finish("client_error", err.message, 0, 0);
    else if (this.#phase === "done" && this.#unsent) this.#closeNow();
  }

  #input(found: Extract<Detection, { kind: "found" }> | null): RouteInput {
    const { src, local, dst } = connFacts(this);
    return {
      protocol: found?.protocol,
      sni: found?.hello?.sni ?? null,
      alpn: found?.hello?.alpn ?? [],
      host: found?.host ?? null,
      path: found?.path,
      src,
      local,
      dst,
    };
  }

  async #routeAndConnect(found: Extract<Detection, { kind: "found" }> | null): Promise<void> {
    this.#clearTimer();
    this.#phase = "connect";
    const input = this.#input(found);
    const { route, backend: name } = this.ctx.router.decide(input);
    this.#route = route;
    if (found !== null && this.#acmeChallenge(found, route)) return;
    if (route === null && this.ctx.terminate !== null && found?.protocol === "tls") {
      this.#terminate(found.hello?.sni ?? null);
      return;
    }
    if (name === null) {
      const protocol = found?.protocol;
      if (protocol === "tls") this.#alertAndClose();
      else {
        if (protocol === "http") {
          this.#answer(503, "no route for this host", found?.method === "HEAD");
        }
        this.#finish("no_route", "no route matched and no default", this.#buf?.length ?? 0, 0);
      }
      return;
    }
    this.#backend = name;
    const balancer = this.ctx.backends.get(name)!;
    const r = await dial(this.ctx.services.rt, balancer, input.src.bytes, {
      client: this.client.remote,
      local: this.client.local,
      authority: found?.hello?.sni,
    }, () => this.#phase === "connect");
    if (!r.ok && r.gone) return;
    if (!r.ok) {
      this.#server = r.server;
      this.#finish("connect_failed", r.reason, 0, 0);
      return;
    }
    this.#server = r.server;
    bump(this.ctx.counters.routed, name);
    this.#phase = "pipe";
    const head = this.#buf?.bytes ?? null;
    this.#buf = null;
    forwardWhole(
      this.ctx,
      this.client,
      r,
      head,
      (outcome: PipeOutcome, err: Error | null, pipe: Pipe) => {
        this.#finish(outcome, err?.message, pipe.up.bytes, pipe.down.bytes);
      },
    );
  }

  /**
   * Answers an ACME validation itself when one is pending for what the client asked: a
   * TLS-ALPN-01 handshake (ALPN only `acme-tls/1`, for a name with a pending challenge; a route
   * that names `acme-tls/1` in its `alpn` passes it through instead, as before), or an HTTP-01
   * fetch on an auto listener. Returns whether it did.
   */
  #acmeChallenge(found: Extract<Detection, { kind: "found" }>, route: RouteConfig | null): boolean {
    const challenges = this.ctx.services.challenges;
    if (found.protocol === "http") {
      const answer = found.path === undefined ? null : challenges.httpAnswer(found.path);
      if (answer === null || (found.method !== "GET" && found.method !== "HEAD")) return false;
      this.#reply(textResponse(answer, found.method === "HEAD"));
      this.#finish("acme_challenge", undefined, this.#buf?.length ?? 0, 0);
      return true;
    }
    const hello = found.hello;
    if (found.protocol !== "tls" || hello === undefined) return false;
    if (hello.alpn.length !== 1 || hello.alpn[0] !== ACME_TLS_ALPN) return false;
    if (route?.alpn?.includes(ACME_TLS_ALPN)) return false;
    const identity = challenges.alpnIdentity(hello.sni);
    if (identity === null) return false;
    const bytes = this.#buf!.bytes;
    this.#phase = "pipe";
    const timeout = this.ctx.listener.inspectTimeoutMs;
    // The validator only looks at the certificate: the handshake is the whole answer.
    answerHandshake(this.client, bytes, identity, ACME_TLS_ALPN, timeout, (r) => {
      this.ctx.counters.active--;
      if (!r.ok) this.#log("tls_failed", `acme-tls/1: ${r.error}`, bytes.length, r.sent);
      else this.#log("acme_challenge", undefined, bytes.length, r.sent);
    });
    return true;
  }

  /**
   * Decrypts here (`terminate:`): the requests inside are routed by the http listener it
   * names. This session ends with its log line; the http session logs each request.
   */
  #terminate(sni: string | null): void {
    const t = this.ctx.terminate!;
    const secureContext = t.certs.select(sni);
    if (secureContext === null) {
      this.#reply(TLS_ALERT_HANDSHAKE_FAILURE);
      this.#finish("tls_failed", t.certs.unavailable, this.#buf?.length ?? 0, 0);
      return;
    }
    const hello = this.#buf!.bytes;
    this.#phase = "pipe";
    this.#backend = `terminate:${t.http.listener.name}`;
    const rt = this.ctx.services.rt;
    const l = this.ctx.listener;
    terminateTls(rt, this.client, hello, secureContext, l.inspectTimeoutMs, l.alpn, (r) => {
      this.ctx.counters.active--;
      if ("error" in r) {
        bump(this.ctx.counters.sniffFailures, "tls_failed");
        this.#log("tls_failed", r.error, hello.length, 0);
        return;
      }
      this.#log("terminated", undefined, hello.length, 0);
      if (r.alpn === "h2") {
        // A browser sends every name the certificate covers on one connection; names this
        // listener passes through by SNI need their own (RFC 9113 section 9.1.1).
        const input = this.#input(this.#found);
        const covers = (host: string) =>
          t.certs.covers(sni, host) &&
          this.ctx.router.decide({ ...input, sni: host }).route === null;
        new H2Session(t.http, r.conn, { sni, covers }).start();
      } else new HttpSession(t.http, r.conn, { sni }).start();
    });
  }

  /** Tells a TLS client that its name is unknown (what it expects), then closes. */
  #alertAndClose(): void {
    this.#reply(TLS_ALERT_UNRECOGNIZED_NAME);
    this.#finish(
      "no_route",
      "no route matched the ClientHello and no default: sent unrecognized_name",
      this.#buf?.length ?? 0,
      0,
    );
  }

  #refuse(outcome: Outcome, reason: string): void {
    if (this.#phase !== "inspect") return;
    bump(this.ctx.counters.sniffFailures, outcome);
    this.#finish(outcome, reason, this.#buf?.length ?? 0, 0);
  }

  #finish(outcome: Outcome, reason: string | undefined, bytesIn: number, bytesOut: number): void {
    if (this.#phase === "done") return;
    const wasPipe = this.#phase === "pipe";
    this.#phase = "done";
    this.#clearTimer();
    this.#buf = null;
    if (!wasPipe) {
      // FIN first (after any reply), so a refused client sees an orderly close, not a reset.
      this.client.end();
      if (this.#unsent) this.#timer = setTimeout(() => this.#closeNow(), LINGER_MS);
      else this.client.close();
    }
    this.ctx.counters.active--;
    this.#log(outcome, reason, bytesIn, bytesOut);
  }

  #log(outcome: Outcome, reason: string | undefined, bytesIn: number, bytesOut: number): void {
    if (!this.ctx.services.log.accessOn) return;
    const found = this.#found;
    this.ctx.services.log.access(accessRecord(this.ctx.listener.name, this.client, outcome, {
      protocol: this.ctx.listener.protocol === "auto" ? found?.protocol : undefined,
      sni: found?.hello?.sni ?? null,
      alpn: found?.hello?.alpn.length ? found.hello.alpn : undefined,
      host: found?.host ?? undefined,
      route: this.#route?.index ?? null,
      backend: this.#backend,
      server: this.#server?.config.name ?? null,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      duration_ms: Date.now() - this.#t0,
      reason,
    }));
  }

  #closeNow(): void {
    this.#clearTimer();
    this.#unsent = false;
    this.client.close();
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#sshTimer !== null) clearTimeout(this.#sshTimer);
    this.#inspectDeadline?.cancel();
    this.#inspectDeadline = null;
    this.#timer = null;
    this.#sshTimer = null;
  }
}
