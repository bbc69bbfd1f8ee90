/**
 * `deno task fuzz`: every codec on at least 1,000,000 generated and mutated inputs (seeded
 * from the real fixtures), checking that no exception escapes, that results are well-formed,
 * and that no input costs more than linear time. Long-running; not part of `npm test`.
 *
 * Usage: deno run -A test/fuzz/run.ts [CASES_PER_CODEC] [SEED]   (also runs under bun)
 */

import { readdirSync, readFileSync } from "node:fs";
import { Buffer } from "node:buffer";
import process from "node:process";
import { parseConfig } from "../../src/config/load.ts";
import { ChunkedDecoder } from "../../src/http/body.ts";
import { sniffHttpResponseHead } from "../../src/http/response_head.ts";
import { sniffH2Authority } from "../../src/sniff/h2_authority.ts";
import { HpackDecoder } from "../../src/sniff/hpack.ts";
import { sniffHttpRequestHead } from "../../src/sniff/http_head.ts";
import { sniffProxyHeader } from "../../src/sniff/proxy_protocol.ts";
import type { SniffResult } from "../../src/sniff/result.ts";
import { sniffSshBanner } from "../../src/sniff/ssh.ts";
import { sniffClientHello } from "../../src/sniff/tls_client_hello.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";

const CASES = Number(process.argv[2] ?? 1_000_000);
const SEED = Number(process.argv[3] ?? 20261126);
/** Slowest acceptable cost per input byte (plus a fixed allowance per call), in µs. */
const MAX_US_PER_BYTE = 2;
const MAX_US_FIXED = 2000;

const dir = (d: string) => new URL(`../fixtures/${d}/`, import.meta.url);
const te = new TextEncoder();

function fixtures(d: string): Uint8Array[] {
  return readdirSync(dir(d)).filter((f) => f.endsWith(".bin")).map((f) =>
    new Uint8Array(readFileSync(new URL(f, dir(d))))
  );
}

/** A mutation of one seed: flips, inserts, deletes, truncation, splices and length games. */
function mutate(r: Prng, seeds: readonly Uint8Array[]): Uint8Array {
  let b = Uint8Array.from(r.pick(seeds));
  const rounds = r.range(1, 6);
  for (let i = 0; i < rounds; i++) {
    switch (r.int(8)) {
      case 0: // flip a byte
        if (b.length > 0) b[r.int(b.length)] ^= 1 << r.int(8);
        break;
      case 1: // random byte
        if (b.length > 0) b[r.int(b.length)] = r.int(256);
        break;
      case 2: { // insert bytes
        const at = r.int(b.length + 1);
        const ins = Uint8Array.from({ length: r.range(1, 16) }, () => r.int(256));
        b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
        break;
      }
      case 3: { // delete a range
        const at = r.int(b.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + r.range(1, 32))]);
        break;
      }
      case 4: // truncate
        b = b.subarray(0, r.int(b.length + 1));
        break;
      case 5: // a length-ish field to an extreme
        if (b.length > 2) {
          const at = r.int(b.length - 1);
          b[at] = r.pick([0, 0xff, 0x7f, 0x80]);
          b[at + 1] = r.pick([0, 0xff, 0x01]);
        }
        break;
      case 6: { // splice with another seed
        const o = r.pick(seeds);
        const at = r.int(b.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...o.subarray(r.int(o.length + 1))]);
        break;
      }
      default: { // repeat a slice (pathological repetition)
        if (b.length > 0) {
          const at = r.int(b.length);
          const slice = b.subarray(at, at + r.range(1, 8));
          const reps = r.range(2, 2000);
          const out = new Uint8Array(b.length + slice.length * reps);
          out.set(b.subarray(0, at));
          for (let k = 0; k < reps; k++) out.set(slice, at + k * slice.length);
          out.set(b.subarray(at), at + slice.length * reps);
          b = out;
        }
      }
    }
  }
  return b;
}

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
  run(input: Uint8Array): void;
  /** Fewer cases for codecs that cost milliseconds per input (the config loader). */
  readonly cases?: number;
  /** Its linear-time budget per byte, when not MAX_US_PER_BYTE (YAML parsing costs more). */
  readonly usPerByte?: number;
}

const hello = fixtures("clienthello");
const h2 = fixtures("h2c");
const httpHeads = [
  "GET / HTTP/1.1\r\nHost: a.example.com\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: b.test:8080\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
  "GET http://x.test/p?q HTTP/1.1\r\nHost: y.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
  "HEAD / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
].map((s) => te.encode(s));
const responses = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
  "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
  'HTTP/1.0 304 Not Modified\r\nETag: "x"\r\n\r\n',
].map((s) => te.encode(s));
const chunked = [
  "5\r\nhello\r\n0\r\n\r\n",
  "a;ext=1\r\n0123456789\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
].map((s) => te.encode(s));
const proxies = [
  te.encode("PROXY TCP4 198.51.100.1 203.0.113.2 51234 443\r\n"),
  te.encode("PROXY TCP6 2001:db8::1 2001:db8::2 51234 443\r\n"),
  te.encode("PROXY UNKNOWN\r\n"),
  Uint8Array.from([
    0x0d,
    0x0a,
    0x0d,
    0x0a,
    0x00,
    0x0d,
    0x0a,
    0x51,
    0x55,
    0x49,
    0x54,
    0x0a,
    0x21,
    0x11,
    0x00,
    0x13,
    198,
    51,
    100,
    1,
    203,
    0,
    113,
    2,
    0xc8,
    0x22,
    0x01,
    0xbb,
    0x02,
    0x00,
    0x06,
    0x61,
    0x2e,
    0x74,
    0x65,
    0x73,
    0x74,
  ]),
];
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
    name: "HPACK + h2c",
    seeds: h2,
    run: (b) => {
      checkSniff("h2c", b, sniffH2Authority(b));
      const r = new HpackDecoder().decode(b.subarray(Math.min(33, b.length)));
      if (!("headers" in r) && typeof r.error !== "string") throw new Error("hpack: bad result");
    },
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

let failed = false;
for (const codec of CODECS) {
  const r = mulberry32(SEED);
  const n = codec.cases ?? CASES;
  const t0 = performance.now();
  let worst = { us: 0, bytes: 0 };
  for (let i = 0; i < n; i++) {
    const input = i < codec.seeds.length ? codec.seeds[i] : mutate(r, codec.seeds);
    const s = performance.now();
    try {
      codec.run(input);
    } catch (err) {
      failed = true;
      process.stderr.write(
        `${codec.name}: case ${i} (seed ${SEED}) threw: ${(err as Error).stack}\n`,
      );
      process.stderr.write(`input (hex): ${Buffer.from(input).toString("hex").slice(0, 2000)}\n`);
      break;
    }
    let us = (performance.now() - s) * 1000;
    const limit = MAX_US_FIXED + (codec.usPerByte ?? MAX_US_PER_BYTE) * input.length;
    // A garbage collection or a JIT tier-up can stall any one call: only an input that is slow
    // every time counts.
    for (let k = 0; k < 3 && us > limit; k++) {
      const again = performance.now();
      codec.run(input);
      us = Math.min(us, (performance.now() - again) * 1000);
    }
    if (us > limit && us > worst.us) worst = { us, bytes: input.length };
  }
  const secs = (performance.now() - t0) / 1000;
  const slow = worst.us > 0 ? `; SLOW: ${worst.us.toFixed(0)} µs for ${worst.bytes} bytes` : "";
  if (worst.us > 0) failed = true;
  process.stdout.write(`${codec.name}: ${n} cases in ${secs.toFixed(1)} s${slow}\n`);
}
process.stdout.write(failed ? "fuzz: FAILED\n" : "fuzz: ok\n");
process.exit(failed ? 1 : 0);
