/**
 * Worker snapshots: summing counters and gauges across workers, keeping a dead worker's
 * counters (not its gauges), and the view /status and /metrics render from the sum.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderMetrics } from "../../src/admin/metrics.ts";
import { statusBody } from "../../src/admin/app.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Balancer } from "../../src/proxy/balancer.ts";
import {
  EMPTY_SNAPSHOT,
  retire,
  sumSnapshots,
  supervisedView,
  type WorkerSnapshot,
} from "../../src/workers/snapshot.ts";

const counters = (over: Partial<WorkerSnapshot["listeners"][0][1]>) => ({
  bytesIn: 0,
  bytesOut: 0,
  active: 0,
  accepted: 0,
  overLimit: 0,
  routed: [],
  sniffFailures: [],
  httpRequests: [],
  rateLimited: [],
  ...over,
});

const w1: WorkerSnapshot = {
  listeners: [
    [
      "web",
      counters({
        bytesIn: 100,
        bytesOut: 1000,
        active: 2,
        accepted: 10,
        routed: [["app", 9]],
        httpRequests: [["app\t200", 8], ["\t503", 1]],
        sniffFailures: [["inspect_timeout", 1]],
      }),
    ],
  ],
  servers: [{ backend: "app", server: "a1", address: "127.0.0.1:9001", active: 2, total: 9 }],
};
const w2: WorkerSnapshot = {
  listeners: [
    [
      "web",
      counters({
        bytesIn: 50,
        bytesOut: 500,
        active: 1,
        accepted: 6,
        overLimit: 1,
        routed: [["app", 5], ["other", 1]],
        httpRequests: [["app\t200", 5]],
      }),
    ],
    ["old", counters({ accepted: 3 })],
  ],
  servers: [
    { backend: "app", server: "a1", address: "127.0.0.1:9001", active: 1, total: 4 },
    { backend: "app", server: "a2", address: "127.0.0.1:9002", active: 0, total: 1 },
  ],
};

describe("sumSnapshots", () => {
  test("adds counters and gauges per listener and per server, maps key by key", () => {
    const sum = sumSnapshots([w1, w2]);
    const web = new Map(sum.listeners).get("web")!;
    assert.equal(web.bytesIn, 150);
    assert.equal(web.bytesOut, 1500);
    assert.equal(web.active, 3);
    assert.equal(web.accepted, 16);
    assert.equal(web.overLimit, 1);
    assert.deepEqual(new Map(web.routed), new Map([["app", 14], ["other", 1]]));
    assert.deepEqual(new Map(web.httpRequests), new Map([["app\t200", 13], ["\t503", 1]]));
    assert.deepEqual(new Map(web.sniffFailures), new Map([["inspect_timeout", 1]]));
    assert.equal(new Map(sum.listeners).get("old")!.accepted, 3);
    assert.deepEqual(sum.servers, [
      { backend: "app", server: "a1", address: "127.0.0.1:9001", active: 3, total: 13 },
      { backend: "app", server: "a2", address: "127.0.0.1:9002", active: 0, total: 1 },
    ]);
  });

  test("the empty sum and the identity", () => {
    assert.deepEqual(sumSnapshots([]), EMPTY_SNAPSHOT);
    assert.deepEqual(sumSnapshots([EMPTY_SNAPSHOT, w1]), sumSnapshots([w1]));
  });

  test("a snapshot survives JSON (the IPC channel) unchanged", () => {
    assert.deepEqual(JSON.parse(JSON.stringify(w2)), w2);
  });
});

describe("retire", () => {
  test("a dead worker's counters stay in the sum; its gauges do not", () => {
    const gone = retire(w1);
    const sum = sumSnapshots([gone, w2]);
    const web = new Map(sum.listeners).get("web")!;
    assert.equal(web.accepted, 16, "counters keep counting");
    assert.equal(web.active, 1, "its open connections died with it");
    assert.equal(sum.servers[0].total, 13);
    assert.equal(sum.servers[0].active, 1);
  });

  test("retired twice over (a worker that died again) accumulates", () => {
    let retired = EMPTY_SNAPSHOT;
    for (let i = 0; i < 3; i++) retired = sumSnapshots([retired, retire(w1)]);
    assert.equal(new Map(retired.listeners).get("web")!.accepted, 30);
  });
});

describe("supervisedView", () => {
  const { config } = parseConfig(
    `
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    default: app
backends:
  app:
    servers: [{ address: "127.0.0.1:9001", name: a1 }, { address: "127.0.0.1:9002", name: a2 }]
`,
    "<test>",
  );
  assert.ok(config !== null);
  const balancers = new Map([["app", new Balancer(config.backends.get("app")!)]]);
  // The supervisor's checker marked a2 down: health comes from it alone.
  balancers.get("app")!.servers[1].up = false;
  balancers.get("app")!.servers[1].lastFailure = "status 500, expected 200";
  const view = supervisedView(
    config,
    [{ listener: "web", addr: "127.0.0.1:8080" }],
    sumSnapshots([w1, w2]),
    balancers,
    { ok: 2, failed: 1 },
  );

  test("/status: summed listener and server counts, the supervisor's health", () => {
    const body = statusBody(view, {
      runtime: "test",
      started: new Date(0),
      readiness: "ready",
    }, { workers: [] }) as {
      listeners: { name: string; bind: string[]; active: number; accepted: number }[];
      backends: { servers: { name: string; up: boolean; active: number; total: number }[] }[];
      workers: unknown[];
    };
    assert.deepEqual(body.workers, []);
    assert.deepEqual(body.listeners.map((l) => [l.name, l.bind, l.active, l.accepted]), [
      ["web", ["127.0.0.1:8080"], 3, 16],
    ]);
    assert.deepEqual(body.backends[0].servers.map((s) => [s.name, s.up, s.active, s.total]), [
      ["a1", true, 3, 13],
      ["a2", false, 0, 1],
    ]);
  });

  test("/metrics: sums, up from the checker, worker families", () => {
    const text = renderMetrics({ ...view, workers: { running: 2, restarts: 1 } });
    for (
      const line of [
        'switchyard_connections_accepted_total{listener="web"} 16',
        'switchyard_connections_accepted_total{listener="old"} 3',
        'switchyard_connections_active{listener="web"} 3',
        'switchyard_connections_total{listener="web",backend="app"} 14',
        'switchyard_http_requests_total{listener="web",backend="app",code="200"} 13',
        'switchyard_backend_server_up{backend="app",server="a2"} 0',
        'switchyard_backend_server_connections_total{backend="app",server="a1"} 13',
        'switchyard_reloads_total{result="ok"} 2',
        "switchyard_workers{} 2",
        "switchyard_worker_restarts_total{} 1",
      ]
    ) assert.ok(text.includes(line + "\n"), `${line} in\n${text}`);
  });

  test("a single process has no worker families", () => {
    const text = renderMetrics(view);
    assert.ok(!text.includes("switchyard_workers"));
  });
});
