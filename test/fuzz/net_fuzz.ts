/**
 * The network fuzzer: mutated ClientHellos, HTTP request heads and PROXY headers sent at a
 * live router (started under the runtime running this code) on every listener kind that
 * reads them: passthrough, terminating and auto tls, http, and PROXY-accepting tcp/http/tls.
 *
 * What it proves: the router never crashes, answers or closes every connection within its
 * timeouts (none hangs), logs every one, and once the storm is over holds no connection and
 * no more fds than before. Used by `deno task fuzz:net` (long) and by the CI-sized test in
 * test/integration/net_fuzz_test.ts.
 */

import { writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { httpBackend } from "../helpers/http_backends.ts";
import { selfSigned } from "../helpers/certs.ts";
import { adminPort, events, scrape, until } from "../helpers/admin.ts";
import { quietSink } from "../helpers/backends.ts";
import { fds, poll } from "../helpers/proc.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { hello, httpHeads, mutate, proxies, te } from "./inputs.ts";

/** How long the router may take to answer or close a case (timeouts below, plus slack). */
const CASE_DEADLINE_MS = 10_000;

/** Options of one run. */
export interface NetFuzzOptions {
  /** Cases per input kind (ClientHello, HTTP head, PROXY header). */
  readonly perKind: number;
  readonly seed: number;
  /** Connections in flight at once. */
  readonly concurrency?: number;
  /** Progress lines. */
  readonly progress?: (line: string) => void;
}

/** A case that went wrong, with its input saved for replay. */
export interface Failure {
  readonly kind: string;
  readonly listener: string;
  readonly problem: string;
  readonly file: string;
}

/** What a run found. */
export interface NetFuzzReport {
  readonly cases: number;
  /** Cases the router sent bytes back to before closing. */
  readonly answered: number;
  readonly failures: readonly Failure[];
  /** The router's exit code when it died during the run, else null. */
  readonly crashed: number | null;
  /** Connections the router still counted as active after the run (must be 0). */
  readonly activeAfter: number;
  readonly fdsBefore: number;
  readonly fdsAfter: number;
  /** Cases per listener. */
  readonly perListener: Record<string, number>;
  /** The router's last stderr lines (why it died, when it did). */
  readonly stderrTail: readonly string[];
  /** The router's warn/error events by message. */
  readonly events: Record<string, number>;
  readonly seconds: number;
}

const PROXY_V1 = te.encode("PROXY TCP4 198.51.100.7 203.0.113.9 40000 443\r\n");

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One generated case: the listener it goes to and its bytes. */
interface Case {
  readonly kind: string;
  readonly listener: string;
  readonly bytes: Uint8Array;
}

/** The i-th case of a kind: mutated seeds, routed to a listener that reads that kind. */
function makeCase(r: Prng, kind: string): Case {
  switch (kind) {
    case "hello": {
      const listener = r.pick(["pass", "term", "mux", "pptls"]);
      const bytes = mutate(r, hello);
      return { kind, listener, bytes: listener === "pptls" ? concat(PROXY_V1, bytes) : bytes };
    }
    case "http": {
      const listener = r.pick(["web", "mux", "pphttp"]);
      const bytes = mutate(r, httpHeads);
      return { kind, listener, bytes: listener === "pphttp" ? concat(PROXY_V1, bytes) : bytes };
    }
    default: {
      const listener = r.pick(["pphttp", "pptcp", "pptls"]);
      const after = listener === "pphttp"
        ? r.pick(httpHeads)
        : listener === "pptls"
        ? r.pick(hello)
        : te.encode("payload");
      return { kind, listener, bytes: concat(mutate(r, proxies), after) };
    }
  }
}

/** Sends one case; resolves with what happened (never rejects). */
function send(
  port: number,
  c: Case,
  r: Prng,
): Promise<{ answered: boolean; problem: string | null; localPort: number }> {
  // Decided up front so the sequence of random numbers does not depend on timing.
  const cut = r.int(c.bytes.length + 1);
  const halfClose = r.next() < 0.75;
  return new Promise((resolve) => {
    let answered = false;
    let localPort = 0;
    const s = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ answered, problem: `not closed within ${CASE_DEADLINE_MS} ms`, localPort });
    }, CASE_DEADLINE_MS);
    s.on("connect", () => {
      localPort = s.localPort ?? 0;
      s.write(c.bytes.subarray(0, cut));
      // The rest in a second write a moment later: the sniffers see the input in two reads.
      setImmediate(() => {
        if (s.destroyed) return;
        s.write(c.bytes.subarray(cut));
        if (halfClose) s.end();
      });
    });
    s.on("data", () => {
      answered = true;
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ answered, problem: null, localPort });
    });
  });
}

const ROUTER_CONFIG = (certFile: string, keyFile: string, sinkPort: number, httpPort: number) => `
admin:
  listen: "127.0.0.1:0"
defaults:
  inspect_timeout: 1s
  idle_timeout: 2s
  connect_timeout: 1s
  shutdown_timeout: 2s
certificates:
  - { cert: ${certFile}, key: ${keyFile} }
listeners:
  pass:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: example.com, to: sink }
      - { alpn: h2, to: sink }
    default: sink
  term:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
  web:
    bind: "127.0.0.1:0"
    protocol: http
    forwarded: [x-forwarded-for, forwarded]
    routes:
      - { host: a.example.com, to: http }
    default: http
  mux:
    bind: "127.0.0.1:0"
    protocol: auto
    routes:
      - { protocol: ssh, to: sink }
      - { protocol: tls, to: sink }
      - { protocol: http, to: http }
  pphttp:
    bind: "127.0.0.1:0"
    protocol: http
    accept_proxy: { from: [127.0.0.1/32] }
    default: http
  pptcp:
    bind: "127.0.0.1:0"
    protocol: tcp
    accept_proxy: true
    default: sink
  pptls:
    bind: "127.0.0.1:0"
    protocol: tls
    accept_proxy: true
    default: sink
backends:
  sink:
    servers: ["127.0.0.1:${sinkPort}"]
  http:
    servers: ["127.0.0.1:${httpPort}"]
`;

/** What the cases of a run add up to. */
interface Tally {
  cases: number;
  answered: number;
  readonly failures: Failure[];
  readonly perListener: Record<string, number>;
  /** Cases on listeners that log the socket's address, by client port, until logged. */
  readonly unlogged: Map<number, Case & { i: number }>;
}

/** Sends `perKind` cases of each kind, `concurrency` at a time. */
async function storm(
  router: RouterProcess,
  opts: NetFuzzOptions,
  seed: number,
  perKind: number,
  t: Tally,
): Promise<void> {
  for (const kind of ["hello", "http", "proxy"]) {
    const r = mulberry32(seed ^ kind.length);
    let next = 0;
    const worker = async () => {
      while (next < perKind && router.child.exitCode === null) {
        const i = next++;
        // makeCase and send draw their random numbers before send's first await, so the
        // sequence does not depend on timing.
        const c = makeCase(r, kind);
        t.perListener[c.listener] = (t.perListener[c.listener] ?? 0) + 1;
        const res = await send(router.port(c.listener), c, r);
        t.cases++;
        if (res.answered) t.answered++;
        if (res.problem !== null) {
          const file = `${tmpdir()}/switchyard-netfuzz-${kind}-${seed}-${i}.bin`;
          writeFileSync(file, c.bytes);
          t.failures.push({ kind, listener: c.listener, problem: res.problem, file });
        }
        // PROXY listeners log the address from the header, not the socket's.
        if (!c.listener.startsWith("pp")) t.unlogged.set(res.localPort, { ...c, i });
        if (t.cases % 5000 === 0) {
          opts.progress?.(`${t.cases} cases, ${t.failures.length} failures`);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 32 }, worker));
  }
}

/** Waits until the router counts no active connection; returns the last count seen. */
async function idle(admin: number): Promise<number> {
  let active = -1;
  await until(
    async () => (active = (await scrape(admin)).sum("switchyard_connections_active")) === 0,
    "no active connections",
    15_000,
  ).catch(() => {});
  return active;
}

/** Runs the fuzzer against a fresh router; stops it afterwards. */
export async function netFuzz(opts: NetFuzzOptions): Promise<NetFuzzReport> {
  const t0 = performance.now();
  const cert = selfSigned(["example.com", "*.example.com", "localhost"]);
  const sinkServer = await quietSink();
  const http = await httpBackend("http");
  const router = await startRouter(
    ROUTER_CONFIG(cert.certFile, cert.keyFile, sinkServer.port, http.port),
  );
  const pid = router.child.pid!;
  const admin = adminPort(router);
  try {
    // A warm-up through every path first: the runtimes open some fds lazily (Bun dups stdout
    // on its first write there); those are not leaks.
    const warm: Tally = {
      cases: 0,
      answered: 0,
      failures: [],
      perListener: {},
      unlogged: new Map(),
    };
    await storm(router, opts, opts.seed + 1, 30, warm);
    if (router.child.exitCode === null) await idle(admin);
    const fdsBefore = fds(pid);
    const t: Tally = { cases: 0, answered: 0, failures: [], perListener: {}, unlogged: new Map() };
    await storm(router, opts, opts.seed, opts.perKind, t);
    const crashed = router.child.exitCode;
    let activeAfter = -1;
    let fdsAfter = -1;
    if (crashed === null) {
      // Sessions the clients left open end at the router's timeouts; then nothing is held.
      activeAfter = await idle(admin);
      await poll(() => (fdsAfter = fds(pid)) <= fdsBefore, "fds back", 10_000, 100).catch(
        () => {},
      );
      await router.waitFor(
        () => {
          for (const a of router.access) t.unlogged.delete(Number(String(a.client).split(":")[1]));
          return t.unlogged.size === 0;
        },
        "an access record for every connection",
        5000,
      ).catch(() => {
        for (const [port, c] of t.unlogged) {
          const file = `${tmpdir()}/switchyard-netfuzz-${c.kind}-${opts.seed}-${c.i}.bin`;
          writeFileSync(file, c.bytes);
          t.failures.push({ ...c, problem: `client port ${port} never logged`, file });
        }
      });
    }
    const warnings: Record<string, number> = {};
    for (const e of events(router)) {
      if (e.level !== "warn" && e.level !== "error") continue;
      const msg = String(e.msg);
      warnings[msg] = (warnings[msg] ?? 0) + 1;
    }
    return {
      cases: t.cases,
      answered: t.answered,
      failures: [...warm.failures, ...t.failures],
      crashed,
      activeAfter,
      fdsBefore,
      fdsAfter,
      perListener: t.perListener,
      events: warnings,
      stderrTail: router.stderrLines.slice(-30),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await router.stop();
    await sinkServer.close();
    await http.close();
  }
}
