/**
 * Staying bounded under abuse and faults: thousands of silent clients, slow readers on either
 * side, slow-trickling heads, and backends that die or hang.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { RawClient } from "../helpers/clients.ts";
import { fds, poll, rssKiB } from "../helpers/proc.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** A server that writes `total` bytes as fast as the peer lets it, then ends. */
function firehose(
  total: number,
): Promise<{ server: net.Server; port: number; sent: () => number }> {
  let sent = 0;
  const chunk = new Uint8Array(65536).fill(120);
  const server = net.createServer((s) => {
    s.on("error", () => {});
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          s.once("drain", pump);
          return;
        }
      }
      s.end();
    };
    pump();
  });
  return new Promise((resolve) =>
    server.listen(
      0,
      "127.0.0.1",
      () => resolve({ server, port: (server.address() as net.AddressInfo).port, sent: () => sent }),
    )
  );
}

/** A server that reads nothing at all (its receive window fills). */
function blackHole(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => {
    s.pause();
    s.on("error", () => {});
  });
  return new Promise((resolve) =>
    server.listen(
      0,
      "127.0.0.1",
      () => resolve({ server, port: (server.address() as net.AddressInfo).port }),
    )
  );
}

describe(`hardening (router on ${runtimeName})`, () => {
  const MiB = 1 << 20;
  let down: Awaited<ReturnType<typeof firehose>>;
  let hole: Awaited<ReturnType<typeof blackHole>>;
  let router: RouterProcess;

  before(async () => {
    down = await firehose(256 * MiB);
    hole = await blackHole();
    router = await startRouter(`
listeners:
  silent:
    bind: "127.0.0.1:0"
    protocol: tls
    inspect_timeout: 10s
    default: "127.0.0.1:9"
  hello:
    bind: "127.0.0.1:0"
    protocol: tls
    inspect_timeout: 3s
    default: "127.0.0.1:9"
  web:
    bind: "127.0.0.1:0"
    protocol: http
    inspect_timeout: 2s
    default: "127.0.0.1:9"
  down:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:${down.port}"
  up:
    bind: "127.0.0.1:0"
    protocol: tcp
    idle_timeout: 1s
    default: "127.0.0.1:${hole.port}"
`);
  });

  after(async () => {
    await router?.stop();
    down?.server.close();
    hole?.server.close();
  });

  test(
    "10,000 silent clients on a tls listener: bounded memory, all closed at inspect_timeout, fds back to baseline",
    {
      timeout: 120_000,
    },
    async () => {
      const pid = router.child.pid!;
      const rss0 = rssKiB(pid);
      const fd0 = fds(pid);
      const N = 10_000;
      const sockets: net.Socket[] = [];
      let closed = 0;
      // Batches keep the listen backlog from overflowing.
      for (let i = 0; i < N; i += 500) {
        await Promise.all(
          Array.from(
            { length: Math.min(500, N - i) },
            () =>
              new Promise<void>((resolve, reject) => {
                const s = net.connect({ host: "127.0.0.1", port: router.port("silent") });
                s.once("connect", () => resolve());
                s.once("error", reject);
                s.on("close", () => closed++);
                s.on("end", () => s.end());
                sockets.push(s);
              }),
          ),
        );
      }
      await poll(
        () => fds(pid) >= fd0 + N,
        "the router to accept every connection",
        30_000,
      );
      const perConn = (rssKiB(pid) - rss0) / N;
      console.log(`${runtimeName}: ${perConn.toFixed(1)} KiB per silent connection`);
      assert.ok(perConn < 64, `${perConn.toFixed(1)} KiB per silent connection`);
      await poll(() => closed === N, "every silent client to be closed", 30_000, 100);
      await poll(() => fds(pid) <= fd0 + 5, "the fd count to return to its baseline", 10_000);
    },
  );

  test("a client that stops reading: pushing 256 MiB toward it grows the router by < 16 MiB", {
    timeout: 120_000,
  }, async () => {
    const pid = router.child.pid!;
    const rss0 = rssKiB(pid);
    const c = await RawClient.connect(router.port("down"));
    c.socket.pause();
    // Once the backend can no longer write, every buffer on the way is full.
    let last = -1;
    await poll(
      () => {
        const now = down.sent();
        const stalled = now === last && now > 0;
        last = now;
        return stalled;
      },
      "the backend to be blocked by backpressure",
      30_000,
      500,
    );
    const grown = (rssKiB(pid) - rss0) / 1024;
    assert.ok(grown < 16, `router grew by ${grown.toFixed(1)} MiB`);
    c.socket.resume();
    await c.until(() => c.ended, "the whole 256 MiB", 90_000);
    assert.equal(c.received.reduce((n, b) => n + b.length, 0), 256 * MiB);
    c.destroy();
  });

  test(
    "a backend that stops reading an upload: the router grows by < 16 MiB, and idle_timeout cuts it",
    {
      timeout: 60_000,
    },
    async () => {
      const pid = router.child.pid!;
      const rss0 = rssKiB(pid);
      const c = await RawClient.connect(router.port("up"));
      const chunk = new Uint8Array(65536);
      let pushed = 0;
      // Write until the socket reports backpressure and stays there.
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (pushed < 256 * MiB && c.socket.write(chunk)) pushed += chunk.length;
          resolve();
        };
        pump();
      });
      const t0 = Date.now();
      await c.until(
        () => c.closed || c.ended || c.error !== null,
        "idle_timeout to cut the stalled upload",
        20_000,
      );
      assert.ok(Date.now() - t0 >= 500, "cut before idle_timeout");
      const grown = (rssKiB(pid) - rss0) / 1024;
      assert.ok(grown < 16, `router grew by ${grown.toFixed(1)} MiB`);
      await router.waitForAccess(
        (x) => x.listener === "up" && x.outcome === "idle_timeout",
        "idle log",
      );
    },
  );

  test("a ClientHello trickled one byte every 100 ms is cut at inspect_timeout", {
    timeout: 30_000,
  }, async () => {
    const hello = new Uint8Array(
      readFileSync(new URL("../fixtures/clienthello/chromium.bin", import.meta.url)),
    );
    const c = await RawClient.connect(router.port("hello"));
    const t0 = Date.now();
    for (let i = 0; i < hello.length && !c.closed && !c.ended && c.error === null; i++) {
      c.socket.write(hello.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.until(() => c.closed || c.ended || c.error !== null, "the cut", 10_000);
    const took = Date.now() - t0;
    assert.ok(took >= 2800 && took < 6000, `cut after ${took} ms`);
  });

  test("an HTTP head trickled one byte every 100 ms gets 408 at inspect_timeout", {
    timeout: 30_000,
  }, async () => {
    const head = "GET / HTTP/1.1\r\nHost: slow.test\r\nUser-Agent: a-very-slow-client\r\n\r\n";
    const c = await RawClient.connect(router.port("web"));
    for (let i = 0; i < head.length && !c.ended && !c.closed; i++) {
      await c.write(head[i]);
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.until(() => c.ended || c.closed, "the 408", 10_000);
    assert.match(c.text, /^HTTP\/1\.1 408 /);
  });

  test(
    "a backend killed mid-transfer: the client gets a prompt close and the router keeps serving",
    {
      timeout: 30_000,
    },
    async () => {
      // A backend that sends some bytes and dies with a reset once they reach the client (a
      // reset sooner can beat the router's connect: Bun then reports the connect as failed).
      const sockets: net.Socket[] = [];
      const dying = net.createServer((s) => {
        s.on("error", () => {});
        s.write(new Uint8Array(100_000));
        sockets.push(s);
      });
      await new Promise<void>((r) => dying.listen(0, "127.0.0.1", r));
      const port = (dying.address() as net.AddressInfo).port;
      const r2 = await startRouter(`
listeners:
  t: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:${port}" }
`);
      try {
        for (let i = 0; i < 3; i++) {
          const c = await RawClient.connect(r2.port("t"));
          await c.until(() => c.received.length > 0, "the backend's first bytes");
          sockets.shift()!.resetAndDestroy();
          const t0 = Date.now();
          await c.until(() => c.ended || c.closed || c.error !== null, "a prompt close", 5000);
          assert.ok(Date.now() - t0 < 2000);
          c.destroy();
        }
        const recs = await r2.waitFor(() => r2.access.length >= 3 && r2.access, "3 records");
        assert.deepEqual(recs.map((x) => x.outcome), [
          "server_error",
          "server_error",
          "server_error",
        ]);
      } finally {
        await r2.stop();
        dying.close();
      }
    },
  );
});
