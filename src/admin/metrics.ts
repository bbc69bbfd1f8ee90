/**
 * Prometheus text exposition (format 0.0.4) of the router's counters. Counters live as plain
 * numbers and Maps on the data path; all formatting happens here, per scrape.
 *
 * @module
 */

import type { ListenerCounters } from "../proxy/context.ts";
import {
  ACME_ORDER_RESULTS,
  type AcmeOrderResult,
  type CertificateView,
} from "../tls/certificates.ts";
import type { BackendView } from "./view.ts";

/** What /metrics reads (an `InstanceView` fits, with `counters` as `listeners`). */
export interface MetricsSource {
  readonly listeners?: ReadonlyMap<string, ListenerCounters>;
  /** Same as `listeners` (the name an `InstanceView` uses). */
  readonly counters?: ReadonlyMap<string, ListenerCounters>;
  /** A `Balancer` fits. */
  readonly backends: ReadonlyMap<string, BackendView>;
  readonly reloads: { readonly ok: number; readonly failed: number };
  /** Under a supervisor: worker processes running now and restarts since start. */
  readonly workers?: { readonly running: number; readonly restarts: number };
  /** Certificates, for their expiry; none when left out. */
  readonly certificates?: readonly CertificateView[];
  /** ACME orders by result; all zero when left out. */
  readonly acmeOrders?: Readonly<Record<AcmeOrderResult, number>>;
}

function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs).map(([k, v]) => `${k}="${label(v)}"`).join(",")}}`;
}

/** Collects samples by metric so each family is printed once with its HELP and TYPE. */
class Families {
  #out: string[] = [];
  family(
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: [Record<string, string>, number][],
  ): void {
    this.#out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) this.#out.push(`${name}${labels(l)} ${v}`);
  }
  toString(): string {
    return this.#out.join("\n") + "\n";
  }
}

/**
 * Seconds until each certificate's not_after, one sample per certificate labelled by its
 * first name: an alert on it fires once per certificate (what gets renewed), as with
 * Traefik's `traefik_tls_certs_not_after{cn}`, not once per name of a many-name certificate.
 * Certificates sharing a first name give the soonest expiry, the one an alert is for. A
 * certificate not obtained yet has no sample.
 */
function expirySamples(
  certificates: readonly CertificateView[],
  now: number,
): [Record<string, string>, number][] {
  const soonest = new Map<string, number>();
  for (const c of certificates) {
    if (c.notAfter === null) continue;
    const name = c.names[0] ?? c.file ?? "";
    const left = Math.round((c.notAfter.getTime() - now) / 1000);
    soonest.set(name, Math.min(left, soonest.get(name) ?? Infinity));
  }
  return [...soonest].map(([name, left]) => [{ name }, left]);
}

/** Renders every metric of `src`; `now` (ms) is when certificate expiry is counted from. */
export function renderMetrics(src: MetricsSource, now = Date.now()): string {
  const f = new Families();
  const L = [...(src.listeners ?? src.counters ?? new Map<string, ListenerCounters>())];
  f.family(
    "switchyard_connections_total",
    "counter",
    "Connections (or HTTP requests' upstream connections) routed to a backend.",
    L.flatMap(([listener, c]) =>
      [...c.routed].map(([backend, n]) =>
        [{ listener, backend }, n] as [Record<string, string>, number]
      )
    ),
  );
  f.family(
    "switchyard_connections_accepted_total",
    "counter",
    "Connections accepted.",
    L.map(([listener, c]) => [{ listener }, c.accepted]),
  );
  f.family(
    "switchyard_connections_refused_total",
    "counter",
    "Connections closed at accept (max_connections, draining).",
    L.map(([listener, c]) => [{ listener }, c.overLimit]),
  );
  f.family(
    "switchyard_connections_active",
    "gauge",
    "Connections open now.",
    L.map(([listener, c]) => [{ listener }, c.active]),
  );
  f.family(
    "switchyard_bytes_total",
    "counter",
    "Bytes forwarded: in = from clients, out = to clients.",
    L.flatMap(([listener, c]) =>
      [[{ listener, direction: "in" }, c.bytesIn], [
        { listener, direction: "out" },
        c.bytesOut,
      ]] as [Record<string, string>, number][]
    ),
  );
  f.family(
    "switchyard_sniff_failures_total",
    "counter",
    "Connections or requests refused before routing, by reason.",
    L.flatMap(([listener, c]) =>
      [...c.sniffFailures].map(([reason, n]) =>
        [{ listener, reason }, n] as [Record<string, string>, number]
      )
    ),
  );
  f.family(
    "switchyard_http_requests_total",
    "counter",
    "HTTP requests answered, by backend and status code.",
    L.flatMap(([listener, c]) =>
      [...c.httpRequests].map(([key, n]) => {
        const [backend, code] = key.split("\t");
        return [{ listener, backend, code }, n] as [Record<string, string>, number];
      })
    ),
  );
  f.family(
    "switchyard_http_rate_limited_total",
    "counter",
    "HTTP requests refused by a route's rate_limit (429), by route index.",
    L.flatMap(([listener, c]) =>
      [...c.rateLimited].map(([route, n]) =>
        [{ listener, route }, n] as [Record<string, string>, number]
      )
    ),
  );
  const servers = [...src.backends].flatMap(([backend, b]) =>
    b.servers.map((s) => ({ backend, s }))
  );
  f.family(
    "switchyard_backend_server_up",
    "gauge",
    "1 while the server takes new connections.",
    servers.map(({ backend, s }) => [{ backend, server: s.config.name }, s.up ? 1 : 0]),
  );
  f.family(
    "switchyard_backend_server_active",
    "gauge",
    "Connections open to the server now.",
    servers.map(({ backend, s }) => [{ backend, server: s.config.name }, s.active]),
  );
  f.family(
    "switchyard_backend_server_connections_total",
    "counter",
    "Connections made to the server.",
    servers.map(({ backend, s }) => [{ backend, server: s.config.name }, s.total]),
  );
  f.family("switchyard_reloads_total", "counter", "Config reloads, by result.", [[
    { result: "ok" },
    src.reloads.ok,
  ], [{ result: "failed" }, src.reloads.failed]]);
  f.family(
    "switchyard_certificate_expiry_seconds",
    "gauge",
    "Seconds until the certificate expires (not_after; negative once expired), by its first name.",
    expirySamples(src.certificates ?? [], now),
  );
  // Every result from zero, so that increase() sees an order's first failure.
  f.family(
    "switchyard_acme_orders_total",
    "counter",
    "ACME certificate orders, by result.",
    ACME_ORDER_RESULTS.map((result) => [{ result }, src.acmeOrders?.[result] ?? 0]),
  );
  if (src.workers !== undefined) {
    f.family("switchyard_workers", "gauge", "Worker processes running now.", [[
      {},
      src.workers.running,
    ]]);
    f.family(
      "switchyard_worker_restarts_total",
      "counter",
      "Worker processes restarted after dying.",
      [[{}, src.workers.restarts]],
    );
  }
  return f.toString();
}
