/**
 * Automatic certificates with `workers: 2`, against Pebble: the supervisor orders once (HTTP-01,
 * and on Bun TLS-ALPN-01 too, answered by whichever worker Pebble's validation reaches) and
 * pushes the certificate to both workers; curl through the terminating listener trusts it on both; /status and /metrics
 * report it from the supervisor; a SIGHUP reload and a worker restarted after a SIGKILL keep
 * serving it, and nothing is ordered again.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { adminPort, events, scrape, signal, status, until } from "../helpers/admin.ts";
import { curlTls, freePort } from "../helpers/clients.ts";
import { type Pebble, startPebble } from "../helpers/pebble.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const NAMES = ["a.acme.test", "b.acme.test"];

interface Status {
  workers: { worker: number; pid: number | null; state: string; restarts: number }[];
  certificates: {
    names: string[];
    source: string;
    file: string | null;
    not_after: string | null;
    next_renewal: string | null;
    last_error: string | null;
  }[];
}

/** A backend that answers with the Host it was asked for. */
async function hostEcho(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => res.end(`backend saw ${req.headers.host}\n`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

for (const challenge of ["http-01", "tls-alpn-01"]) {
  describe(`acme, ${challenge}, workers: 2 (router on ${runtimeName})`, () => {
    let pebble: Pebble;
    let router: RouterProcess;
    let backend: { server: http.Server; port: number };
    let roots: string;
    let tlsPort: number;
    let admin: number;
    let config: string;
    const storage = mkdtempSync(join(tmpdir(), "switchyard-acme-workers-"));

    const obtained = () => events(router).filter((e) => e.msg === "certificate obtained");

    /**
     * `n` curl requests through the terminating listener, `concurrency` at a time, alternating
     * the names; each must succeed. Returns the workers that served them (from the access log).
     */
    async function curls(n: number, concurrency = 8): Promise<unknown[]> {
      const since = router.access.length;
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const name = NAMES[next++ % NAMES.length];
          const r = await curlTls(name, tlsPort, roots);
          assert.equal(r.code, 0, `${name}: ${r.stderr}`);
          assert.equal(r.stdout, `backend saw ${name}:${tlsPort}\n`);
        }
      }));
      // Each request is one TLS session of the terminating listener, logged by its worker.
      const records = await router.waitFor(() => {
        const recs = router.access.slice(since).filter((r) => r.listener === "secure");
        return recs.length >= n && recs;
      }, `${n} access records of the secure listener`);
      for (const r of records) {
        assert.equal(r.outcome, "terminated", JSON.stringify(r));
        assert.ok(NAMES.includes(String(r.sni)), JSON.stringify(r));
      }
      return [...new Set(records.map((r) => r.worker))].sort();
    }

    before(async () => {
      backend = await hostEcho();
      const httpPort = await freePort();
      tlsPort = await freePort();
      pebble = await startPebble({ httpPort, tlsPort });
      config = `
admin: { listen: "127.0.0.1:0" }
workers: 2
acme:
  email: ops@acme.test
  directory: ${pebble.directory}
  ca: ${pebble.caFile}
  storage: ${storage}
  challenges: [${challenge}]
certificates:
  - acme: [${NAMES.join(", ")}]
listeners:
  web:
    bind: "127.0.0.1:${httpPort}"
    protocol: http
    default: app
  secure:
    bind: "127.0.0.1:${tlsPort}"
    protocol: tls
    terminate: web
backends:
  app: { servers: ["127.0.0.1:${backend.port}"] }
`;
      router = await startRouter(config);
      admin = adminPort(router);
      roots = join(storage, "..", `${storage.split("/").at(-1)}-pebble-roots.pem`);
      writeFileSync(roots, await pebble.roots());
    });

    after(async () => {
      if (router !== undefined) assert.equal(await router.stop(), 0);
      backend?.server.close();
      await pebble?.close();
    });

    test("the supervisor obtains one certificate for both names; both workers serve it", async () => {
      const e = await router.waitFor(() => obtained()[0], "the order", 60_000);
      assert.deepEqual(e.names, NAMES);
      // Logged by the supervisor (worker lines carry `worker`).
      assert.equal(e.worker, undefined);
      assert.deepEqual(await curls(40), [1, 2]);
      assert.equal(obtained().length, 1);
    });

    test("/status lists it (source acme) and /metrics has its expiry and one order", async () => {
      const s = await status<Status>(admin);
      assert.equal(s.certificates.length, 1);
      const [c] = s.certificates;
      assert.deepEqual(c.names, NAMES);
      assert.equal(c.source, "acme");
      assert.equal(c.file, null);
      assert.equal(c.last_error, null);
      assert.ok(c.not_after !== null && Date.parse(c.not_after) > Date.now(), c.not_after ?? "");
      assert.ok(c.next_renewal !== null && Date.parse(c.next_renewal) > Date.now());

      const m = await scrape(admin);
      const left = m.get("switchyard_certificate_expiry_seconds", { name: NAMES[0] });
      assert.ok(left !== undefined && left > 0, m.text);
      assert.equal(m.get("switchyard_acme_orders_total", { result: "ok" }), 1);
      assert.equal(m.get("switchyard_acme_orders_total", { result: "failed" }), 0);
    });

    test("a SIGHUP reload keeps serving it and orders nothing", async () => {
      const isReloaded = (e: Record<string, unknown>) =>
        e.worker === undefined &&
        (e.msg === "reloaded" || String(e.msg).startsWith("reload failed"));
      writeFileSync(
        router.configFile,
        config.replace("default: app", "default: app\n    routes: []"),
      );
      signal(router, "SIGHUP");
      const e = await router.waitFor(() => events(router).find(isReloaded), "the reload");
      assert.equal(e.msg, "reloaded");
      assert.deepEqual(await curls(40), [1, 2]);
      const s = await status<Status>(admin);
      assert.deepEqual(s.certificates.map((c) => [c.names, c.source]), [[NAMES, "acme"]]);
      assert.equal((await scrape(admin)).get("switchyard_acme_orders_total", { result: "ok" }), 1);
    });

    test("a worker restarted after a SIGKILL serves it from its start", async () => {
      const before = await status<Status>(admin);
      const victim = before.workers[0];
      process.kill(victim.pid!, "SIGKILL");
      await until(
        async () => {
          const s = await status<Status>(admin);
          const w = s.workers.find((w) => w.worker === victim.worker)!;
          return w.restarts === victim.restarts + 1 && w.state === "ready" && w.pid !== victim.pid;
        },
        "the worker's restart",
        15_000,
      );
      assert.deepEqual(await curls(40), [1, 2]);
    });

    test("exactly one certificate obtained, by the supervisor", () => {
      assert.equal(obtained().length, 1);
      assert.ok(
        !events(router).some((e) =>
          e.worker !== undefined && String(e.msg).startsWith("certificate ")
        ),
        "no worker orders or loads from storage",
      );
    });
  });
}
