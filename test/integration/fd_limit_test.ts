/**
 * Running out of file descriptors: under `prlimit --nofile=128` a flood of connections meets
 * the connection budget, which is logged once; live connections keep working, the flood is
 * closed promptly rather than left hanging, and accepting resumes once fds free up.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { events } from "../helpers/admin.ts";
import { echoServer, type TestServer } from "../helpers/backends.ts";
import { RawClient } from "../helpers/clients.ts";
import { fds, poll } from "../helpers/proc.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const FLOOD = 300;

/** Sends `msg` and resolves once it came back. */
async function echoes(c: RawClient, msg: string): Promise<void> {
  const want = c.text + msg;
  await c.write(msg);
  await c.until(() => c.text === want, `the echo of ${msg}`);
}

describe(`fd limit (router on ${runtimeName})`, () => {
  let echo: TestServer;
  let router: RouterProcess;

  before(async () => {
    echo = await echoServer();
    router = await startRouter(
      `
listeners:
  t:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:${echo.port}"
`,
      [],
      ["prlimit", "--nofile=128"],
    );
  });

  after(async () => {
    await router?.stop();
    await echo?.close();
  });

  test("a flood past the fd limit is refused with one log line; accepting resumes", {
    timeout: 60_000,
  }, async () => {
    const port = router.port("t");
    const pid = router.child.pid!;
    const listening = events(router).find((e) => e.msg === "listening")!;
    const budget = listening.fd_budget as number;
    assert.ok(budget > 20 && budget < 128, `budget ${budget} fits 128 fds`);
    // One connection through and logged first: the runtimes open some fds lazily (Bun dups
    // stdout on its first write there).
    const warm = await RawClient.connect(port);
    await echoes(warm, "warm");
    warm.destroy();
    await router.waitFor(() => router.access.length === 1, "the warm-up record");
    const baseline = fds(pid);

    const early = await RawClient.connect(port);
    await echoes(early, "before");

    const flood = await Promise.all(
      Array.from({ length: FLOOD }, () => RawClient.connect(port).catch(() => null)),
    );
    const live = flood.filter((c) => c !== null);
    await Promise.all(live.map((c) => c.write("x").catch(() => {})));
    // Every flood connection is either served (its byte echoed) or ended: none hangs.
    await Promise.all(
      live.map((c) =>
        c.until(() => c.text === "x" || c.ended || c.closed, "an echo or a close", 20_000)
      ),
    );
    const served = live.filter((c) => c.text === "x" && !c.ended && !c.closed).length;
    // Each proxied pair holds two fds; the early connection is one pair.
    assert.equal(served, Math.floor(budget / 2) - 1, "as many as the budget holds were served");
    await echoes(early, "during");

    for (const c of live) c.destroy();
    // The served ones are logged as they close, which frees their fds.
    await router.waitFor(
      () => router.access.filter((r) => r.outcome === "ok").length === served + 1,
      "the served flood connections to close",
    );
    const late = await RawClient.connect(port);
    await echoes(late, "after");
    await echoes(early, "still");
    await router.waitFor(
      () => router.stderrLines.some((l) => l.includes('"accepting again"')),
      "the end of the burst",
    );
    const all = events(router);
    const warns = all.filter((e) => e.level === "warn" || e.level === "error");
    assert.deepEqual(warns.map((e) => e.msg), [
      "file descriptors nearly exhausted: refusing new connections",
    ]);
    const end = all.find((e) => e.msg === "accepting again")!;
    assert.equal(end.refused, live.length - served);
    const refusedLogs = router.access.filter((r) => r.outcome === "over_limit");
    assert.equal(refusedLogs.length, live.length - served);
    early.destroy();
    late.destroy();
    await poll(() => fds(pid) <= baseline, "fds back to the baseline", 10_000);
  });
});
