import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HpackDecoder, type HpackResult } from "../../src/h2/hpack.ts";
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
/** A dynamic table entry as RFC 7541 Appendix C prints it: name, value, size. */
type Entry = [string, string, number];

function headersOf(r: HpackResult): Field[] {
  if ("error" in r) assert.fail(`expected headers, got error ${JSON.stringify(r.error)}`);
  return r.headers;
}

function errorOf(r: HpackResult): string {
  if (!("error" in r)) assert.fail(`expected an error, got ${JSON.stringify(r.headers)}`);
  assert.match(r.error, /^HPACK: /);
  return r.error;
}

function assertTable(d: HpackDecoder, entries: Entry[], size: number): void {
  assert.deepEqual(d.tableEntries(), entries.map(([n, v]) => [n, v]));
  for (const [n, v, s] of entries) assert.equal(n.length + v.length + 32, s, `${n}: ${v}`);
  assert.equal(d.tableSize, size);
}

// ---- RFC 7541 Appendix C ----

describe("HpackDecoder: RFC 7541 C.2 header field representations", () => {
  test("C.2.1 literal header field with indexing", () => {
    const d = new HpackDecoder();
    const r = d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    assert.deepEqual(headersOf(r), [["custom-key", "custom-header"]]);
    assertTable(d, [["custom-key", "custom-header", 55]], 55);
  });

  test("C.2.2 literal header field without indexing", () => {
    const d = new HpackDecoder();
    const r = d.decode(hex("040c 2f73 616d 706c 652f 7061 7468"));
    assert.deepEqual(headersOf(r), [[":path", "/sample/path"]]);
    assertTable(d, [], 0);
  });

  test("C.2.3 literal header field never indexed", () => {
    const d = new HpackDecoder();
    const r = d.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74"));
    assert.deepEqual(headersOf(r), [["password", "secret"]]);
    assertTable(d, [], 0);
  });

  test("C.2.4 indexed header field", () => {
    const d = new HpackDecoder();
    assert.deepEqual(headersOf(d.decode(hex("82"))), [[":method", "GET"]]);
    assertTable(d, [], 0);
  });
});

interface Step {
  block: string;
  headers: Field[];
  table: Entry[];
  size: number;
}

const REQUESTS: Omit<Step, "block">[] = [
  {
    headers: [[":method", "GET"], [":scheme", "http"], [":path", "/"], [
      ":authority",
      "www.example.com",
    ]],
    table: [[":authority", "www.example.com", 57]],
    size: 57,
  },
  {
    headers: [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ],
    table: [["cache-control", "no-cache", 53], [":authority", "www.example.com", 57]],
    size: 110,
  },
  {
    headers: [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
    table: [
      ["custom-key", "custom-value", 54],
      ["cache-control", "no-cache", 53],
      [":authority", "www.example.com", 57],
    ],
    size: 164,
  },
];

const DATE_1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION = "https://www.example.com";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const RESPONSES: Omit<Step, "block">[] = [
  {
    headers: [
      [":status", "302"],
      ["cache-control", "private"],
      ["date", DATE_1],
      ["location", LOCATION],
    ],
    table: [
      ["location", LOCATION, 63],
      ["date", DATE_1, 65],
      ["cache-control", "private", 52],
      [":status", "302", 42],
    ],
    size: 222,
  },
  {
    headers: [
      [":status", "307"],
      ["cache-control", "private"],
      ["date", DATE_1],
      ["location", LOCATION],
    ],
    table: [
      [":status", "307", 42],
      ["location", LOCATION, 63],
      ["date", DATE_1, 65],
      ["cache-control", "private", 52],
    ],
    size: 222,
  },
  {
    headers: [
      [":status", "200"],
      ["cache-control", "private"],
      ["date", DATE_2],
      ["location", LOCATION],
      ["content-encoding", "gzip"],
      ["set-cookie", COOKIE],
    ],
    table: [
      ["set-cookie", COOKIE, 98],
      ["content-encoding", "gzip", 52],
      ["date", DATE_2, 65],
    ],
    size: 215,
  },
];

const SEQUENCES: { name: string; tableSize: number; steps: Step[] }[] = [
  {
    name: "C.3 requests without Huffman coding",
    tableSize: 4096,
    steps: [
      "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "8286 84be 5808 6e6f 2d63 6163 6865",
      "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ].map((b, i) => ({ block: b, ...REQUESTS[i] })),
  },
  {
    name: "C.4 requests with Huffman coding",
    tableSize: 4096,
    steps: [
      "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
      "8286 84be 5886 a8eb 1064 9cbf",
      "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ].map((b, i) => ({ block: b, ...REQUESTS[i] })),
  },
  {
    name: "C.5 responses without Huffman coding, 256-byte table with eviction",
    tableSize: 256,
    steps: [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d`,
      "4803 3330 37c1 c0bf",
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31`,
    ].map((b, i) => ({ block: b, ...RESPONSES[i] })),
  },
  {
    name: "C.6 responses with Huffman coding, 256-byte table with eviction",
    tableSize: 256,
    steps: [
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      "4883 640e ffc1 c0bf",
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
       9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    ].map((b, i) => ({ block: b, ...RESPONSES[i] })),
  },
];

describe("HpackDecoder: RFC 7541 C.3 to C.6 sequences on one connection", () => {
  for (const seq of SEQUENCES) {
    test(seq.name, () => {
      const d = new HpackDecoder(seq.tableSize);
      seq.steps.forEach((step, i) => {
        assert.deepEqual(headersOf(d.decode(hex(step.block))), step.headers, `block ${i + 1}`);
        assertTable(d, step.table, step.size);
      });
      assert.equal(d.tableMaxSize, seq.tableSize);
    });
  }

  test("C.1.2: 1337 with a 5-bit prefix, as a table size update", () => {
    const d = new HpackDecoder();
    assert.deepEqual(hpackInt(1337, 5, 0x20), [0x3f, 0x9a, 0x0a]);
    assert.deepEqual(headersOf(d.decode(hex("3f9a0a"))), []);
    assert.equal(d.tableMaxSize, 1337);
  });
});

// ---- Huffman ----

/** The bytes Huffman-coding one symbol gives: its code, then padding ones. */
function codeBytes(code: number, bits: number): number[] {
  const padded = Math.ceil(bits / 8) * 8;
  const value = code * 2 ** (padded - bits) + (2 ** (padded - bits) - 1);
  return Array.from(
    { length: padded / 8 },
    (_, i) => Math.floor(value / 256 ** (padded / 8 - 1 - i)) & 0xff,
  );
}

/** A literal-without-indexing block with a literal name and a Huffman value given as bytes. */
function huffmanValueBlock(value: number[]): Uint8Array {
  return block([0x00, ...hpackString("x")], hpackInt(value.length, 7, 0x80), value);
}

describe("Huffman code (RFC 7541 Appendix B)", () => {
  // Rows of Appendix B: symbol, code as hex, length in bits.
  const ROWS: [number, number, number][] = [
    [0, 0x1ff8, 13],
    [10, 0x3ffffffc, 30],
    [13, 0x3ffffffd, 30],
    [22, 0x3ffffffe, 30],
    [32, 0x14, 6],
    [48, 0x0, 5],
    [65, 0x21, 6],
    [97, 0x3, 5],
    [127, 0xffffffc, 28],
    [128, 0xfffe6, 20],
    [200, 0x3ffffe2, 26],
    [254, 0x7fffff0, 27],
    [255, 0x3ffffee, 26],
  ];
  for (const [symbol, code, bits] of ROWS) {
    test(`symbol ${symbol} is 0x${code.toString(16)} in ${bits} bits`, () => {
      assert.deepEqual([...huffmanEncode(Uint8Array.of(symbol))], codeBytes(code, bits));
    });
  }

  test("every byte value round-trips, alone and all together", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const text = String.fromCharCode(...all);
    const d = new HpackDecoder();
    const r = d.decode(block(literal("without", "all", text, true)));
    assert.deepEqual(headersOf(r), [["all", text]]);
    for (let b = 0; b < 256; b++) {
      const one = String.fromCharCode(b);
      assert.deepEqual(headersOf(d.decode(block(literal("without", "b", one, true)))), [[
        "b",
        one,
      ]]);
    }
  });

  test("empty Huffman string", () => {
    assert.deepEqual(headersOf(new HpackDecoder().decode(huffmanValueBlock([]))), [["x", ""]]);
  });

  test("7 bits of padding are fine", () => {
    // "a" is 00011, then 111 padding.
    assert.deepEqual(headersOf(new HpackDecoder().decode(huffmanValueBlock([0x1f]))), [["x", "a"]]);
  });

  test("EOS alone (30 ones and 2 padding ones) is rejected", () => {
    const e = errorOf(new HpackDecoder().decode(huffmanValueBlock([0xff, 0xff, 0xff, 0xff])));
    assert.match(e, /Huffman string at offset 3 contains the EOS symbol/);
  });

  test("EOS after a symbol is rejected", () => {
    // 00011 (a), 30 ones (EOS), 5 padding ones.
    const e = errorOf(new HpackDecoder().decode(huffmanValueBlock([0x1f, 0xff, 0xff, 0xff, 0xff])));
    assert.match(e, /EOS/);
  });

  test("a whole byte of ones as padding is rejected", () => {
    const e = errorOf(new HpackDecoder().decode(huffmanValueBlock([0xff])));
    assert.match(e, /ends in 8 unused bits \(padding is at most 7 bits\)/);
  });

  test("padding longer than 7 bits after a symbol is rejected", () => {
    // 00011 (a), then 11 ones.
    const e = errorOf(new HpackDecoder().decode(huffmanValueBlock([0x1f, 0xff])));
    assert.match(e, /ends in 11 unused bits/);
  });

  test("padding that is not all ones is rejected", () => {
    // 00011 (a), then 000.
    const e = errorOf(new HpackDecoder().decode(huffmanValueBlock([0x18])));
    assert.match(e, /ends in padding 0b000 \(must be all ones\)/);
  });

  test("padding that is a prefix of a code but not all ones is rejected", () => {
    // 00011 (a), then 010 (the start of the 6-bit code of " ").
    const e = errorOf(new HpackDecoder().decode(huffmanValueBlock([0x1a])));
    assert.match(e, /padding 0b010/);
  });
});

// ---- integers, indexes, table size updates, limits ----

describe("HpackDecoder: integers", () => {
  test("2^28 is the largest integer accepted", () => {
    const d = new HpackDecoder(2 ** 28);
    assert.deepEqual(headersOf(d.decode(block(sizeUpdate(2 ** 28)))), []);
    assert.equal(d.tableMaxSize, 2 ** 28);
    const e = errorOf(new HpackDecoder(2 ** 30).decode(block(sizeUpdate(2 ** 28 + 1))));
    assert.equal(e, "HPACK: integer at offset 0 exceeds 2^28");
  });

  test("an index of 2^32 is an overflow, not a wrapped-around small index", () => {
    const e = errorOf(new HpackDecoder().decode(block(indexed(2 ** 32 + 2))));
    assert.equal(e, "HPACK: integer at offset 0 exceeds 2^28");
  });

  test("endless zero continuation bytes stop after five", () => {
    const e = errorOf(new HpackDecoder().decode(hex("ff 80 80 80 80 80 80 80 80 80 80 01")));
    assert.equal(e, "HPACK: integer at offset 0 has too many continuation bytes");
  });

  test("five continuation bytes with a small value are fine", () => {
    // 0x7f + 0 + 0 + 0 + 0 + 0 = 127, index 127 is beyond the table: the integer itself decoded.
    const e = errorOf(new HpackDecoder().decode(hex("ff 80 80 80 80 00")));
    assert.match(e, /index 127 is beyond the table/);
  });

  test("a block ending inside an integer", () => {
    const e = errorOf(new HpackDecoder().decode(hex("82 ff 9a")));
    assert.equal(e, "HPACK: header block ends inside the integer at offset 1");
  });
});

describe("HpackDecoder: indexes", () => {
  test("index 0 is rejected", () => {
    const e = errorOf(new HpackDecoder().decode(hex("82 80")));
    assert.equal(e, "HPACK: index 0 at offset 1 (index 0 is not used)");
  });

  test("index 62 on an empty dynamic table", () => {
    const e = errorOf(new HpackDecoder().decode(block(indexed(62))));
    assert.equal(e, "HPACK: index 62 is beyond the table (61 static + 0 dynamic)");
  });

  test("index 99 with three dynamic entries", () => {
    const d = new HpackDecoder();
    const fill = block(
      literal("indexing", "a", "1"),
      literal("indexing", "b", "2"),
      literal("indexing", "c", "3"),
    );
    headersOf(d.decode(fill));
    const e = errorOf(d.decode(block(indexed(64), indexed(99))));
    assert.equal(e, "HPACK: index 99 is beyond the table (61 static + 3 dynamic)");
  });

  test("the last static and the newest and oldest dynamic entries", () => {
    const d = new HpackDecoder();
    const r = d.decode(block(
      literal("indexing", "a", "1"),
      literal("indexing", "b", "2"),
      indexed(61),
      indexed(62),
      indexed(63),
    ));
    assert.deepEqual(headersOf(r), [
      ["a", "1"],
      ["b", "2"],
      ["www-authenticate", ""],
      ["b", "2"],
      ["a", "1"],
    ]);
  });

  test("an out-of-range name index in a literal", () => {
    const e = errorOf(new HpackDecoder().decode(block(literal("without", 70, "v"))));
    assert.equal(e, "HPACK: index 70 is beyond the table (61 static + 0 dynamic)");
  });

  test("a literal whose name refers to an entry it evicts", () => {
    // RFC 7541 section 4.4: the name must be resolved before the eviction.
    const d = new HpackDecoder(100);
    const name = "n".repeat(10);
    headersOf(d.decode(block(literal("indexing", name, "v".repeat(40)))));
    const r = d.decode(block(literal("indexing", 62, "w".repeat(30))));
    assert.deepEqual(headersOf(r), [[name, "w".repeat(30)]]);
    assertTable(d, [[name, "w".repeat(30), 72]], 72);
  });

  test("an entry larger than the table empties it and is not added", () => {
    const d = new HpackDecoder(100);
    headersOf(d.decode(block(literal("indexing", "a", "1"))));
    const big = "x".repeat(68); // 1 + 68 + 32 = 101 > 100
    assert.deepEqual(headersOf(d.decode(block(literal("indexing", "a", big)))), [["a", big]]);
    assertTable(d, [], 0);
  });

  test("an entry of exactly the table size fits", () => {
    const d = new HpackDecoder(100);
    const value = "x".repeat(67);
    headersOf(d.decode(block(literal("indexing", "a", value))));
    assertTable(d, [["a", value, 100]], 100);
  });

  test("never-indexed and without-indexing literals leave the table alone", () => {
    const d = new HpackDecoder();
    const r = d.decode(block(literal("never", "a", "1"), literal("without", 1, "h"), indexed(2)));
    assert.deepEqual(headersOf(r), [["a", "1"], [":authority", "h"], [":method", "GET"]]);
    assertTable(d, [], 0);
  });
});

describe("HpackDecoder: dynamic table size updates", () => {
  test("size update after a header field is rejected", () => {
    const e = errorOf(new HpackDecoder().decode(block(indexed(2), sizeUpdate(0))));
    assert.equal(e, "HPACK: dynamic table size update at offset 1 after a header field");
  });

  test("size update above the SETTINGS_HEADER_TABLE_SIZE limit is rejected", () => {
    const e = errorOf(new HpackDecoder().decode(block(sizeUpdate(4097))));
    assert.equal(e, "HPACK: dynamic table size update to 4097 exceeds the limit 4096");
    const small = errorOf(new HpackDecoder(0).decode(block(sizeUpdate(1))));
    assert.equal(small, "HPACK: dynamic table size update to 1 exceeds the limit 0");
  });

  test("several updates at the start: 0 clears the table, then it grows back", () => {
    const d = new HpackDecoder();
    headersOf(d.decode(block(literal("indexing", "a", "1"), literal("indexing", "b", "2"))));
    assert.equal(d.tableSize, 68);
    const r = d.decode(block(sizeUpdate(0), sizeUpdate(4096), literal("indexing", "c", "3")));
    assert.deepEqual(headersOf(r), [["c", "3"]]);
    assertTable(d, [["c", "3", 34]], 34);
    assert.equal(d.tableMaxSize, 4096);
  });

  test("shrinking evicts the oldest entries first", () => {
    const d = new HpackDecoder();
    headersOf(d.decode(block(literal("indexing", "a", "1"), literal("indexing", "b", "2"))));
    headersOf(d.decode(block(sizeUpdate(40))));
    assertTable(d, [["b", "2", 34]], 34);
    assert.equal(d.tableMaxSize, 40);
    // The new maximum holds for later inserts.
    headersOf(d.decode(block(literal("indexing", "c", "3"))));
    assertTable(d, [["c", "3", 34]], 34);
  });

  test("a table of size 0 indexes nothing", () => {
    const d = new HpackDecoder(0);
    headersOf(d.decode(block(literal("indexing", "a", "1"))));
    assertTable(d, [], 0);
    errorOf(d.decode(block(indexed(62))));
  });
});

describe("HpackDecoder: malformed blocks and limits", () => {
  test("empty block", () => {
    assert.deepEqual(headersOf(new HpackDecoder().decode(new Uint8Array(0))), []);
  });

  test("string literal longer than the block", () => {
    const e = errorOf(new HpackDecoder().decode(hex("40 05 6162")));
    assert.equal(e, "HPACK: string literal at offset 1 is 5 bytes long but the block has 2 left");
  });

  test("block ends before the name or value string", () => {
    assert.equal(
      errorOf(new HpackDecoder().decode(hex("40"))),
      "HPACK: header block ends before the string literal at offset 1",
    );
    assert.equal(
      errorOf(new HpackDecoder().decode(hex("41"))),
      "HPACK: header block ends before the string literal at offset 1",
    );
  });

  test("names and values are latin1, not windows-1252", () => {
    const r = new HpackDecoder().decode(hex("00 01 80 02 9f ff"));
    assert.deepEqual(headersOf(r), [["\u0080", "\u009f\u00ff"]]);
  });

  test("header list over the cap", () => {
    const d = new HpackDecoder(4096, 100);
    // 1 + 35 + 32 = 68, twice is 136.
    const e = errorOf(d.decode(block(literal("without", "a", "v".repeat(35)), indexed(2))));
    assert.equal(
      e,
      "HPACK: header list at offset 39 exceeds 100 bytes (name + value + 32 per field)",
    );
  });

  test("the cap stops one large entry referenced many times", () => {
    const d = new HpackDecoder();
    const refs = Array.from({ length: 1000 }, () => indexed(62));
    const e = errorOf(d.decode(block(literal("indexing", "k", "v".repeat(4000)), ...refs)));
    assert.match(e, /header list at offset \d+ exceeds 65536 bytes/);
  });

  test("the default cap admits 64 KiB", () => {
    const value = "v".repeat(65536 - 32 - 1);
    const r = new HpackDecoder().decode(block(literal("without", "k", value)));
    assert.equal(headersOf(r)[0][1].length, value.length);
  });

  test("after an error the decoder keeps failing", () => {
    const d = new HpackDecoder();
    const first = errorOf(d.decode(hex("80")));
    assert.equal(errorOf(d.decode(hex("82"))), first);
  });
});

// ---- randomized ----

/** The encoder's view of the dynamic table, to know what indexes mean while generating blocks. */
class TableModel {
  entries: Field[] = []; // newest first
  size = 0;
  constructor(public max: number) {}
  insert(name: string, value: string): void {
    const s = name.length + value.length + 32;
    this.evictTo(this.max - s);
    if (s > this.max) return;
    this.entries.unshift([name, value]);
    this.size += s;
  }
  resize(max: number): void {
    this.max = max;
    this.evictTo(max);
  }
  evictTo(target: number): void {
    while (this.entries.length > 0 && this.size > target) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

const ALPHABETS = ["abcdefghijklmnopqrstuvwxyz-", "0123456789/.:?=&%", "\x00\x7f\x80\xff\r\n \t"];

function randomText(rng: Prng): string {
  const alphabet = rng.pick(ALPHABETS);
  let text = "";
  for (let n = rng.range(0, 20); n > 0; n--) text += alphabet[rng.int(alphabet.length)];
  return text;
}

/** A valid block and the headers it decodes to, given the table state in `model`. */
function randomBlock(rng: Prng, model: TableModel, limit: number): [Uint8Array, Field[]] {
  const reps: number[][] = [];
  const expected: Field[] = [];
  if (rng.int(8) === 0) {
    const size = rng.range(0, limit);
    reps.push(sizeUpdate(size));
    model.resize(size);
  }
  const count = rng.range(0, 8);
  for (let i = 0; i < count; i++) {
    const tableLength = 61 + model.entries.length;
    const entry = (index: number): Field =>
      index <= 61 ? STATIC_NAMES[index - 1] : model.entries[index - 62];
    if (rng.int(3) === 0) {
      const index = rng.range(1, tableLength);
      reps.push(indexed(index));
      expected.push([...entry(index)]);
      continue;
    }
    const kind = rng.pick<LiteralKind>(["indexing", "without", "never"]);
    const nameIndex = rng.int(2) === 0 ? rng.range(1, tableLength) : 0;
    const name = nameIndex === 0 ? randomText(rng) : entry(nameIndex)[0];
    const value = randomText(rng);
    reps.push(literal(kind, nameIndex === 0 ? name : nameIndex, value, rng.int(2) === 0));
    expected.push([name, value]);
    if (kind === "indexing") model.insert(name, value);
  }
  return [block(...reps), expected];
}

/** Static table names and values, read back through the decoder itself once. */
const STATIC_NAMES: Field[] = headersOf(
  new HpackDecoder().decode(block(...Array.from({ length: 61 }, (_, i) => indexed(i + 1)))),
);

function mutate(rng: Prng, input: Uint8Array): Uint8Array {
  const b = Array.from(input);
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(5)) {
      case 0:
        if (b.length > 0) b[rng.int(b.length)] = rng.int(256);
        break;
      case 1:
        if (b.length > 0) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 2:
        b.splice(
          rng.int(b.length + 1),
          0,
          ...Array.from({ length: rng.range(1, 6) }, () => rng.int(256)),
        );
        break;
      case 3:
        b.splice(rng.int(b.length + 1), rng.range(1, 6));
        break;
      default:
        // Bytes that start long integers and Huffman strings reach the deeper branches.
        b.splice(rng.int(b.length + 1), 0, rng.pick([0x7f, 0xff, 0x3f, 0x1f, 0x0f, 0x8f, 0x80]));
    }
  }
  return Uint8Array.from(b);
}

function checkDecoder(d: HpackDecoder, limit: number, label: string): void {
  let sum = 0;
  for (const [n, v] of d.tableEntries()) sum += n.length + v.length + 32;
  if (sum !== d.tableSize || d.tableSize > d.tableMaxSize || d.tableMaxSize > limit) {
    assert.fail(`${label}: table accounting ${sum} / ${d.tableSize} / ${d.tableMaxSize}`);
  }
}

function checkResult(r: HpackResult, label: string): void {
  if ("error" in r) {
    if (typeof r.error !== "string" || !r.error.startsWith("HPACK: ")) {
      assert.fail(`${label}: bad error ${JSON.stringify(r)}`);
    }
    return;
  }
  if (!Array.isArray(r.headers)) assert.fail(`${label}: bad result ${JSON.stringify(r)}`);
  for (const f of r.headers) {
    if (f.length !== 2 || typeof f[0] !== "string" || typeof f[1] !== "string") {
      assert.fail(`${label}: bad field ${JSON.stringify(f)}`);
    }
  }
}

test("randomized: generated blocks decode as built, mutated ones never throw (100,000)", () => {
  const seed = 0x4a9c_7541;
  const rng = mulberry32(seed);
  const CASES = 100_000;
  for (let i = 0; i < CASES; i++) {
    const label = `seed ${seed} case ${i}`;
    const limit = rng.pick([0, 64, 256, 4096]);
    const d = new HpackDecoder(limit);
    const model = new TableModel(limit);
    // Two blocks on one decoder, so the second may refer to entries the first added.
    const [first, firstExpected] = randomBlock(rng, model, limit);
    const [second, secondExpected] = randomBlock(rng, model, limit);
    const mode = rng.int(4);
    try {
      if (mode === 0) {
        assert.deepEqual(headersOf(d.decode(first)), firstExpected, label);
        assert.deepEqual(headersOf(d.decode(second)), secondExpected, label);
        assert.deepEqual(d.tableEntries(), model.entries, label);
        checkDecoder(d, limit, label);
        continue;
      }
      const bytes = mode === 1
        ? first.subarray(0, rng.int(first.length + 1))
        : mode === 2
        ? mutate(rng, first)
        : Uint8Array.from({ length: rng.range(0, 40) }, () => rng.int(256));
      const r1 = d.decode(bytes);
      checkResult(r1, label);
      checkDecoder(d, limit, label);
      const r2 = d.decode(mutate(rng, second));
      checkResult(r2, label);
      if ("error" in r1) assert.deepEqual(r2, r1, `${label}: error must stick`);
      checkDecoder(d, limit, label);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.fail(`${label}: threw ${e}`);
    }
  }
});
