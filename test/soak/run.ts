/**
 * `deno task soak`: mixed load through one router for SOAK_MINUTES (default 10) on the runtime
 * running this script (the task runs it on Deno, then on Bun):
 * - tcp: 64 KiB echo exchanges, a new connection each, to a backend process that is
 *   SIGKILLed and restarted every SOAK_KILL_EVERY seconds (default 30): the chaos;
 * - tls passthrough: a handshake with the backend and one echo, a new connection each;
 * - http keep-alive: requests on persistent connections;
 * - http new connections: one request per connection.
 *
 * Passes when no connection fails except tcp exchanges in flight at a kill, and the router's
 * RSS and fd count, measured with the load paused after warm-up and again at the end, are
 * within 10% of each other. Not part of `npm test`.
 *
 * Usage: deno run -A test/soak/run.ts   (or bun test/soak/run.ts)
 */

import { Buffer } from "node:buffer";
import http from "node:http";
import process from "node:process";
import tls from "node:tls";
import { selfSigned } from "../helpers/certs.ts";
import { EchoProcess } from "../helpers/echo_process.ts";
import { httpBackend } from "../helpers/http_backends.ts";
import { type Exchange, load } from "../helpers/load.ts";
import { fds, rssKiB } from "../helpers/proc.ts";
import { startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const KILL_EVERY_S = Number(process.env.SOAK_KILL_EVERY ?? 30);
const WARMUP_MS = Math.min(60_000, MINUTES * 6_000);
const say = (s: string) => process.stdout.write(`[soak ${runtimeName}] ${s}\n`);

/** Counts per kind of load: successes, and failures with their reasons. */
class Tally {
  ok = 0;
  readonly failures: { at: number; why: string }[] = [];
}

/** A TLS echo backend for passthrough: the router never sees inside. */
function tlsEcho(cert: { cert: string; key: string }): Promise<{ port: number; close(): void }> {
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as { port: number }).port,
        close: () => server.close(),
      }))
  );
}

/** One passthrough connection: handshake, echo, an orderly close (FIN, not a reset). */
function tlsOnce(port: number, ca: string): Promise<string | null> {
  return new Promise((resolve) => {
    let why: string | null = "closed before the echo";
    const s = tls.connect({ host: "127.0.0.1", port, servername: "soak.test", ca });
    const timer = setTimeout(() => s.destroy(new Error("no answer within 10 s")), 10_000);
    s.on("secureConnect", () => s.write("ping"));
    s.on("data", (c: Uint8Array) => {
      why = Buffer.from(c).toString() === "ping" ? null : "bad echo";
      s.end();
    });
    s.on("error", (e) => why = e.message);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(why);
    });
  });
}

/** One HTTP GET through `agent`; null on a 200 with the backend's JSON. */
function get(port: number, agent: http.Agent, close: boolean): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({
      host: "127.0.0.1",
      port,
      path: "/soak",
      agent,
      headers: { host: "web.soak.test", ...(close ? { connection: "close" } : {}) },
      timeout: 10_000,
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => body += c);
      res.on(
        "end",
        () =>
          resolve(
            res.statusCode === 200 && body.includes('"/soak"') ? null : `status ${res.statusCode}`,
          ),
      );
      res.on("error", (e) => resolve(e.message));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(e.message));
  });
}

/** Runs `once` in `n` loops until stopped, tallying. */
function loops(n: number, tally: Tally, once: () => Promise<string | null>) {
  let stopped = false;
  const all = Array.from({ length: n }, async () => {
    while (!stopped) {
      const why = await once();
      if (why === null) tally.ok++;
      else tally.failures.push({ at: Date.now(), why });
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(all);
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main(): Promise<number> {
  const cert = selfSigned(["soak.test"]);
  let echo = await EchoProcess.start();
  const tlsb = await tlsEcho(cert);
  const web = await httpBackend("web");
  const router = await startRouter(`
admin:
  listen: "127.0.0.1:0"
listeners:
  tcp:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:${echo.port}"
  tls:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: soak.test, to: "127.0.0.1:${tlsb.port}" }
  web:
    bind: "127.0.0.1:0"
    protocol: http
    forwarded: [x-forwarded-for]
    routes:
      - { host: web.soak.test, to: "127.0.0.1:${web.port}" }
`);
  // The access log is one line per connection or request: counted, not kept.
  let records = 0;
  const notOk = new Map<string, number>();
  router.child.stdout!.removeAllListeners("data");
  let rest = "";
  router.child.stdout!.on("data", (s: string) => {
    const parts = (rest + s).split("\n");
    rest = parts.pop()!;
    for (const line of parts) {
      records++;
      const outcome = /"outcome":"([^"]+)"/.exec(line)?.[1];
      if (outcome !== undefined && outcome !== "ok") {
        const key = `${/"listener":"([^"]+)"/.exec(line)?.[1]} ${outcome}`;
        notOk.set(key, (notOk.get(key) ?? 0) + 1);
      }
    }
  });
  const pid = router.child.pid!;
  const payload = new Uint8Array(64 * 1024).map((_, i) => (i * 13) & 0xff);
  const tcp = { results: [] as Exchange[] };
  const tlsT = new Tally();
  const keep = new Tally();
  const fresh = new Tally();
  // Keep-alive loops each own an agent with one socket, so requests reuse a connection.
  const keepAgents = Array.from(
    { length: 4 },
    () => new http.Agent({ keepAlive: true, maxSockets: 1 }),
  );
  let nextAgent = 0;
  const closeAgent = new http.Agent({ keepAlive: false });
  const run = () => [
    load(router.port("tcp"), 4, payload, (e) => tcp.results.push(e)),
    loops(2, tlsT, () => tlsOnce(router.port("tls"), cert.cert)),
    loops(4, keep, () => get(router.port("web"), keepAgents[nextAgent++ % 4], false)),
    loops(2, fresh, () => get(router.port("web"), closeAgent, true)),
  ];
  /** The load paused and every connection closed: what the router holds at rest. */
  const atRest = async (running: { stop(): Promise<void> }[]) => {
    await Promise.all(running.map((r) => r.stop()));
    for (const a of keepAgents) a.destroy();
    const deadline = Date.now() + 10_000;
    // The router closes its side a moment after the clients: wait for its fd count to settle.
    let last = -1;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const now = fds(pid);
      if (now === last) break;
      last = now;
    }
    return { rss: rssKiB(pid), fds: fds(pid) };
  };

  const kills: { at: number; gone: number; up: number }[] = [];
  const t0 = Date.now();
  const end = t0 + MINUTES * 60_000;
  let running = run();
  let nextKill = t0 + KILL_EVERY_S * 1000;
  const samples: { t: number; rss: number; fds: number }[] = [];
  let warm: { rss: number; fds: number } | null = null;
  let nextSample = t0;
  while (Date.now() < end && router.child.exitCode === null) {
    const now = Date.now();
    if (warm === null && now - t0 >= WARMUP_MS) {
      warm = await atRest(running);
      say(`after warm-up, at rest: RSS ${(warm.rss / 1024).toFixed(1)} MiB, ${warm.fds} fds`);
      running = run();
    }
    if (now >= nextKill) {
      const at = Date.now();
      await echo.kill();
      const gone = Date.now();
      echo = await EchoProcess.start(echo.port);
      kills.push({ at, gone, up: Date.now() });
      nextKill += KILL_EVERY_S * 1000;
    }
    if (now >= nextSample) {
      samples.push({ t: now - t0, rss: rssKiB(pid), fds: fds(pid) });
      nextSample += 10_000;
      const s = samples[samples.length - 1];
      say(
        `${Math.round(s.t / 1000)} s: RSS ${(s.rss / 1024).toFixed(1)} MiB, ${s.fds} fds, ` +
          `tcp ${tcp.results.length} tls ${tlsT.ok} keep-alive ${keep.ok} new ${fresh.ok}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const crashed = router.child.exitCode;
  const final = await atRest(running);
  closeAgent.destroy();

  const inFlight = (e: Exchange) => kills.some((k) => e.start <= k.gone && k.at <= e.end);
  const tcpFailed = tcp.results.filter((e) => !e.ok);
  const stray = tcpFailed.filter((e) => !inFlight(e));
  const secs = (Date.now() - t0) / 1000;
  say(`${secs.toFixed(0)} s, ${kills.length} backend kills`);
  say(
    `tcp ${tcp.results.length} exchanges (${tcpFailed.length} lost in flight at a kill, ` +
      `${stray.length} other failures); tls ${tlsT.ok} ok / ${tlsT.failures.length} failed; ` +
      `http keep-alive ${keep.ok} / ${keep.failures.length}; http new ${fresh.ok} / ${fresh.failures.length}`,
  );
  say(
    `access records ${records}; outcomes other than ok: ${
      JSON.stringify(Object.fromEntries(notOk))
    }`,
  );
  const underLoad = samples.filter((s) => s.t >= WARMUP_MS);
  if (underLoad.length > 0) {
    say(
      `under load after warm-up: RSS median ${
        (median(underLoad.map((s) => s.rss)) / 1024).toFixed(1)
      } MiB ` +
        `(min ${(Math.min(...underLoad.map((s) => s.rss)) / 1024).toFixed(1)}, max ${
          (Math.max(...underLoad.map((s) => s.rss)) / 1024).toFixed(1)
        }), ` +
        `fds median ${median(underLoad.map((s) => s.fds))}`,
    );
  }
  say(
    `at rest: RSS ${(warm!.rss / 1024).toFixed(1)} -> ${(final.rss / 1024).toFixed(1)} MiB, fds ${
      warm!.fds
    } -> ${final.fds}`,
  );
  const errors = router.stderrLines.filter((l) => l.includes('"level":"error"'));
  for (const l of errors.slice(0, 10)) say(`router error: ${l}`);
  for (
    const f of [
      ...stray.map((e) => e.why),
      ...tlsT.failures.map((f) => f.why),
      ...keep.failures.map((f) => f.why),
      ...fresh.failures.map((f) => f.why),
    ].slice(0, 10)
  ) {
    say(`failure: ${f}`);
  }
  const within = (a: number, b: number) => Math.abs(b - a) <= a * 0.1;
  const ok = crashed === null && stray.length === 0 && tlsT.failures.length === 0 &&
    keep.failures.length === 0 && fresh.failures.length === 0 && errors.length === 0 &&
    within(warm!.rss, final.rss) && within(warm!.fds, final.fds);
  await router.stop();
  await echo.kill();
  tlsb.close();
  await web.close();
  say(ok ? "soak ok" : `soak FAILED${crashed === null ? "" : ` (router exited ${crashed})`}`);
  return ok ? 0 : 1;
}

process.exit(await main());
