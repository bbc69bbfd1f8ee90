/**
 * One connection to a `tcp` or `tls` listener, from accept to close: sniff (tls: wait for the
 * ClientHello, at most inspect_timeout), route, connect to a server, then hand both sides to
 * a Pipe. The session owns the client until the Pipe takes over, and logs exactly once.
 *
 * @module
 */

import { hostPort } from "../net/endpoint.ts";
import { parseIp } from "../net/ip.ts";
import type { RouteConfig } from "../config/types.ts";
import type { RouteInput } from "../route/router.ts";
import type { Conn, ConnHandlers } from "../runtime/types.ts";
import {
  type ClientHello,
  sniffClientHello,
  TLS_ALERT_UNRECOGNIZED_NAME,
} from "../sniff/tls_client_hello.ts";
import { bump, type ListenerContext } from "./context.ts";
import { dial } from "./dial.ts";
import { Pipe, type PipeOutcome } from "./pipe.ts";
import { SniffBuffer } from "./sniff_buffer.ts";
import type { ServerState } from "./balancer.ts";

/** A ClientHello may span 64 KiB of handshake plus the record headers around it. */
const MAX_HELLO_BYTES = 65536 + 5 * 8 + 4;

/** How long a refusal alert may take to drain before the socket is closed anyway. */
const ALERT_LINGER_MS = 1000;

type Phase = "inspect" | "connect" | "pipe" | "done";

/** A tcp/tls connection being routed. */
export class StreamSession implements ConnHandlers {
  #phase: Phase = "inspect";
  #buf: SniffBuffer | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #t0 = Date.now();
  #hello: ClientHello | null = null;
  #route: RouteConfig | null = null;
  #backend: string | null = null;
  #server: ServerState | null = null;

  constructor(readonly ctx: ListenerContext, readonly client: Conn) {
    ctx.counters.active++;
    ctx.counters.accepted++;
  }

  /** Begins inspecting (tls) or routing at once (tcp). */
  start(): void {
    if (this.ctx.listener.protocol === "tcp") {
      this.#routeAndConnect(null);
      return;
    }
    this.#buf = new SniffBuffer(MAX_HELLO_BYTES);
    this.#timer = setTimeout(
      () =>
        this.#refuse(
          "inspect_timeout",
          `no complete ClientHello within ${this.ctx.listener.inspectTimeoutMs} ms`,
        ),
      this.ctx.listener.inspectTimeoutMs,
    );
    this.client.start(this);
  }

  data(chunk: Uint8Array): void {
    if (this.#phase !== "inspect") return;
    const buf = this.#buf!;
    if (!buf.push(chunk)) {
      this.#refuse("malformed", `ClientHello larger than ${buf.cap} bytes`);
      return;
    }
    const r = sniffClientHello(buf.bytes);
    switch (r.kind) {
      case "more":
        return;
      case "no":
        this.#refuse("not_tls", "first bytes are not a TLS handshake record");
        return;
      case "invalid":
        this.#refuse("malformed", r.reason);
        return;
      case "match":
        this.#hello = r.value;
        this.client.pause();
        this.#routeAndConnect(r.value);
    }
  }

  end(): void {
    if (this.#phase === "inspect") {
      this.#refuse("client_closed", "closed before the ClientHello was complete");
    }
  }

  drain(): void {}

  error(err: Error): void {
    if (this.#phase === "inspect") this.#refuse("client_error", err.message);
    else if (this.#phase === "connect") this.#finish("client_error", err.message, 0, 0);
  }

  #input(hello: ClientHello | null): RouteInput {
    const remote = this.client.remote;
    const ip = parseIp(remote.host);
    return {
      sni: hello?.sni ?? null,
      alpn: hello?.alpn ?? [],
      src: ip ?? { family: remote.family, bytes: new Uint8Array(remote.family === 4 ? 4 : 16) },
      local: this.ctx.services.isLocal(remote.host),
    };
  }

  async #routeAndConnect(hello: ClientHello | null): Promise<void> {
    this.#clearTimer();
    this.#phase = "connect";
    const input = this.#input(hello);
    const route = this.ctx.router.match(input);
    this.#route = route;
    const name = route?.to ?? this.ctx.router.default;
    if (name === undefined) {
      if (this.ctx.listener.protocol === "tls") this.#alertAndClose();
      else this.#finish("no_route", "no route matched and no default", 0, 0);
      return;
    }
    this.#backend = name;
    const balancer = this.ctx.backends.get(name)!;
    const r = await dial(this.ctx.services.rt, balancer, input.src.bytes);
    if (this.#phase !== "connect") {
      // The client went away while we were connecting.
      if (r.ok) {
        r.conn.close();
        r.server.active--;
      }
      return;
    }
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
    new Pipe(
      this.client,
      r.conn,
      head,
      this.ctx.counters,
      this.ctx.listener.idleTimeoutMs,
      (outcome: PipeOutcome, err: Error | null, pipe: Pipe) => {
        r.server.active--;
        this.#finish(outcome, err?.message, pipe.up.bytes, pipe.down.bytes);
      },
    );
  }

  /** Tells a TLS client that its name is unknown (what it expects), then closes. */
  #alertAndClose(): void {
    this.#phase = "done";
    const c = this.client;
    const close = () => {
      clearTimeout(t);
      c.close();
    };
    const t = setTimeout(close, ALERT_LINGER_MS);
    c.start({ data() {}, end: close, error: close, drain: close });
    c.write(TLS_ALERT_UNRECOGNIZED_NAME);
    // The FIN follows the alert; `drain` (or the peer's reaction) then closes the socket.
    c.end();
    this.#log(
      "no_route",
      "no route matched the ClientHello and no default: sent unrecognized_name",
      0,
      0,
    );
    this.ctx.counters.active--;
  }

  #refuse(outcome: string, reason: string): void {
    if (this.#phase !== "inspect") return;
    bump(this.ctx.counters.sniffFailures, outcome);
    this.#finish(outcome, reason, this.#buf?.length ?? 0, 0);
  }

  #finish(outcome: string, reason: string | undefined, bytesIn: number, bytesOut: number): void {
    if (this.#phase === "done") return;
    const wasPipe = this.#phase === "pipe";
    this.#phase = "done";
    this.#clearTimer();
    this.#buf = null;
    if (!wasPipe) {
      // FIN first, so a refused client sees an orderly close rather than a reset.
      this.client.end();
      this.client.close();
    }
    this.ctx.counters.active--;
    this.#log(outcome, reason, bytesIn, bytesOut);
  }

  #log(outcome: string, reason: string | undefined, bytesIn: number, bytesOut: number): void {
    const remote = this.client.remote;
    this.ctx.services.log.access({
      listener: this.ctx.listener.name,
      client: hostPort(remote.host, remote.port),
      sni: this.#hello?.sni ?? null,
      alpn: this.#hello && this.#hello.alpn.length > 0 ? this.#hello.alpn : undefined,
      route: this.#route?.index ?? null,
      backend: this.#backend,
      server: this.#server?.config.name ?? null,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      duration_ms: Date.now() - this.#t0,
      outcome,
      reason,
    });
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}
