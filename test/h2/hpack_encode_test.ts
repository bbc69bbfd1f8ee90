import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { describe, test } from "node:test";
import { HpackDecoder, STATIC_TABLE } from "../../src/h2/hpack.ts";
import { HpackEncoder } from "../../src/h2/hpack_encode.ts";
import { huffmanEncode } from "../../src/h2/hpack_huffman.ts";
import {
  block,
  hpackInt,
  hpackString,
  indexed,
  literal,
  type LiteralKind,
  sizeUpdate,
} from "../helpers/hpack_block.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { hex } from "../helpers/sniff.ts";

type Field = [string, string];

/** Bytes as spaced hex, so a failed comparison shows where the blocks part. */
function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.equal(hexOf(actual), hexOf(expected), message);
}

function decoded(d: HpackDecoder, bytes: Uint8Array): Field[] {
  const r = d.decode(bytes);
  if ("error" in r) assert.fail(`the decoder rejected ${hexOf(bytes)}: ${r.error}`);
  return r.headers;
}

/** Encodes `headers` and checks that the decoder reads them back with its table in step. */
function roundTrip(e: HpackEncoder, d: HpackDecoder, headers: Field[]): Uint8Array {
  const bytes = e.encode(headers);
  assert.deepEqual(decoded(d, bytes), headers);
  assert.equal(e.tableSize, d.tableSize, "table sizes");
  return bytes;
}

function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Whether the encoder should Huffman-code `text`: only when that is strictly shorter. */
function huffmanShorter(text: string): boolean {
  return huffmanEncode(latin1Bytes(text)).length < text.length;
}

/** A literal field whose strings are each Huffman-coded exactly when that is shorter. */
function lit(kind: LiteralKind, name: number | string, value: string): number[] {
  const [prefixBits, flags] = kind === "indexing" ? [6, 0x40] : [4, kind === "never" ? 0x10 : 0];
  const head = typeof name === "number"
    ? hpackInt(name, prefixBits, flags)
    : [...hpackInt(0, prefixBits, flags), ...hpackString(name, huffmanShorter(name))];
  return [...head, ...hpackString(value, huffmanShorter(value))];
}

describe("HpackEncoder: exact bytes", () => {
  test("static table matches are one byte each", () => {
    const e = new HpackEncoder();
    assertBytes(e.encode([[":method", "GET"]]), hex("82"));
    assertBytes(e.encode([[":status", "200"]]), hex("88"));
    assertBytes(
      e.encode([[":method", "POST"], [":path", "/"], [":scheme", "https"], [":status", "404"]]),
      hex("83 84 87 8d"),
    );
    assertBytes(e.encode([["accept-encoding", "gzip, deflate"]]), hex("90"));
    assertBytes(e.encode([["www-authenticate", ""]]), hex("bd"), "index 61, an empty value");
    assertBytes(e.encode([]), hex(""));
    assert.equal(e.tableSize, 0);
  });

  test("RFC 7541 C.4: the three requests with Huffman coding, byte for byte", () => {
    const e = new HpackEncoder();
    const base: Field[] = [[":method", "GET"], [":scheme", "http"], [":path", "/"]];
    const authority: Field = [":authority", "www.example.com"];
    assertBytes(e.encode([...base, authority]), hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    assertBytes(
      e.encode([...base, authority, ["cache-control", "no-cache"]]),
      hex("8286 84be 5886 a8eb 1064 9cbf"),
    );
    assertBytes(
      e.encode([
        [":method", "GET"],
        [":scheme", "https"],
        [":path", "/index.html"],
        authority,
        ["custom-key", "custom-value"],
      ]),
      hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
    );
    assert.equal(e.tableSize, 164);
  });

  test("a static name with a new value is indexed by its first static entry, then matched", () => {
    const e = new HpackEncoder();
    // :status is at 8..14; a literal refers to 8. content-type is 31.
    assertBytes(e.encode([[":status", "302"]]), block(literal("indexing", 8, "302", true)));
    assertBytes(
      e.encode([["content-type", "text/html"]]),
      block(literal("indexing", 31, "text/html", true)),
    );
    assertBytes(e.encode([["content-type", "text/html"], [":status", "302"]]), hex("be bf"));
  });

  test("a new name is a literal; its next value refers to the name in the dynamic table", () => {
    const e = new HpackEncoder();
    // "x-a" and "b" are no shorter in Huffman (18 bits = 3 bytes, 6 bits = 1 byte): raw.
    assertBytes(e.encode([["x-a", "b"]]), hex("40 03 782d61 01 62"));
    assertBytes(e.encode([["x-a", "c"]]), hex("7e 01 63"), "name index 62, value raw");
    assertBytes(e.encode([["x-a", "b"], ["x-a", "c"]]), hex("bf be"));
    assert.equal(e.tableSize, 2 * (3 + 1 + 32));
  });

  test("a name index of 63 and up takes a second byte", () => {
    const e = new HpackEncoder();
    e.encode([["x-a", "1"], ["x-b", "1"]]);
    // x-a is now at 63: the 6-bit prefix is full (63) and the rest (0) follows.
    assertBytes(e.encode([["x-a", "2"]]), hex("7f 00 01 32"));
  });

  test("a long value has a multi-byte length", () => {
    const e = new HpackEncoder();
    const value = "\x7f".repeat(300); // a 28-bit code: raw is shorter
    const bytes = e.encode([["x-long", value]]);
    assertBytes(bytes, block(lit("indexing", "x-long", value)));
    // 300 = 127 + 45 + 1 * 128, after the "x-long" name (0x40, then 0x85 and 5 Huffman bytes).
    assertBytes(bytes.subarray(7, 10), hex("7f ad 01"));
  });
});

describe("HpackEncoder: never indexed (RFC 7541 section 7.1.3)", () => {
  test("authorization: 0001 prefix with static name 23, every time, table untouched", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const field: Field = ["authorization", "Basic dXNlcjpwYXNz"];
    const expected = block(literal("never", 23, field[1], huffmanShorter(field[1])));
    assert.equal(hexOf(expected).slice(0, 5), "1f 08", "index 23 in a 4-bit prefix: 15 + 8");
    for (let i = 0; i < 3; i++) assertBytes(roundTrip(e, d, [field]), expected);
    assert.equal(e.tableSize, 0);
    assert.deepEqual(d.tableEntries(), []);
  });

  test("proxy-authorization and set-cookie, whatever their length", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const cookie = `id=${"a1".repeat(40)}; Path=/; HttpOnly`;
    assertBytes(
      roundTrip(e, d, [["proxy-authorization", "Bearer x"], ["set-cookie", cookie]]),
      block(
        literal("never", 49, "Bearer x", huffmanShorter("Bearer x")),
        literal("never", 55, cookie, huffmanShorter(cookie)),
      ),
    );
    assert.equal(e.tableSize, 0);
  });

  test("cookie: never indexed below 20 bytes, indexed from 20 on", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const short = "a".repeat(19);
    const long = "b".repeat(20);
    assertBytes(
      roundTrip(e, d, [["cookie", short], ["cookie", long]]),
      block(literal("never", 32, short, true), literal("indexing", 32, long, true)),
    );
    assertBytes(
      roundTrip(e, d, [["cookie", short], ["cookie", long]]),
      block(
        literal("never", 32, short, true),
        indexed(62),
      ),
    );
    assert.deepEqual(d.tableEntries(), [["cookie", long]]);
  });

  test("a sensitive field with an empty value is still never indexed", () => {
    const e = new HpackEncoder();
    assertBytes(e.encode([["authorization", ""]]), hex("1f 08 00"));
  });
});

describe("HpackEncoder: Huffman only when strictly shorter", () => {
  /**
   * The bytes of `accept-encoding: value` on a fresh encoder: static name 16, whose one static
   * value ("gzip, deflate") the values here never are, so always a literal.
   */
  function acceptEncoding(value: string): Uint8Array {
    return new HpackEncoder().encode([["accept-encoding", value]]);
  }

  test("shorter, equal and longer", () => {
    // "aaaa": 4 x 5 bits = 3 bytes < 4.
    assertBytes(acceptEncoding("aaaa"), block(literal("indexing", 16, "aaaa", true)));
    // "ab": 5 + 6 bits = 2 bytes, no shorter than raw.
    assertBytes(acceptEncoding("ab"), block(literal("indexing", 16, "ab", false)));
    // "{}": 15 + 14 bits = 4 bytes > 2.
    assertBytes(acceptEncoding("{}"), block(literal("indexing", 16, "{}", false)));
    assertBytes(acceptEncoding(""), hex("50 00"));
  });

  test("random latin1 strings of every byte value", () => {
    const rand = mulberry32(7541);
    for (let i = 0; i < 500; i++) {
      // Mostly common text, sometimes any byte, so both outcomes are well represented.
      const any = rand.int(3) === 0;
      const value = String.fromCharCode(
        ...Array.from(
          { length: rand.range(0, 60) },
          () => any ? rand.int(256) : rand.range(0x20, 0x7e),
        ),
      );
      const bytes = acceptEncoding(value);
      assertBytes(bytes, block(literal("indexing", 16, value, huffmanShorter(value))), value);
      assert.deepEqual(decoded(new HpackDecoder(), bytes), [["accept-encoding", value]]);
    }
  });
});

describe("HpackEncoder: the dynamic table", () => {
  test("a repeated response is one byte per field", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const response: Field[] = [
      [":status", "200"],
      ["content-type", "text/html; charset=utf-8"],
      ["cache-control", "max-age=60"],
      ["server", "switchyard"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["x-request-id", "4f1c2a"],
    ];
    assert.ok(roundTrip(e, d, response).length > 50);
    // The five literals went in oldest first: content-type is at 66, x-request-id at 62.
    assertBytes(roundTrip(e, d, response), hex("88 c2 c1 c0 bf be"));
  });

  test("eviction is oldest first and matches the decoder's", () => {
    const e = new HpackEncoder(256);
    const d = new HpackDecoder(256);
    // 4 x 64 bytes fill 256 (and 64 is the most a quarter allows); a fifth evicts the first.
    const fields: Field[] = ["1", "2", "3", "4", "5"].map((n) => [`x-${n}`, "v".repeat(29)]);
    for (const field of fields) roundTrip(e, d, [field]);
    assert.deepEqual(d.tableEntries(), fields.slice(1).reverse());
    assert.equal(e.tableSize, 256);
    // x-1 is gone: a literal with its name sent again; x-2 is still there, now at 65.
    assertBytes(
      roundTrip(e, d, [fields[1], fields[0]]),
      block(indexed(65), lit("indexing", "x-1", fields[0][1])),
    );
  });

  test("a literal names an entry that its own insertion evicts (section 4.4)", () => {
    const e = new HpackEncoder(400);
    const d = new HpackDecoder(400);
    roundTrip(e, d, [["x-a", "1"]]);
    const filler: Field[] = ["1", "2", "3"].map((n) => [`x-f${n}`, "v".repeat(59)]);
    roundTrip(e, d, filler);
    assert.equal(e.tableSize, 36 + 3 * 95);
    // 321 + 85 > 400: inserting evicts x-a, at 65, which names the new entry.
    const value = "z".repeat(50);
    assertBytes(roundTrip(e, d, [["x-a", value]]), block(literal("indexing", 65, value, true)));
    assert.deepEqual(d.tableEntries(), [["x-a", value], ...filler.slice().reverse()]);
    assertBytes(roundTrip(e, d, [["x-a", "1"]]), block(literal("indexing", 62, "1")));
  });

  test("an entry over a quarter of the table is sent without indexing", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    // 3 + 989 + 32 = 1024, a quarter of 4096: indexed. One byte more is not.
    const fits = "q".repeat(989);
    const over = "q".repeat(990);
    assertBytes(roundTrip(e, d, [["x-q", fits]]), block(lit("indexing", "x-q", fits)));
    assertBytes(
      roundTrip(e, d, [["x-q", over]]),
      block(literal("without", 62, over, true)),
      "name from the table, 4-bit prefix: 0f 2f",
    );
    assert.equal(e.tableSize, 1024);
    assertBytes(roundTrip(e, d, [["link", over]]), block(literal("without", 45, over, true)));
  });

  test("two encoders (two connections) keep their own tables and blocks", () => {
    const [e1, e2] = [new HpackEncoder(), new HpackEncoder()];
    const [d1, d2] = [new HpackDecoder(), new HpackDecoder()];
    const b1 = e1.encode([["x-one", "1"]]);
    const b2 = e2.encode([["x-two", "2"], ["x-two", "2"]]);
    const c1 = e1.encode([["x-one", "1"]]);
    assert.deepEqual(decoded(d1, b1), [["x-one", "1"]]);
    assert.deepEqual(decoded(d2, b2), [["x-two", "2"], ["x-two", "2"]]);
    assert.deepEqual(decoded(d1, c1), [["x-one", "1"]]);
    assertBytes(c1, hex("be"));
  });

  test("a block far larger than the initial buffer", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder(4096, 1 << 20);
    const headers: Field[] = Array.from(
      { length: 40 },
      (_, i) => [`x-${i}`, String(i).repeat(5000 / String(i).length)],
    );
    const bytes = roundTrip(e, d, headers);
    assert.ok(bytes.length > 100_000);
  });
});

describe("HpackEncoder: dynamic table size updates (sections 4.2 and 6.3)", () => {
  test("a peer setting below 4096 is signalled once, at the start of the first block", () => {
    const e = new HpackEncoder(256);
    const d = new HpackDecoder(256);
    assertBytes(roundTrip(e, d, [[":method", "GET"]]), block(sizeUpdate(256), indexed(2)));
    assertBytes(block(sizeUpdate(256)), hex("3f e1 01"), "31 + 97 + 1 * 128");
    assertBytes(roundTrip(e, d, [[":method", "GET"]]), hex("82"));
    assert.equal(d.tableMaxSize, 256);
  });

  test("a peer setting above 4096 is capped at 4096, the size the peer starts with", () => {
    const e = new HpackEncoder(65536);
    const d = new HpackDecoder(4096);
    assertBytes(roundTrip(e, d, [[":method", "GET"]]), hex("82"));
    e.setMaxTableSize(1 << 30);
    assertBytes(roundTrip(e, d, [[":method", "GET"]]), hex("82"));
    // 50 entries of 100 bytes: the cap keeps 40, and the decoder, at 4096 too, agrees.
    const headers: Field[] = Array.from({ length: 50 }, (_, i) => [`x-${i + 10}`, "v".repeat(64)]);
    roundTrip(e, d, headers);
    assert.equal(e.tableSize, 4000);
    assert.deepEqual(d.tableEntries(), headers.slice(10).reverse());
  });

  test("shrink to 0 and back: both updates, the table emptied, indexing resumed", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const field: Field = ["x-kept", "value"];
    roundTrip(e, d, [field]);
    assertBytes(roundTrip(e, d, [field]), hex("be"));
    e.setMaxTableSize(0);
    e.setMaxTableSize(4096);
    const again = roundTrip(e, d, [field]);
    assertBytes(again, block(sizeUpdate(0), sizeUpdate(4096), lit("indexing", "x-kept", "value")));
    assertBytes(roundTrip(e, d, [field]), hex("be"));
  });

  test("at 0 nothing is indexed and no update is repeated", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    e.setMaxTableSize(0);
    const field: Field = ["content-type", "text/plain"];
    const literalField = literal("without", 31, "text/plain", true);
    assertBytes(roundTrip(e, d, [field]), block(sizeUpdate(0), literalField));
    assertBytes(roundTrip(e, d, [field]), block(literalField));
    assert.equal(d.tableMaxSize, 0);
    assert.equal(d.tableSize, 0);
  });

  test("down then up: the smallest, then the final; a shrink evicts", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const fields: Field[] = [["x-1", "a".repeat(40)], ["x-2", "b".repeat(40)]]; // 75 each
    roundTrip(e, d, fields);
    e.setMaxTableSize(1000);
    e.setMaxTableSize(100);
    e.setMaxTableSize(200);
    assertBytes(roundTrip(e, d, []), block(sizeUpdate(100), sizeUpdate(200)));
    assert.deepEqual(d.tableEntries(), [fields[1]]);
    assert.equal(e.tableSize, 75);
    assert.equal(d.tableMaxSize, 200);
  });

  test("up, or down twice: only the final size", () => {
    const e = new HpackEncoder(256);
    const d = new HpackDecoder(4096);
    roundTrip(e, d, []);
    e.setMaxTableSize(1024);
    e.setMaxTableSize(2048);
    assertBytes(roundTrip(e, d, []), block(sizeUpdate(2048)));
    e.setMaxTableSize(1000);
    e.setMaxTableSize(500);
    assertBytes(roundTrip(e, d, []), block(sizeUpdate(500)));
    e.setMaxTableSize(500);
    assertBytes(roundTrip(e, d, []), hex(""), "unchanged: nothing to signal");
    e.setMaxTableSize(100);
    e.setMaxTableSize(500);
    assertBytes(roundTrip(e, d, []), block(sizeUpdate(100), sizeUpdate(500)));
    e.setMaxTableSize(10_000);
    assertBytes(roundTrip(e, d, []), block(sizeUpdate(4096)));
  });

  test("a size that is not a non-negative integer is a programming error", () => {
    const e = new HpackEncoder();
    for (const bad of [-1, 1.5, NaN, Infinity]) {
      assert.throws(() => e.setMaxTableSize(bad), RangeError);
    }
    assert.throws(() => new HpackEncoder(-1), RangeError);
    assertBytes(e.encode([]), hex(""), "a rejected size leaves nothing pending");
  });
});

// ---- random header lists over many blocks on one connection ----

const STATIC_NAMES = [...new Set(STATIC_TABLE.map(([name]) => name))];
const CUSTOM_NAMES = [
  "x-request-id",
  "x-forwarded-for",
  "x-a",
  "x-trace",
  "content-security-policy",
];
const COMMON_VALUES = [
  "",
  "200",
  "GET",
  "gzip",
  "text/html; charset=utf-8",
  "no-cache",
  "Mon, 21 Oct 2013 20:13:21 GMT",
  "https://www.example.com/",
];
const TABLE_SIZES = [0, 32, 64, 100, 256, 1000, 2048, 4096, 5000, 65536];

function randomText(rand: Prng, length: number): string {
  const bytes = Array.from(
    { length },
    () => rand.int(3) === 0 ? rand.int(256) : rand.range(97, 122),
  );
  return String.fromCharCode(...bytes);
}

function randomField(rand: Prng): Field {
  const roll = rand.int(10);
  if (roll === 0) return rand.pick(STATIC_TABLE) as Field;
  const name = roll < 5
    ? rand.pick(STATIC_NAMES)
    : roll < 9
    ? rand.pick(CUSTOM_NAMES)
    : randomText(rand, rand.range(1, 12));
  const kind = rand.int(20);
  const value = kind < 8
    ? rand.pick(COMMON_VALUES)
    : kind < 19
    ? randomText(rand, rand.range(0, 40))
    : randomText(rand, rand.range(900, 1100));
  return [name, value];
}

describe("HpackEncoder: random header lists, many blocks on one connection", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    test(`seed ${seed}`, () => {
      const rand = mulberry32(seed);
      let setting = rand.pick(TABLE_SIZES);
      const e = new HpackEncoder(setting);
      const lists: Field[][] = [];
      const blocks: Uint8Array[] = [];
      const sizes: number[] = [];
      const maxSizes: number[] = [];
      const recent: Field[] = [];
      for (let n = 0; n < 300; n++) {
        if (rand.int(8) === 0) {
          for (let k = rand.range(1, 3); k > 0; k--) {
            setting = rand.pick(TABLE_SIZES);
            e.setMaxTableSize(setting);
          }
        }
        // Repeats within and across blocks, as real responses have.
        const list = Array.from({ length: rand.range(0, 25) }, (): Field => {
          const field = recent.length > 0 && rand.int(3) === 0
            ? rand.pick(recent)
            : randomField(rand);
          recent.push(field);
          if (recent.length > 100) recent.shift();
          return field;
        });
        lists.push(list);
        blocks.push(e.encode(list));
        sizes.push(e.tableSize);
        maxSizes.push(Math.min(setting, 4096));
      }
      // Decoded only now: a block must not change when later ones are encoded.
      const d = new HpackDecoder(4096, 1 << 20);
      blocks.forEach((bytes, n) => {
        assert.deepEqual(decoded(d, bytes), lists[n], `block ${n}`);
        assert.equal(d.tableSize, sizes[n], `table size after block ${n}`);
        assert.equal(d.tableMaxSize, maxSizes[n], `maximum table size after block ${n}`);
      });
    });
  }
});

// ---- interop: the runtime's own HTTP/2 client decodes the blocks ----

/** One HTTP/2 frame (RFC 9113 section 4.1). */
function frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length << 8 | type);
  out[4] = flags;
  view.setUint32(5, stream);
  out.set(payload, 9);
  return out;
}

const PREFACE_LENGTH = 24;
const [HEADERS_TYPE, SETTINGS_TYPE] = [0x1, 0x4];
const [ACK, END_STREAM, END_HEADERS] = [0x1, 0x1, 0x4];

/**
 * A cleartext HTTP/2 server just big enough to answer every request with one HEADERS frame
 * (END_STREAM, END_HEADERS) carrying the next block of `encoder`, in the order requests come.
 */
function h2Server(encoder: HpackEncoder, responses: Field[][]): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let pending = new Uint8Array(0);
    let prefaceLeft = PREFACE_LENGTH;
    let next = 0;
    socket.on("error", () => {});
    socket.on("data", (chunk: Uint8Array) => {
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
      pending = joined;
      if (prefaceLeft > 0) {
        const skip = Math.min(prefaceLeft, pending.length);
        pending = pending.subarray(skip);
        prefaceLeft -= skip;
        if (prefaceLeft > 0) return;
        socket.write(frame(SETTINGS_TYPE, 0, 0, new Uint8Array(0)));
      }
      while (pending.length >= 9) {
        const length = (pending[0] << 16) | (pending[1] << 8) | pending[2];
        if (pending.length < 9 + length) return;
        const [type, flags] = [pending[3], pending[4]];
        const stream = new DataView(pending.buffer, pending.byteOffset).getUint32(5) & 0x7fffffff;
        pending = pending.subarray(9 + length);
        if (type === SETTINGS_TYPE && (flags & ACK) === 0) {
          socket.write(frame(SETTINGS_TYPE, ACK, 0, new Uint8Array(0)));
        } else if (type === HEADERS_TYPE) {
          const bytes = encoder.encode(responses[next++]);
          socket.write(frame(HEADERS_TYPE, END_STREAM | END_HEADERS, stream, bytes));
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** What the client reports for one response. */
interface Received {
  /** The headers, values as strings (`:status` comes as a number). */
  headers: Record<string, string>;
  /** The names it received as never indexed, in order. */
  sensitive: string[];
}

function request(session: http2.ClientHttp2Session): Promise<Received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no response in 5 s")), 5000);
    const stream = session.request({ ":path": "/" });
    stream.on("response", (headers) => {
      clearTimeout(timer);
      resolve({
        headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
        // @types/node types the key as a plain symbol, which cannot index the headers' type.
        sensitive: (headers as Record<symbol, string[]>)[http2.sensitiveHeaders] ?? [],
      });
    });
    stream.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.resume();
    stream.end();
  });
}

/** Header names a response may carry (no connection-specific ones), each at most once. */
const RESPONSE_NAMES = [
  "content-type",
  "cache-control",
  "etag",
  "vary",
  "server",
  "date",
  "last-modified",
  "link",
  "authorization",
  "cookie",
  "x-request-id",
  "x-trace",
  "x-cache",
];
const RESPONSE_VALUES = ["text/html", "no-cache", "switchyard", "Accept-Encoding", 'W/"1"'];

/** Printable ASCII without surrounding spaces, which every client accepts in a value. */
function printable(rand: Prng, length: number): string {
  const chars = Array.from(
    { length },
    (_, i) => i === 0 || i === length - 1 ? rand.range(0x21, 0x7e) : rand.range(0x20, 0x7e),
  );
  return String.fromCharCode(...chars);
}

function randomResponse(rand: Prng): Field[] {
  const names = RESPONSE_NAMES.filter(() => rand.int(2) === 0);
  return [
    [":status", rand.pick(["200", "204", "302", "304", "404", "500", "503"])],
    ...names.map((name): Field => {
      const kind = rand.int(10);
      const value = kind < 5
        ? rand.pick(RESPONSE_VALUES)
        : kind < 9
        ? printable(rand, rand.range(1, 40))
        : printable(rand, rand.range(1000, 1500));
      return [name, value];
    }),
  ];
}

describe("HpackEncoder: the runtime's node:http2 client decodes the blocks", () => {
  for (const tableSize of [4096, 256, 0]) {
    test(`SETTINGS_HEADER_TABLE_SIZE ${tableSize}`, async () => {
      const rand = mulberry32(tableSize + 1);
      const responses = Array.from({ length: 60 }, () => randomResponse(rand));
      const encoder = new HpackEncoder(tableSize);
      const server = await h2Server(encoder, responses);
      const { port } = server.address() as net.AddressInfo;
      const session = http2.connect(`http://127.0.0.1:${port}`, {
        settings: { headerTableSize: tableSize },
      });
      session.on("error", () => {});
      try {
        for (const [n, expected] of responses.entries()) {
          assert.deepEqual(await request(session), {
            headers: Object.fromEntries(expected),
            sensitive: expected
              .filter(([name, value]) =>
                name === "authorization" || (name === "cookie" && value.length < 20)
              )
              .map(([name]) => name),
          }, `response ${n}`);
        }
      } finally {
        session.destroy();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  }
});
