/**
 * The admin endpoint: a Hono app served by the runtime's own HTTP server (through the
 * adapter). GET /healthz, /readyz, /status, /metrics.
 *
 * The app reads an {@link AdminSource}: one process's instance ({@link instanceSource}), or
 * a supervisor that sums its workers (`src/workers/supervisor.ts`). Both render through
 * {@link statusBody} and `renderMetrics`, so the two report the same shapes.
 *
 * @module
 */

import { Hono } from "hono";
import type { Instance } from "../proxy/instance.ts";
import { newCounters } from "../proxy/context.ts";
import { VERSION } from "../version.ts";
import { renderMetrics } from "./metrics.ts";
import { type InstanceView, instanceView } from "./view.ts";

/** What /readyz answers. */
export type Readiness = "ready" | "starting" | "draining";

/** What the admin endpoint reports on. */
export interface AdminSource {
  readiness(): Readiness;
  /** The /status document. */
  status(): Promise<Record<string, unknown>>;
  /** The /metrics text. */
  metrics(): Promise<string>;
}

/** One process's state (no workers). */
export interface AdminState {
  readonly instance: Instance;
  readonly runtime: string;
  readonly started: Date;
  /** Every listener is bound. */
  ready: boolean;
  reloads: { ok: number; failed: number };
}

/** The /status document for `view`; `extra` adds fields (the supervisor's `workers`). */
export function statusBody(
  view: InstanceView,
  head: { runtime: string; started: Date; readiness: Readiness },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    version: VERSION,
    runtime: head.runtime,
    started: head.started.toISOString(),
    ready: head.readiness === "ready",
    draining: head.readiness === "draining",
    config: view.config.file,
    ...extra,
    listeners: [...view.config.listeners.values()].map((l) => {
      const counters = view.counters.get(l.name) ?? newCounters();
      return {
        name: l.name,
        protocol: l.protocol,
        bind: view.binds.filter((b) => b.listener === l.name).map((b) => b.addr),
        active: counters.active,
        accepted: counters.accepted,
        routes: l.routes.map((r) => ({ ...r, src: r.src?.map((c) => c.text) })),
        default: l.default ?? null,
      };
    }),
    backends: [...view.backends.values()].map((b) => ({
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
    certificates: view.certificates.map((c) => ({
      names: c.names,
      source: c.source,
      file: c.file,
      not_after: c.notAfter?.toISOString() ?? null,
      next_renewal: c.nextRenewal?.toISOString() ?? null,
      last_error: c.lastError,
    })),
  };
}

/** The admin source of one process. */
export function instanceSource(state: AdminState): AdminSource {
  const readiness = (): Readiness =>
    state.instance.draining ? "draining" : state.ready ? "ready" : "starting";
  return {
    readiness,
    status: () =>
      Promise.resolve(
        statusBody(instanceView(state.instance, state.reloads), {
          runtime: state.runtime,
          started: state.started,
          readiness: readiness(),
        }),
      ),
    metrics: () => Promise.resolve(renderMetrics(instanceView(state.instance, state.reloads))),
  };
}

/** Builds the admin app over `source` (or over one process's `state`). */
export function adminApp(source: AdminSource | AdminState): Hono {
  const src = "instance" in source ? instanceSource(source) : source;
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/readyz", (c) => {
    const r = src.readiness();
    return r === "ready" ? c.text("ready\n") : c.text(`${r}\n`, 503);
  });
  app.get("/metrics", async (c) => {
    const body = await src.metrics();
    return c.body(body, 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  app.get("/status", async (c) => c.json(await src.status()));
  app.notFound((c) => c.text("not found: try /healthz /readyz /status /metrics\n", 404));
  return app;
}
