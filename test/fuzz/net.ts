/**
 * `deno task fuzz:net`: the network fuzzer (net_fuzz.ts) at scale against a router on Deno,
 * then on Bun. Long-running; not part of `npm test`.
 *
 * Usage: deno run -A test/fuzz/net.ts [CASES_PER_KIND] [SEED]   (or bun test/fuzz/net.ts ...)
 * FUZZ_NET_CONCURRENCY: connections in flight (default 256; a quarter of the cases wait out
 * the router's 1-2 s timeouts, so this sets the pace).
 */

import process from "node:process";
import { runtimeName } from "../helpers/runtime.ts";
import { netFuzz } from "./net_fuzz.ts";

const perKind = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 20261126);
const say = (s: string) => process.stdout.write(`[${runtimeName}] ${s}\n`);

const concurrency = Number(process.env.FUZZ_NET_CONCURRENCY ?? 256);
const r = await netFuzz({ perKind, seed, concurrency, progress: say });
say(
  `${r.cases} cases in ${r.seconds.toFixed(0)} s (${(r.cases / r.seconds).toFixed(0)}/s), ` +
    `${r.answered} answered; per listener ${JSON.stringify(r.perListener)}`,
);
say(`router events (warn/error): ${JSON.stringify(r.events)}`);
say(`after: ${r.activeAfter} active, fds ${r.fdsBefore} -> ${r.fdsAfter}`);
for (const f of r.failures.slice(0, 50)) {
  say(`FAIL ${f.kind} on ${f.listener}: ${f.problem} ${f.file}`);
}
if (r.crashed !== null) { for (const l of r.stderrTail) say(`router: ${l}`); }
const ok = r.crashed === null && r.failures.length === 0 && r.activeAfter === 0 &&
  r.fdsAfter <= r.fdsBefore;
say(
  ok
    ? "fuzz:net ok"
    : `fuzz:net FAILED${r.crashed === null ? "" : ` (router exited ${r.crashed})`}`,
);
process.exit(ok ? 0 : 1);
