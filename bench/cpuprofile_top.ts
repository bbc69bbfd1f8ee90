/**
 * Summarizes a V8/JSC `.cpuprofile` (from `deno run --cpu-prof` or `bun --cpu-prof`): the
 * functions with the most self time, as a share of the busy (non-idle) time, and the
 * inclusive share of a few functions named on the command line.
 *
 *   deno run -A bench/cpuprofile_top.ts FILE.cpuprofile [N] [--incl NAME ...]
 *
 * Runs on Deno and Bun (node:fs only). Prints markdown.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args[0];
if (file === undefined) {
  process.stderr.write("usage: cpuprofile_top.ts FILE.cpuprofile [N] [--incl NAME ...]\n");
  process.exit(2);
}
const n = Number(args[1] ?? 25);
const inclAt = args.indexOf("--incl");
const inclNames = inclAt < 0 ? [] : args.slice(inclAt + 1);

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((x) => [x.id, x]));
const parent = new Map<number, number>();
for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);

/** `name file:line`, the file without its folder. */
function label(f: CallFrame): string {
  const base = f.url.slice(f.url.lastIndexOf("/") + 1);
  return `${f.functionName || "(anonymous)"} ${base}:${f.lineNumber + 1}`;
}

const self = new Map<string, number>();
const incl = new Map<string, number>();
let total = 0;
let idle = 0;
profile.samples.forEach((id, i) => {
  // timeDeltas[i] is the time before sample i: it belongs to the sample before.
  const dt = profile.timeDeltas[i + 1] ?? 0;
  total += dt;
  const node = byId.get(id)!;
  if (node.callFrame.functionName === "(idle)") {
    idle += dt;
    return;
  }
  const key = label(node.callFrame);
  self.set(key, (self.get(key) ?? 0) + dt);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const name = byId.get(at)!.callFrame.functionName;
    if (inclNames.includes(name) && !seen.has(name)) {
      seen.add(name);
      incl.set(name, (incl.get(name) ?? 0) + dt);
    }
  }
});

const busy = total - idle;
const pct = (v: number) => (100 * v / busy).toFixed(1);
console.log(`profile: ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s\n`);
console.log("| self % of busy | function |\n| ---: | --- |");
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) {
  console.log(`| ${pct(v)} | \`${k}\` |`);
}
if (inclNames.length > 0) {
  console.log("\n| inclusive % of busy | function |\n| ---: | --- |");
  for (const name of inclNames) console.log(`| ${pct(incl.get(name) ?? 0)} | \`${name}\` |`);
}
