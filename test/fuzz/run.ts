/**
 * `deno task fuzz`: every codec on at least 1,000,000 generated and mutated inputs (seeded
 * from the real fixtures), checking that no exception escapes, that results are well-formed,
 * and that no input costs more than linear time. Long-running; not part of `npm test`.
 *
 * Usage: deno run -A test/fuzz/run.ts [CASES_PER_CODEC] [SEED]   (also runs under bun)
 * FUZZ_ONLY=<part of a codec name> runs only those; FUZZ_CONFIG_CASES sets the config
 * loader's count (it costs ~1 ms per case). A failing input is written to a file; for the
 * HTTP/2 connection it is what the client sent after the preface (see h2_connection.ts).
 */

import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { parseConfig } from "../../src/config/load.ts";
import { ChunkedDecoder } from "../../src/http1/body.ts";
import { sniffHttpResponseHead } from "../../src/http1/response_head.ts";
import { HpackDecoder } from "../../src/h2/hpack.ts";
import { sniffHttpRequestHead } from "../../src/http1/request_head.ts";
import { sniffProxyHeader } from "../../src/proxy_protocol/decode.ts";
import type { SniffResult } from "../../src/wire/result.ts";
import { sniffSshBanner } from "../../src/ssh/banner.ts";
import { sniffClientHello } from "../../src/tls/client_hello.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { fuzzH2Connection, h2cSeeds } from "./h2_connection.ts";
import { chunked, fixtures, hello, httpHeads, mutate, proxies, responses, te } from "./inputs.ts";

const CASES = Number(process.argv[2] ?? 1_000_000);
const SEED = Number(process.argv[3] ?? 20261126);
/** Slowest acceptable cost per input byte (plus a fixed allowance per call), in µs. */
const MAX_US_PER_BYTE = 2;
const MAX_US_FIXED = 2000;

const KINDS = new Set(["more", "no", "invalid", "match"]);

function checkSniff(name: string, input: Uint8Array, r: SniffResult<unknown>): void {
  if (!KINDS.has(r.kind)) throw new Error(`${name}: bad result kind ${String(r.kind)}`);
  if (r.kind === "match" && (r.length < 0 || r.length > input.length)) {
    throw new Error(`${name}: match length ${r.length} outside input of ${input.length}`);
  }
  if (r.kind === "invalid" && typeof r.reason !== "string") throw new Error(`${name}: no reason`);
}

interface Codec {
  readonly name: string;
  readonly seeds: readonly Uint8Array[];
  /** Throws (or rejects) on a broken invariant; a promise is awaited and its time counted. */
  run(input: Uint8Array): void | Promise<void>;
  /** Fewer cases for codecs that cost milliseconds per input (the config loader). */
  readonly cases?: number;
  /** Its linear-time budget per byte, when not MAX_US_PER_BYTE (YAML parsing costs more). */
  readonly usPerByte?: number;
}

const h2 = fixtures("h2c");
const ssh = [te.encode("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), te.encode("SSH-1.99-x\n")];
const configs = [
  readFileSync(new URL("../fixtures/config/contract_example.yaml", import.meta.url)),
  readFileSync(new URL("../../routes/example.yaml", import.meta.url)),
].map((b) => new Uint8Array(b));
const td = new TextDecoder();

const CODECS: Codec[] = [
  {
    name: "ClientHello",
    seeds: hello,
    run: (b) => checkSniff("ClientHello", b, sniffClientHello(b)),
  },
  {
    name: "HTTP request head",
    seeds: httpHeads,
    run: (b) =>
      checkSniff("HTTP head", b, sniffHttpRequestHead(b, { maxLine: 8192, maxHead: 32768 })),
  },
  {
    name: "HTTP response head",
    seeds: responses,
    run: (b) => checkSniff("response head", b, sniffHttpResponseHead(b, { maxHead: 65536 })),
  },
  {
    name: "HTTP chunked framing",
    seeds: chunked,
    run: (b) => {
      const d = new ChunkedDecoder();
      // In two pieces, as a stream would deliver them.
      const cut = b.length >> 1;
      for (const piece of [b.subarray(0, cut), b.subarray(cut)]) {
        const p = d.push(piece);
        if ("error" in p) return;
        if (p.consumed < 0 || p.consumed > piece.length) throw new Error("chunked: bad consumed");
      }
    },
  },
  { name: "PROXY v1/v2", seeds: proxies, run: (b) => checkSniff("PROXY", b, sniffProxyHeader(b)) },
  { name: "SSH banner", seeds: ssh, run: (b) => checkSniff("SSH", b, sniffSshBanner(b)) },
  {
    name: "HPACK",
    seeds: h2,
    run: (b) => {
      // The bytes past the preface and one frame header, read as a header block.
      const r = new HpackDecoder().decode(b.subarray(Math.min(33, b.length)));
      if (!("headers" in r) && typeof r.error !== "string") throw new Error("hpack: bad result");
    },
  },
  {
    // An h2c client after its preface, as the HTTP/2 engine of auto and http listeners gets it.
    name: "HTTP/2 connection (h2c)",
    seeds: h2cSeeds,
    run: fuzzH2Connection,
  },
  {
    name: "config loader",
    seeds: configs,
    cases: Number(process.env.FUZZ_CONFIG_CASES ?? 1_000_000),
    usPerByte: 20,
    run: (b) => {
      const r = parseConfig(td.decode(b), "fuzz.yaml");
      for (const p of r.problems) {
        if (!(p.line >= 1)) throw new Error("config: problem without line");
      }
    },
  },
];

/** FUZZ_ONLY=loader (a part of a codec's name) runs just the codecs that match. */
const only = process.env.FUZZ_ONLY?.toLowerCase();
let failed = false;
for (
  const codec of CODECS.filter((c) => only === undefined || c.name.toLowerCase().includes(only))
) {
  const r = mulberry32(SEED);
  const n = codec.cases ?? CASES;
  const t0 = performance.now();
  let worst = { us: 0, bytes: 0 };
  let done = 0;
  for (let i = 0; i < n; i++, done++) {
    const input = i < codec.seeds.length ? codec.seeds[i] : mutate(r, codec.seeds);
    const s = performance.now();
    try {
      const p = codec.run(input);
      if (p !== undefined) await p;
    } catch (err) {
      failed = true;
      process.stderr.write(
        `${codec.name}: case ${i} (seed ${SEED}) threw: ${(err as Error).stack}\n`,
      );
      const file = `${tmpdir()}/switchyard-fuzz-${
        codec.name.replace(/\W+/g, "_")
      }-${SEED}-${i}.bin`;
      writeFileSync(file, input);
      process.stderr.write(`input (${input.length} bytes) written to ${file}\n`);
      break;
    }
    let us = (performance.now() - s) * 1000;
    const limit = MAX_US_FIXED + (codec.usPerByte ?? MAX_US_PER_BYTE) * input.length;
    // A garbage collection or a JIT tier-up can stall any one call: only an input that is slow
    // every time counts.
    for (let k = 0; k < 3 && us > limit; k++) {
      const again = performance.now();
      const p = codec.run(input);
      if (p !== undefined) await p;
      us = Math.min(us, (performance.now() - again) * 1000);
    }
    if (us > limit && us > worst.us) worst = { us, bytes: input.length };
  }
  const secs = (performance.now() - t0) / 1000;
  const slow = worst.us > 0 ? `; SLOW: ${worst.us.toFixed(0)} µs for ${worst.bytes} bytes` : "";
  if (worst.us > 0) failed = true;
  process.stdout.write(`${codec.name}: ${done} cases in ${secs.toFixed(1)} s${slow}\n`);
}
process.stdout.write(failed ? "fuzz: FAILED\n" : "fuzz: ok\n");
process.exit(failed ? 1 : 0);
