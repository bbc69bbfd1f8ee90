/**
 * The admin endpoint: a Hono app served by the runtime's own HTTP server (through the
 * adapter). GET /healthz, /readyz, /status, /metrics.
 *
 * @module
 */

import { Hono } from "hono";
import type { Instance } from "../proxy/instance.ts";
import { hostPort } from "../net/endpoint.ts";
import { VERSION } from "../version.ts";
import { renderMetrics } from "./metrics.ts";

/** What the admin endpoint reports on. */
export interface AdminState {
  readonly instance: Instance;
  readonly runtime: string;
  readonly started: Date;
  /** Every listener is bound. */
  ready: boolean;
  reloads: { ok: number; failed: number };
}

/** Builds the admin app over `state`. */
export function adminApp(state: AdminState): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/readyz", (c) => {
    if (state.instance.draining) return c.text("draining\n", 503);
    return state.ready ? c.text("ready\n") : c.text("starting\n", 503);
  });
  app.get("/metrics", (c) => {
    const gen = state.instance.generation;
    const body = renderMetrics({
      listeners: state.instance.counters,
      backends: gen.backends,
      reloads: state.reloads,
    });
    return c.body(body, 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  app.get("/status", (c) => {
    const gen = state.instance.generation;
    const sockets = state.instance.sockets;
    return c.json({
      version: VERSION,
      runtime: state.runtime,
      started: state.started.toISOString(),
      ready: state.ready && !state.instance.draining,
      draining: state.instance.draining,
      config: gen.config.file,
      listeners: [...gen.contexts.values()].map((ctx) => ({
        name: ctx.listener.name,
        protocol: ctx.listener.protocol,
        bind: sockets.filter((s) => s.listener === ctx.listener.name).map((s) =>
          hostPort(s.socket.addr.host, s.socket.addr.port)
        ),
        active: ctx.counters.active,
        accepted: ctx.counters.accepted,
        routes: ctx.listener.routes.map((r) => ({ ...r, src: r.src?.map((c) => c.text) })),
        default: ctx.listener.default ?? null,
      })),
      backends: [...gen.backends.values()].map((b) => ({
        name: b.config.name,
        balance: b.config.balance,
        health_check: b.config.healthCheck !== null,
        servers: b.servers.map((s) => ({
          name: s.config.name,
          address: s.config.address.text,
          weight: s.config.weight,
          up: s.up,
          active: s.active,
          total: s.total,
          last_failure: s.lastFailure,
        })),
      })),
    });
  });
  app.notFound((c) => c.text("not found: try /healthz /readyz /status /metrics\n", 404));
  return app;
}
