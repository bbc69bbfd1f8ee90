/**
 * Fuzz inputs shared by the codec fuzzer (run.ts) and the network fuzzer (net_fuzz.ts): the
 * seeds (real fixtures and hand-written samples) and the mutator that varies them.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import type { Prng } from "../helpers/prng.ts";

const dir = (d: string) => new URL(`../fixtures/${d}/`, import.meta.url);
/** Encodes sample texts. */
export const te: TextEncoder = new TextEncoder();

/** Every .bin file of a fixture folder. */
export function fixtures(d: string): Uint8Array[] {
  return readdirSync(dir(d)).filter((f) => f.endsWith(".bin")).map((f) =>
    new Uint8Array(readFileSync(new URL(f, dir(d))))
  );
}

/** A mutation of one seed: flips, inserts, deletes, truncation, splices and length games. */
export function mutate(r: Prng, seeds: readonly Uint8Array[]): Uint8Array {
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

/** Real ClientHellos. */
export const hello: readonly Uint8Array[] = fixtures("clienthello");
/** HTTP/1 request heads. */
export const httpHeads: readonly Uint8Array[] = [
  "GET / HTTP/1.1\r\nHost: a.example.com\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: b.test:8080\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
  "GET http://x.test/p?q HTTP/1.1\r\nHost: y.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
  "HEAD / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
].map((s) => te.encode(s));
/** HTTP/1 response heads. */
export const responses: readonly Uint8Array[] = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
  "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
  'HTTP/1.0 304 Not Modified\r\nETag: "x"\r\n\r\n',
].map((s) => te.encode(s));
/** Chunked bodies. */
export const chunked: readonly Uint8Array[] = [
  "5\r\nhello\r\n0\r\n\r\n",
  "a;ext=1\r\n0123456789\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
].map((s) => te.encode(s));
/** PROXY v1 and v2 headers. */
export const proxies: readonly Uint8Array[] = [
  te.encode("PROXY TCP4 198.51.100.1 203.0.113.2 51234 443\r\n"),
  te.encode("PROXY TCP6 2001:db8::1 2001:db8::2 51234 443\r\n"),
  te.encode("PROXY UNKNOWN\r\n"),
  // v2: signature, PROXY over TCP/IPv4, 198.51.100.1:51234 -> 203.0.113.2:443, and an
  // AUTHORITY TLV "a.test". The length field says 19, two short, so the TLV overruns it: an
  // invalid seed next to the valid ones.
  Uint8Array.from([
    ...te.encode("\r\n\r\n\0\r\nQUIT\n"),
    ...[0x21, 0x11, 0x00, 0x13],
    ...[198, 51, 100, 1, 203, 0, 113, 2, 0xc8, 0x22, 0x01, 0xbb],
    ...[0x02, 0x00, 0x06, ...te.encode("a.test")],
  ]),
];
