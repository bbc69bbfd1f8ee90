/**
 * SIGTERM end to end, the same scenario for a single process (`workers: 1`) and for a
 * supervisor with two workers: the router stops accepting, /readyz turns 503 while /healthz
 * stays 200, a slow transfer finishes byte-exact, one "stopped" event, exit 0; past
 * shutdown_timeout what is left is cut and the exit is still 0. With workers, each worker
 * logs its own "worker draining" and "worker stopped". The router runs as a subprocess under
 * the test's runtime; the tests wait on its events and poll /status, never on fixed sleeps.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { adminPort, events, get, signal, status, until } from "../helpers/admin.ts";
import { namedSink, SinkClient, type TestServer } from "../helpers/backends.ts";
import { tryConnect } from "../helpers/clients.ts";
import { pattern as bytes } from "../helpers/http_backends.ts";
import { startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** What /status answers (the parts these tests read). */
interface Status {
  ready: boolean;
  draining: boolean;
  listeners: { name: string; active: number }[];
}

for (const workers of [1, 2]) {
  /** How many "worker draining" (and "worker stopped") events: one per worker, if any. */
  const workerEvents = workers > 1 ? workers : 0;

  describe(`SIGTERM, workers: ${workers} (router on ${runtimeName})`, () => {
    let sinkA: TestServer;

    before(async () => {
      sinkA = await namedSink("A");
    });

    after(async () => {
      await sinkA?.close();
    });

    const config = (timeout: string) => `
admin: { listen: "127.0.0.1:0" }
workers: ${workers}
defaults: { shutdown_timeout: ${timeout} }
listeners:
  slow:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:${sinkA.port}"
`;

    test("stops accepting, /readyz turns 503, a slow transfer finishes byte-exact, exit 0", async () => {
      const router = await startRouter(config("30s"));
      try {
        const admin = adminPort(router);
        const port = router.port("slow");
        const c = await SinkClient.open(port);
        const chunk = bytes(64 << 10, 9);
        for (let i = 0; i < 4; i++) await c.send(chunk);
        // A supervisor counts a worker's connections from the snapshots it asks for.
        await until(
          async () => (await status<Status>(admin)).listeners[0].active === 1,
          "the live one",
          15_000,
        );

        signal(router, "SIGTERM");
        const ev = await router.waitFor(
          () => events(router).find((e) => e.msg === "draining" && e.worker === undefined),
          "the draining event",
        );
        assert.equal(ev.signal, "SIGTERM");
        assert.equal(ev.active, 1);
        assert.equal((await get(admin, "/readyz")).status, 503);
        assert.equal((await get(admin, "/healthz")).status, 200);
        await router.waitFor(
          () => events(router).filter((e) => e.msg === "worker draining").length === workerEvents,
          "every worker draining",
        );
        const s = await status<Status>(admin);
        assert.equal(s.draining, true);
        assert.equal(s.ready, false);
        assert.equal(await tryConnect(port), "refused");

        // The transfer goes on while the router waits for it.
        for (let i = 0; i < 12; i++) {
          await c.send(chunk);
          assert.equal(router.child.exitCode, null, "still running while the transfer lasts");
        }
        await c.finish();
        assert.equal(await router.exited, 0);
        const stopped = events(router).filter((e) => e.msg === "stopped");
        assert.equal(stopped.length, 1);
        assert.equal(stopped[0].left, 0);
        assert.equal(
          events(router).filter((e) => e.msg === "worker stopped").length,
          workerEvents,
        );
        const rec = router.access.find((r) => r.listener === "slow");
        assert.equal(rec?.outcome, "ok");
        assert.equal(rec?.bytes_in, 16 * chunk.length);
      } finally {
        await router.stop();
      }
    });

    test("past shutdown_timeout the remaining connections are cut and the exit is still 0", async () => {
      const router = await startRouter(config("300ms"));
      try {
        const c = await SinkClient.open(router.port("slow"));
        await c.send(bytes(100));
        signal(router, "SIGTERM");
        assert.equal(await router.exited, 0);
        const stopped = events(router).find((e) => e.msg === "stopped");
        assert.equal(stopped?.left, 1);
        await c.c.until(() => c.c.ended || c.c.closed, "the cut");
        c.c.destroy();
      } finally {
        await router.stop();
      }
    });
  });
}
