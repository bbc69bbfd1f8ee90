/**
 * Worker processes end to end (`workers: 2`): connections spread over both workers (the access
 * log names the worker), /metrics and /status sum them, SIGHUP reloads both (a live transfer
 * carries on), a SIGHUP during a reload or the start-up gets a reload after it, a SIGKILLed
 * worker leaves the port serving and comes back, health is checked once for the instance and
 * reaches both workers, and a bind failure exits 1 (SIGTERM draining both: drain_test.ts). The
 * router runs as a subprocess under the test's runtime. As root, in network namespaces: a
 * `transparent: true` listener (an FFI-made IP_TRANSPARENT socket) and `usesrc client` work in
 * both workers.
 */

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import {
  adminPort,
  events,
  get,
  idleScrape,
  scrape,
  signal,
  status,
  until,
} from "../helpers/admin.ts";
import { namedSink, SinkClient, type TestServer } from "../helpers/backends.ts";
import { pattern as bytes } from "../helpers/http_backends.ts";
import {
  cliIn,
  connectFrom,
  inNs,
  isRoot,
  type Peer,
  peerInfo,
  sh,
  startPeer,
  startRouterIn,
  Topology,
} from "../helpers/netns.ts";
import { type RouterProcess, spawnRouter, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

function listening(r: RouterProcess): Record<string, unknown> {
  const ev = events(r).find((e) => e.msg === "listening");
  assert.ok(ev !== undefined, "a listening event");
  return ev;
}

interface WorkerStatus {
  worker: number;
  pid: number | null;
  state: string;
  restarts: number;
}

interface Status {
  ready: boolean;
  draining: boolean;
  workers: WorkerStatus[];
  listeners: { name: string; bind: string[]; active: number; accepted: number }[];
  backends: {
    name: string;
    servers: { name: string; up: boolean; active: number; total: number }[];
  }[];
}

const isReloadEvent = (e: Record<string, unknown>) =>
  e.worker === undefined &&
  (e.msg === "reloaded" || String(e.msg).startsWith("reload failed"));

async function reload(r: RouterProcess, yaml: string): Promise<Record<string, unknown>> {
  const before = events(r).filter(isReloadEvent).length;
  writeFileSync(r.configFile, yaml);
  signal(r, "SIGHUP");
  return await r.waitFor(() => events(r).filter(isReloadEvent)[before], "a reload event");
}

/** One whole exchange with a sink; the sink's name and the client's address. */
async function exchange(
  port: number,
  payload: Uint8Array,
  localAddress?: string,
): Promise<{ name: string; client: string }> {
  const s = await SinkClient.open(port, localAddress);
  const client = `${s.c.socket.localAddress}:${s.c.socket.localPort}`;
  await s.send(payload);
  await s.finish();
  return { name: s.name, client };
}

/** What a batch of exchanges did. */
interface Batch {
  /** Sink names and how many exchanges each got. */
  names: Map<string, number>;
  /** Client addresses (ip:port), to find their access records. */
  clients: Set<string>;
  /** How many access records the router had written before the batch. */
  since: number;
}

/** `n` exchanges, `concurrency` at a time. */
async function exchanges(
  r: RouterProcess,
  port: number,
  n: number,
  localAddress?: string,
  concurrency = 5,
): Promise<Batch> {
  const names = new Map<string, number>();
  const clients = new Set<string>();
  const since = r.access.length;
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      const x = await exchange(port, bytes(100 + i * 7, i + 1), localAddress);
      names.set(x.name, (names.get(x.name) ?? 0) + 1);
      clients.add(x.client);
    }
  }));
  return { names, clients, since };
}

/** The workers that wrote the access records of a batch (waits for every one of them). */
async function workersOf(r: RouterProcess, listener: string, batch: Batch): Promise<unknown[]> {
  const byClient = await r.waitFor(() => {
    const found = new Map<string, Record<string, unknown>>();
    for (const rec of r.access.slice(batch.since)) {
      const client = String(rec.client);
      if (rec.listener === listener && batch.clients.has(client)) found.set(client, rec);
    }
    return found.size === batch.clients.size && found;
  }, `${batch.clients.size} access records`);
  for (const rec of byClient.values()) assert.equal(rec.outcome, "ok", JSON.stringify(rec));
  return [...new Set([...byClient.values()].map((rec) => rec.worker))].sort();
}

// ---------------------------------------------------------------------------------------------

describe(`workers: 2 (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let sinkB: TestServer;
  let router: RouterProcess;
  let admin: number;
  let port: number;
  /** Connections made through `main` so far, by every test of this group. */
  let made = 0;

  const config = (routes: string, extra = false, bind = `"127.0.0.1:0"`) => `
admin: { listen: "127.0.0.1:0" }
workers: 2
listeners:
  main:
    bind: ${bind}
    protocol: tcp
    routes: [${routes}]
    default: a
${extra ? `  extra: { bind: "127.0.0.1:0", protocol: tcp, default: b }` : ""}
backends:
  a: { servers: [{ address: "127.0.0.1:${sinkA.port}", name: A }] }
  b: { servers: [{ address: "127.0.0.1:${sinkB.port}", name: B }] }
`;

  before(async () => {
    sinkA = await namedSink("A");
    sinkB = await namedSink("B");
    router = await startRouter(config(""));
    admin = adminPort(router);
    port = router.port("main");
  });

  after(async () => {
    assert.equal(await router?.stop(), 0);
    for (const s of [sinkA, sinkB]) await s?.close();
  });

  test("one listening event from the supervisor names both workers, one port and the admin", async () => {
    const ev = listening(router);
    assert.equal(ev.worker, undefined);
    assert.equal(ev.workers, 2);
    const pids = ev.pids as number[];
    assert.equal(pids.length, 2);
    assert.ok(pids.every((p) => Number.isInteger(p) && p !== router.child.pid), String(pids));
    assert.deepEqual(ev.listeners, [`main=127.0.0.1:${port}`]);
    // Each worker bound the same port.
    const ready = await router.waitFor(() => {
      const ready = events(router).filter((e) => e.msg === "worker ready");
      return ready.length === 2 && ready;
    }, "both workers' ready events");
    assert.deepEqual(ready.map((e) => e.worker).sort(), [1, 2]);
    for (const e of ready) assert.deepEqual(e.listeners, [`main=127.0.0.1:${port}`]);
    assert.equal(events(router).filter((e) => e.msg === "listening").length, 1);
    const s = await status<Status>(admin);
    assert.equal(s.ready, true);
    assert.deepEqual(s.workers.map((w) => [w.worker, w.pid, w.state]), [
      [1, pids[0], "ready"],
      [2, pids[1], "ready"],
    ]);
    assert.equal((await get(admin, "/readyz")).status, 200);
  });

  test("50 short connections land on both workers, and /metrics and /status sum both", async () => {
    const batch = await exchanges(router, port, 50);
    made += 50;
    assert.deepEqual([...batch.names], [["A", 50]]);
    assert.deepEqual(await workersOf(router, "main", batch), [1, 2]);

    const m = await idleScrape(admin, "main", 15_000);
    assert.equal(m.n("switchyard_connections_accepted_total", { listener: "main" }), made);
    assert.equal(m.n("switchyard_connections_total", { listener: "main", backend: "a" }), made);
    assert.equal(
      m.n("switchyard_backend_server_connections_total", { backend: "a", server: "A" }),
      made,
    );
    // In: 100 + 7i bytes each.
    let sent = 0;
    for (let i = 0; i < 50; i++) sent += 100 + i * 7;
    assert.equal(m.n("switchyard_bytes_total", { listener: "main", direction: "in" }), sent);
    assert.equal(m.n("switchyard_workers"), 2);
    assert.equal(m.n("switchyard_worker_restarts_total"), 0);
    const s = await status<Status>(admin);
    assert.equal(s.listeners[0].accepted, made);
    assert.equal(s.backends.find((b) => b.name === "a")!.servers[0].total, made);

    // A live connection shows once, whichever worker has it.
    const live = await SinkClient.open(port);
    await until(
      async () => {
        const s = await status<Status>(admin);
        return s.listeners[0].active === 1 && s.backends[0].servers[0].active === 1;
      },
      "the live connection in /status",
      15_000,
    );
    await live.send(bytes(10));
    await live.finish();
    made++;
  });

  test("SIGHUP reloads both workers: a new route is served by both, a live transfer carries on", async () => {
    const early = await SinkClient.open(port);
    const payload = bytes(20_000, 3);
    await early.send(payload.subarray(0, 10_000));

    const ev = await reload(router, config(`{ src: 127.0.0.2/32, to: b }`));
    assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
    // Validated once: one reload event for the instance.
    assert.equal(events(router).filter((e) => e.msg === "reloaded").length, 1);

    const viaB = await exchanges(router, port, 30, "127.0.0.2");
    const viaA = await exchanges(router, port, 10, "127.0.0.1");
    made += 40;
    assert.deepEqual([...viaB.names], [["B", 30]]);
    assert.deepEqual([...viaA.names], [["A", 10]]);
    assert.deepEqual(await workersOf(router, "main", viaB), [1, 2]);

    await early.send(payload.subarray(10_000));
    await early.finish();
    made++;

    const m = await idleScrape(admin, "main", 15_000);
    assert.equal(m.n("switchyard_reloads_total", { result: "ok" }), 1);
    assert.equal(m.n("switchyard_connections_total", { listener: "main", backend: "b" }), 30);
    assert.equal(m.n("switchyard_connections_accepted_total", { listener: "main" }), made);
  });

  test("an invalid reload is refused once and both workers keep the old config", async () => {
    const ev = await reload(router, config(`{ src: 127.0.0.2/32, to: nowhere }`));
    assert.equal(ev.msg, "reload failed: the old config keeps serving");
    assert.ok(JSON.stringify(ev.problems).includes("nowhere"), JSON.stringify(ev));
    const viaB = await exchanges(router, port, 20, "127.0.0.2");
    made += 20;
    assert.deepEqual([...viaB.names], [["B", 20]]);
    assert.deepEqual(await workersOf(router, "main", viaB), [1, 2]);
    const m = await scrape(admin);
    assert.equal(m.n("switchyard_reloads_total", { result: "failed" }), 1);
  });

  test("a reload that adds a port-0 listener: one new port, bound by both workers", async () => {
    const ev = await reload(router, config(`{ src: 127.0.0.2/32, to: b }`, true));
    assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
    const s = await status<Status>(admin);
    const extra = s.listeners.find((l) => l.name === "extra")!;
    assert.equal(extra.bind.length, 1);
    const extraPort = Number(extra.bind[0].slice(extra.bind[0].lastIndexOf(":") + 1));
    assert.ok(extraPort > 0 && extraPort !== port);
    assert.deepEqual(s.listeners.find((l) => l.name === "main")!.bind, [`127.0.0.1:${port}`]);
    const batch = await exchanges(router, extraPort, 40);
    assert.deepEqual([...batch.names], [["B", 40]]);
    assert.deepEqual(await workersOf(router, "extra", batch), [1, 2]);
    const m = await scrape(admin);
    assert.equal(m.n("switchyard_reloads_total", { result: "ok" }), 2);
  });

  test("a reload that cannot bind changes nothing in either worker", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const takenPort = (taken.address() as net.AddressInfo).port;
    try {
      const ev = await reload(
        router,
        config(`{ src: 127.0.0.2/32, to: a }`, true, `["127.0.0.1:0", "127.0.0.1:${takenPort}"]`),
      );
      assert.equal(ev.msg, "reload failed: the old config keeps serving");
      assert.match(
        String(ev.error),
        new RegExp(`^listener "main": cannot bind 127\\.0\\.0\\.1:${takenPort}: `),
      );
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
    // Still the last good config everywhere: 127.0.0.2 goes to B on both workers.
    const batch = await exchanges(router, port, 30, "127.0.0.2");
    made += 30;
    assert.deepEqual([...batch.names], [["B", 30]]);
    assert.deepEqual(await workersOf(router, "main", batch), [1, 2]);
    const s = await status<Status>(admin);
    assert.deepEqual(s.listeners.find((l) => l.name === "main")!.bind, [`127.0.0.1:${port}`]);
    const m = await scrape(admin);
    assert.equal(m.n("switchyard_reloads_total", { result: "failed" }), 2);
  });

  test("a SIGKILLed worker: the port keeps serving, the worker comes back, counters keep counting", async () => {
    const s0 = await status<Status>(admin);
    const victim = s0.workers.find((w) => w.worker === 1)!;
    assert.ok(victim.pid !== null);
    // Counters of the worker about to die must be in the supervisor's last snapshot.
    await until(
      async () => {
        const m = await scrape(admin);
        return m.n("switchyard_connections_active", { listener: "main" }) === 0 &&
          m.n("switchyard_connections_accepted_total", { listener: "main" }) === made;
      },
      "the counters to settle",
      15_000,
    );

    process.kill(victim.pid, "SIGKILL");
    const exited = await router.waitFor(
      () => events(router).find((e) => e.msg === "worker exited; restarting it"),
      "the supervisor to see the worker die",
    );
    assert.equal(exited.worker, 1);
    assert.equal(exited.signal, "SIGKILL");

    // Worker 2 alone serves the port meanwhile (or worker 1 again, if already back).
    const during = await exchanges(router, port, 20);
    made += 20;
    assert.deepEqual([...during.names], [["A", 20]]);

    const s1 = await until(
      async () => {
        const s = await status<Status>(admin);
        const w1 = s.workers.find((w) => w.worker === 1)!;
        return w1.state === "ready" && w1.pid !== victim.pid && s;
      },
      "worker 1 to come back",
      15_000,
    );
    assert.equal(s1.workers.find((w) => w.worker === 1)!.restarts, 1);
    assert.equal(s1.workers.find((w) => w.worker === 2)!.pid, s0.workers[1].pid);
    assert.equal(s1.ready, true);
    assert.equal((await get(admin, "/readyz")).status, 200);

    // The restarted worker runs the reloaded config and takes connections again.
    const after = await exchanges(router, port, 50, "127.0.0.2");
    made += 50;
    assert.deepEqual([...after.names], [["B", 50]]);
    assert.deepEqual(await workersOf(router, "main", after), [1, 2]);
    // It bound the port-0 listener added by a reload on the port the instance has.
    const extra = s1.listeners.find((l) => l.name === "extra")!.bind[0];
    const onExtra = await exchanges(router, Number(extra.slice(extra.lastIndexOf(":") + 1)), 40);
    assert.deepEqual(await workersOf(router, "extra", onExtra), [1, 2]);

    const m = await idleScrape(admin, "main", 15_000);
    // What the dead worker had counted is still in the sum.
    assert.equal(m.n("switchyard_connections_accepted_total", { listener: "main" }), made);
    assert.equal(m.n("switchyard_worker_restarts_total"), 1);
    assert.equal(m.n("switchyard_workers"), 2);
  });
});

describe(`workers: health checks (router on ${runtimeName})`, () => {
  let router: RouterProcess;
  let servers: http.Server[] = [];
  const health = { good: 200, bad: 200 };
  const checks = { good: 0, bad: 0 };
  const served = { good: 0, bad: 0 };

  async function web(name: "good" | "bad"): Promise<number> {
    const server = http.createServer((req, res) => {
      req.resume();
      if (req.url === "/healthz") {
        checks[name]++;
        res.writeHead(health[name], { connection: "close" }).end();
        return;
      }
      served[name]++;
      res.writeHead(200, { "content-type": "text/plain", connection: "close" }).end(`${name}\n`);
    });
    servers.push(server);
    return await new Promise<number>((resolve) =>
      server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
    );
  }

  function httpGet(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      http.get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve(body));
      }).on("error", reject);
    });
  }

  before(async () => {
    const good = await web("good");
    const bad = await web("bad");
    router = await startRouter(
      `
admin: { listen: "127.0.0.1:0" }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    default: pool
backends:
  pool:
    servers:
      - { address: "127.0.0.1:${good}", name: good }
      - { address: "127.0.0.1:${bad}", name: bad }
    health_check: { interval: 200ms, timeout: 1s, rise: 1, fall: 1, http: { path: /healthz, expect: 200 } }
`,
      ["--workers", "2"],
    );
  });

  after(async () => {
    assert.equal(await router?.stop(), 0);
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    servers = [];
  });

  test("--workers 2 starts two workers; checks run once per instance and reach both workers", async () => {
    assert.equal(listening(router).workers, 2);
    const admin = adminPort(router);
    // One checker: about one probe per interval (two workers probing would double it).
    const c0 = checks.good;
    await new Promise((r) => setTimeout(r, 2000));
    const probes = checks.good - c0;
    assert.ok(probes >= 4 && probes <= 14, `${probes} probes of good in 2 s at 200 ms`);

    health.bad = 500;
    await until(
      async () => {
        const m = await scrape(admin);
        return m.n("switchyard_backend_server_up", { backend: "pool", server: "bad" }) === 0;
      },
      "bad to be down",
      15_000,
    );
    await router.waitFor(
      () => events(router).find((e) => e.msg === "server down"),
      "the server down event",
    );

    // Every request, on either worker, now goes to good.
    const port = router.port("web");
    const before = served.bad;
    const logged = router.access.filter((r) => r.listener === "web").length;
    const bodies = await Promise.all(Array.from({ length: 40 }, () => httpGet(port)));
    assert.deepEqual([...new Set(bodies)], ["good\n"]);
    assert.equal(served.bad, before);
    // Each worker writes its own records, a moment after its responses: wait for all 40.
    const records = await router.waitFor(() => {
      const web = router.access.filter((r) => r.listener === "web");
      return web.length >= logged + 40 && web.slice(logged);
    }, "the 40 access records");
    const workers = new Set(records.map((r) => r.worker));
    assert.deepEqual([...workers].sort(), [1, 2]);
    // One checker logged it, once.
    const down = events(router).filter((e) => e.msg === "server down");
    assert.equal(down.length, 1, JSON.stringify(down));
    assert.equal(down[0].worker, undefined, "the supervisor's checker, not a worker's");

    health.bad = 200;
    await until(
      async () => {
        const m = await scrape(admin);
        return m.n("switchyard_backend_server_up", { backend: "pool", server: "bad" }) === 1;
      },
      "bad to be up again",
      15_000,
    );
    const again = await Promise.all(Array.from({ length: 40 }, () => httpGet(port)));
    assert.deepEqual([...new Set(again)].sort(), ["bad\n", "good\n"]);
  });
});

describe(`workers: a reload that changes the count (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let router: RouterProcess;

  const config = (workers: number) => `
admin: { listen: "127.0.0.1:0" }
workers: ${workers}
listeners:
  main: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:${sinkA.port}" }
`;

  before(async () => {
    sinkA = await namedSink("A");
    router = await startRouter(config(2));
  });

  after(async () => {
    assert.equal(await router?.stop(), 0);
    await sinkA?.close();
  });

  test("workers: 3 starts a third worker that takes connections; workers: 1 retires two", async () => {
    const admin = adminPort(router);
    const port = router.port("main");
    const ev = await reload(router, config(3));
    assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
    const s3 = await until(
      async () => {
        const s = await status<Status>(admin);
        return s.workers.length === 3 && s.workers.every((w) => w.state === "ready") && s;
      },
      "three ready workers",
      15_000,
    );
    assert.deepEqual(s3.workers.map((w) => w.worker), [1, 2, 3]);
    assert.equal((await get(admin, "/readyz")).status, 200);
    const batch = await exchanges(router, port, 60);
    assert.deepEqual(await workersOf(router, "main", batch), [1, 2, 3]);

    // A connection open on a retiring worker finishes: it drains like a stopping process.
    const live = await Promise.all(Array.from({ length: 6 }, () => SinkClient.open(port)));
    const ev1 = await reload(router, config(1));
    assert.equal(ev1.msg, "reloaded", JSON.stringify(ev1));
    for (const c of live) await c.send(bytes(500));
    for (const c of live) await c.finish();
    const s1 = await until(
      async () => {
        const s = await status<Status>(admin);
        return s.workers.length === 1 && s.workers[0].state === "ready" && s;
      },
      "one worker left",
      15_000,
    );
    assert.equal(s1.workers[0].worker, 1);
    const retired = await router.waitFor(() => {
      const r = events(router).filter((e) => e.msg === "worker retired");
      return r.length === 2 && r;
    }, "two worker retired events");
    assert.deepEqual(retired.map((e) => e.worker).sort(), [2, 3]);
    const after = await exchanges(router, port, 20);
    assert.deepEqual(await workersOf(router, "main", after), [1]);
    const m = await scrape(admin);
    assert.equal(m.n("switchyard_workers"), 1);
    assert.equal(m.n("switchyard_worker_restarts_total"), 0);
    assert.equal(m.n("switchyard_connections_accepted_total", { listener: "main" }), 86);
  });
});

describe(`workers: a SIGHUP during a reload or the start-up (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let sinkB: TestServer;

  /** `main`, plus one listener to sink B per name in `more`. */
  const config = (...more: string[]) => `
admin: { listen: "127.0.0.1:0" }
workers: 2
listeners:
  main: { bind: "127.0.0.1:0", protocol: tcp, default: a }
${more.map((name) => `  ${name}: { bind: "127.0.0.1:0", protocol: tcp, default: b }`).join("\n")}
backends:
  a: { servers: [{ address: "127.0.0.1:${sinkA.port}", name: A }] }
  b: { servers: [{ address: "127.0.0.1:${sinkB.port}", name: B }] }
`;

  /**
   * Sends SIGHUP and waits for the supervisor's "reload requested" line: it has taken the
   * signal. (Nothing else tells: an admin request sent after a signal may be answered first.)
   */
  async function hup(r: RouterProcess): Promise<void> {
    const requested = () => events(r).filter((e) => e.msg === "reload requested").length;
    const before = requested();
    signal(r, "SIGHUP");
    await r.waitFor(() => requested() > before, "the supervisor to take the SIGHUP");
  }

  /** Lets a stopped worker go on; in a `finally`, it may be gone already. */
  function resume(pid: number | null): void {
    try {
      if (pid !== null) process.kill(pid, "SIGCONT");
    } catch {
      // Exited: nothing to resume.
    }
  }

  /** `listener`'s port, from /status; 40 connections there reach sink B through both workers. */
  async function serves(r: RouterProcess, admin: number, listener: string): Promise<void> {
    const s = await status<Status>(admin);
    const bind = s.listeners.find((l) => l.name === listener)?.bind ?? [];
    assert.equal(bind.length, 1, `${listener} is bound: ${JSON.stringify(s.listeners)}`);
    const batch = await exchanges(r, Number(bind[0].slice(bind[0].lastIndexOf(":") + 1)), 40);
    assert.deepEqual([...batch.names], [["B", 40]]);
    assert.deepEqual(await workersOf(r, listener, batch), [1, 2]);
  }

  before(async () => {
    sinkA = await namedSink("A");
    sinkB = await namedSink("B");
  });

  after(async () => {
    for (const s of [sinkA, sinkB]) await s?.close();
  });

  test("a second SIGHUP while the workers apply the first: one more reload follows and binds l3", async () => {
    const router = await startRouter(config());
    let leader: number | null = null;
    try {
      const admin = adminPort(router);
      // Worker 1 (the first ready one) applies a reload before the others. Stopped, it keeps
      // the first reload running for as long as the test needs; a real one lasts a few ms.
      leader = (await status<Status>(admin)).workers.find((w) => w.worker === 1)!.pid!;
      process.kill(leader, "SIGSTOP");
      writeFileSync(router.configFile, config("l2"));
      await hup(router); // the first reload is under way: it waits for worker 1
      writeFileSync(router.configFile, config("l2", "l3"));
      await hup(router);
      resume(leader);

      // The file as the second signal found it is applied, by one more reload.
      const reloads = await router.waitFor(() => {
        const r = events(router).filter(isReloadEvent);
        return r.length === 2 && r;
      }, "the reload the second SIGHUP asked for (before the fix it was dropped)");
      assert.deepEqual(reloads.map((e) => e.msg), ["reloaded", "reloaded"]);
      assert.equal(reloads[1].listeners, 3);
      await serves(router, admin, "l3");
      await serves(router, admin, "l2");
      const m = await scrape(admin);
      assert.equal(m.n("switchyard_reloads_total", { result: "ok" }), 2);
      assert.equal(m.n("switchyard_reloads_total", { result: "failed" }), 0);
    } finally {
      resume(leader);
      assert.equal(await router.stop(), 0);
    }
  });

  test("a SIGHUP while the workers start: applied once they are up", async () => {
    const router = spawnRouter(config());
    let first: number | null = null;
    try {
      // Stopped while it starts, worker 1 keeps the start-up going until the signal is in.
      const started = await router.waitFor(
        () => events(router).find((e) => e.msg === "worker started" && e.worker === 1),
        "worker 1 to be spawned",
      );
      first = started.pid as number;
      process.kill(first, "SIGSTOP");
      writeFileSync(router.configFile, config("l2"));
      await hup(router);
      resume(first);
      await router.listening();
      assert.deepEqual(listening(router).listeners, [`main=127.0.0.1:${router.port("main")}`]);
      const ev = await router.waitFor(
        () => events(router).find(isReloadEvent),
        "the reload the SIGHUP asked for (before the fix it was dropped)",
      );
      assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
      assert.equal(ev.listeners, 2);
      const admin = adminPort(router);
      await serves(router, admin, "l2");
      assert.equal((await scrape(admin)).n("switchyard_reloads_total", { result: "ok" }), 1);
    } finally {
      resume(first);
      assert.equal(await router.stop(), 0);
    }
  });
});

describe(`workers: start-up (router on ${runtimeName})`, () => {
  test("a listener address taken by another process: exit 1 with one message naming it", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const router = startRouter(`
workers: 2
listeners:
  web:
    bind: "127.0.0.1:${port}"
    protocol: tcp
    default: "127.0.0.1:9"
`);
      await assert.rejects(router, /router exited \(1\)/);
      const err = await router.catch((e: Error) => e.message);
      const errors = String(err).split("\n").filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l)).filter((e) => e.level === "error");
      assert.equal(errors.length, 1, String(err));
      assert.match(
        errors[0].msg,
        new RegExp(`^listener "web": cannot bind 127\\.0\\.0\\.1:${port}: `),
      );
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});

describe(`workers: transparent listener and usesrc in network namespaces (${runtimeName})`, () => {
  const SKIP = "needs root (network namespaces, IP_TRANSPARENT)";
  const topo = new Topology(`w${process.pid % 100_000}`);
  const peers: Peer[] = [];
  let router: RouterProcess | null = null;
  let setupError: Error | null = null;

  before(async () => {
    if (!isRoot) return;
    try {
      topo.create();
      const P = topo.proxy;
      const r = await cliIn(P, ["tproxy-setup", "--apply"]);
      if (r.code !== 0) throw new Error(`tproxy-setup --apply failed:\n${r.stdout}${r.stderr}`);
      sh(inNs(P, [
        ..."iptables -t mangle -A PREROUTING -p tcp -d 198.51.100.128/25".split(" "),
        ..."-j TPROXY --tproxy-mark 1 --on-port 7010".split(" "),
      ]));
      peers.push(await startPeer(topo.backend, ["203.0.113.2:9000"]));
      router = await startRouterIn(
        P,
        `
workers: 2
defaults: { connect_timeout: 2s }
listeners:
  t_client: { bind: [":7001"], protocol: tcp, default: be_client }
  t_inbound: { bind: ["0.0.0.0:7010"], protocol: tcp, transparent: true, default: be_inbound }
backends:
  be_client: { servers: ["203.0.113.2:9000"], source: { usesrc: client } }
  be_inbound: { servers: ["203.0.113.2:9000"], proxy_protocol: v1 }
`,
      );
    } catch (err) {
      setupError = err as Error;
    }
  });

  after(async () => {
    if (!isRoot) return;
    await router?.stop().catch(() => {});
    for (const p of peers) await p.stop().catch(() => {});
    topo.destroy();
  });

  /** `n` connections from the client namespace, 10 at a time. */
  async function connections(host: string, port: number, n: number) {
    const out = [];
    for (let i = 0; i < n; i += 10) {
      out.push(
        ...await Promise.all(
          Array.from({ length: Math.min(10, n - i) }, () => connectFrom(topo.client, host, port)),
        ),
      );
    }
    for (const r of out) assert.equal(r.error, undefined, r.error);
    return out;
  }

  test("both workers accept on the IP_TRANSPARENT listener (TPROXY) and connect from the client's address", async (t) => {
    if (!isRoot) {
      t.skip(SKIP);
      return;
    }
    if (setupError !== null) throw setupError;
    const r = router!;
    try {
      assert.equal(listening(r).workers, 2);
      // usesrc client: the backend sees the client's own address and port, from either worker.
      const since = r.access.length;
      const direct = await connections("198.51.100.1", 7001, 30);
      for (const c of direct) assert.equal(peerInfo(c.response).peer, c.local);
      // transparent: true: connections to foreign addresses, caught by TPROXY.
      const inbound = await connections("198.51.100.200", 443, 30);
      for (const c of inbound) {
        const port = c.local.slice(c.local.lastIndexOf(":") + 1);
        assert.match(
          peerInfo(c.response).first,
          new RegExp(`^PROXY TCP4 198\\.51\\.100\\.2 198\\.51\\.100\\.200 ${port} 443\r\n`),
        );
      }
      const batch = (clients: { local: string }[]): Batch => ({
        names: new Map(),
        clients: new Set(clients.map((c) => c.local)),
        since,
      });
      assert.deepEqual(await workersOf(r, "t_client", batch(direct)), [1, 2]);
      assert.deepEqual(await workersOf(r, "t_inbound", batch(inbound)), [1, 2]);
    } catch (err) {
      (err as Error).message += `\nrouter stderr:\n${r.stderrLines.join("\n")}`;
      throw err;
    }
  });
});
