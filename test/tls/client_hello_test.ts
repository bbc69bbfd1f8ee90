import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type ClientHello,
  sniffClientHello,
  TLS_ALERT_HANDSHAKE_FAILURE,
  TLS_ALERT_UNRECOGNIZED_NAME,
} from "../../src/tls/client_hello.ts";
import { NO_MATCH, type SniffResult } from "../../src/wire/result.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { ascii, concat, expectInvalidFrom, expectMatchResult } from "../helpers/sniff.ts";

// ---- fixtures ----

function fixture(name: string): Uint8Array {
  const path = fileURLToPath(new URL(`../fixtures/clienthello/${name}`, import.meta.url));
  return new Uint8Array(readFileSync(path));
}

interface Expected {
  file: string;
  size: number;
  sni: string;
  alpn: string[];
}

// From test/fixtures/clienthello/README.md.
const FIXTURES: Expected[] = [
  { file: "chromium.bin", size: 2010, sni: "f.test", alpn: ["h2", "http/1.1"] },
  { file: "bun.bin", size: 1469, sni: "e.test", alpn: [] },
  { file: "curl-openssl3.bin", size: 517, sni: "a.test", alpn: ["h2", "http/1.1"] },
  { file: "openssl-s_client.bin", size: 330, sni: "b.test", alpn: ["h2", "http/1.1"] },
  { file: "node20.bin", size: 382, sni: "c.test", alpn: ["h2", "http/1.1"] },
  { file: "deno.bin", size: 258, sni: "localhost", alpn: ["h2", "http/1.1"] },
];

const FILES = new Map(FIXTURES.map((f) => [f.file, fixture(f.file)]));

function file(name: string): Uint8Array {
  const bytes = FILES.get(name);
  if (!bytes) throw new Error(`no fixture ${name}`);
  return bytes;
}

// ---- byte builders ----

type Bytes = Uint8Array | readonly number[];

function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

function u24(v: number): number[] {
  return [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
}

function vec8(data: Bytes): Uint8Array {
  return concat([data.length], data);
}

function vec16(data: Bytes): Uint8Array {
  return concat(u16(data.length), data);
}

function ext(type: number, data: Bytes): Uint8Array {
  return concat(u16(type), vec16(data));
}

function sniExt(...names: (string | Uint8Array)[]): Uint8Array {
  const entries = names.map((n) => concat([0], vec16(typeof n === "string" ? ascii(n) : n)));
  return ext(0x0000, vec16(concat(...entries)));
}

function alpnExt(...names: string[]): Uint8Array {
  return ext(0x0010, vec16(concat(...names.map((n) => vec8(ascii(n))))));
}

function versionsExt(...versions: number[]): Uint8Array {
  return ext(0x002b, vec8(concat(...versions.map(u16))));
}

function paddingExt(size: number): Uint8Array {
  return ext(0x0015, new Uint8Array(size));
}

interface HelloParts {
  legacyVersion?: number;
  sessionId?: Bytes;
  suites?: Bytes;
  compression?: Bytes;
  /** Extensions, wrapped in their length prefix; `null` leaves the block out entirely. */
  extensions?: Bytes[] | null;
  /** Bytes put after the compression methods instead of `extensions`, as they are. */
  raw?: Bytes;
}

const DEFAULT_EXTENSIONS = [
  sniExt("example.com"),
  alpnExt("h2", "http/1.1"),
  versionsExt(0x0304, 0x0303),
];

/** A ClientHello body (after the handshake header). */
function helloBody(p: HelloParts = {}): Uint8Array {
  const head = concat(
    u16(p.legacyVersion ?? 0x0303),
    new Uint8Array(32).fill(0xaa), // random
    vec8(p.sessionId ?? new Uint8Array(32).fill(0x55)),
    vec16(p.suites ?? [0x13, 0x01, 0x13, 0x02]),
    vec8(p.compression ?? [0]),
  );
  if (p.raw) return concat(head, p.raw);
  const exts = p.extensions === undefined ? DEFAULT_EXTENSIONS : p.extensions;
  return exts === null ? head : concat(head, vec16(concat(...exts)));
}

/** A handshake message: type, 24-bit length, body. */
function handshake(body: Bytes, type = 1): Uint8Array {
  return concat([type], u24(body.length), body);
}

/** Frames `hs` into handshake records of at most `chunk` bytes each. */
function frame(hs: Uint8Array, chunk = 16384, version = 0x0301): Uint8Array {
  const parts: Bytes[] = [];
  for (let off = 0; off < hs.length; off += chunk) {
    const piece = hs.subarray(off, Math.min(off + chunk, hs.length));
    parts.push([0x16], u16(version), u16(piece.length), piece);
  }
  return concat(...parts);
}

/** Frames `hs` into records with the given fragment sizes (the last takes the rest). */
function frameAt(hs: Uint8Array, sizes: number[]): Uint8Array {
  const parts: Bytes[] = [];
  let off = 0;
  for (const size of [...sizes, hs.length]) {
    const piece = hs.subarray(off, Math.min(off + size, hs.length));
    if (piece.length === 0) break;
    parts.push([0x16, 0x03, 0x01], u16(piece.length), piece);
    off += piece.length;
  }
  return concat(...parts);
}

/** A one-record ClientHello. */
function hello(p: HelloParts = {}): Uint8Array {
  return frame(handshake(helloBody(p)));
}

/** The handshake bytes carried by a run of records. */
function unframe(records: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let pos = 0; pos < records.length;) {
    const len = (records[pos + 3] << 8) | records[pos + 4];
    parts.push(records.subarray(pos + 5, pos + 5 + len));
    pos += 5 + len;
  }
  return concat(...parts);
}

const expectInvalid = expectInvalidFrom("ClientHello: ");

// ---- tests ----

describe("sniffClientHello: real fixtures", () => {
  for (const f of FIXTURES) {
    test(`${f.file}: SNI ${f.sni}, ALPN [${f.alpn.join(",")}], TLS 1.3 offered`, () => {
      const bytes = file(f.file);
      assert.equal(bytes.length, f.size);
      const { value, length } = expectMatchResult(sniffClientHello(bytes));
      assert.equal(length, f.size);
      assert.equal(value.sni, f.sni);
      assert.deepEqual(value.alpn, f.alpn);
      assert.ok(value.versions.includes(0x0304), "supported_versions offers TLS 1.3");
      assert.ok(value.versions.includes(0x0303), "supported_versions offers TLS 1.2");
      assert.equal(value.legacyVersion, 0x0303);
      assert.equal(value.recordVersion, 0x0301);
    });

    test(`${f.file}: every proper prefix needs more`, () => {
      const bytes = file(f.file);
      for (let i = 0; i < bytes.length; i++) {
        const r = sniffClientHello(bytes.subarray(0, i));
        if (r.kind !== "more") assert.fail(`prefix ${i}: ${JSON.stringify(r)}`);
      }
    });

    test(`${f.file}: bytes after the first flight are not counted`, () => {
      const ccs = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
      const { value, length } = expectMatchResult(sniffClientHello(concat(file(f.file), ccs)));
      assert.equal(length, f.size);
      assert.equal(value.sni, f.sni);
    });
  }

  test("chromium.bin: GREASE in supported_versions is reported as sent", () => {
    const { value } = expectMatchResult(sniffClientHello(file("chromium.bin")));
    assert.deepEqual(value.versions, [0xcaca, 0x0304, 0x0303]);
  });

  test("curl and openssl s_client offer TLS 1.3 down to TLS 1.0", () => {
    for (const name of ["curl-openssl3.bin", "openssl-s_client.bin"]) {
      const { value } = expectMatchResult(sniffClientHello(file(name)));
      assert.deepEqual(value.versions, [0x0304, 0x0303, 0x0302, 0x0301], name);
    }
  });

  test("a view into a larger buffer (non-zero byteOffset) parses the same", () => {
    const bytes = file("node20.bin");
    const big = concat(new Uint8Array(37).fill(0xee), bytes, [1, 2, 3]);
    const view = big.subarray(37);
    const { value, length } = expectMatchResult(sniffClientHello(view));
    assert.equal(length, bytes.length);
    assert.equal(value.sni, "c.test");
  });

  test("the input is not modified", () => {
    const bytes = concat(file("chromium.bin"));
    const copy = concat(bytes);
    sniffClientHello(bytes);
    sniffClientHello(frame(unframe(bytes), 100));
    assert.deepEqual(bytes, copy);
  });
});

describe("sniffClientHello: handshake split over records", () => {
  for (const f of FIXTURES) {
    const hs = unframe(file(f.file));
    const expected = expectMatchResult(sniffClientHello(file(f.file))).value;

    test(`${f.file}: split into two records at every header offset and mid-message`, () => {
      for (const at of [1, 2, 3, 4, 5, 38, Math.floor(hs.length / 2), hs.length - 1]) {
        const bytes = frameAt(hs, [at]);
        const { value, length } = expectMatchResult(sniffClientHello(bytes));
        assert.deepEqual(value, expected, `split at ${at}`);
        assert.equal(length, hs.length + 10, `split at ${at}`);
      }
    });

    for (const chunk of [1, 7, 100, 1000]) {
      test(`${f.file}: re-framed into ${chunk}-byte records`, () => {
        const bytes = frame(hs, chunk);
        const records = Math.ceil(hs.length / chunk);
        const { value, length } = expectMatchResult(sniffClientHello(bytes));
        assert.deepEqual(value, expected);
        assert.equal(length, hs.length + 5 * records);
        assert.equal(length, bytes.length);
      });
    }

    test(`${f.file}: every proper prefix of the 100-byte framing needs more`, () => {
      const bytes = frame(hs, 100);
      for (let i = 0; i < bytes.length; i++) {
        const r = sniffClientHello(bytes.subarray(0, i));
        if (r.kind !== "more") assert.fail(`prefix ${i}: ${JSON.stringify(r)}`);
      }
    });
  }

  test("later records may carry another record version (0x0303)", () => {
    const hs = unframe(file("deno.bin"));
    const bytes = concat(frame(hs.subarray(0, 50)), frame(hs.subarray(50), 16384, 0x0303));
    const { value, length } = expectMatchResult(sniffClientHello(bytes));
    assert.equal(value.recordVersion, 0x0301);
    assert.equal(value.sni, "localhost");
    assert.equal(length, bytes.length);
  });

  test("a record after the one ending the hello is not counted", () => {
    const hs = unframe(file("bun.bin"));
    const first = frame(hs, 1000);
    const bytes = concat(first, frame(handshake([1, 2, 3], 20)));
    assert.equal(expectMatchResult(sniffClientHello(bytes)).length, first.length);
  });
});

describe("sniffClientHello: synthetic hellos", () => {
  test("defaults: SNI, ALPN, supported_versions", () => {
    const bytes = hello();
    const { value, length } = expectMatchResult(sniffClientHello(bytes));
    assert.deepEqual(value, {
      sni: "example.com",
      alpn: ["h2", "http/1.1"],
      versions: [0x0304, 0x0303],
      legacyVersion: 0x0303,
      recordVersion: 0x0301,
    });
    assert.equal(length, bytes.length);
  });

  test("a hello over 5 KiB in one record", () => {
    const bytes = hello({ extensions: [sniExt("big.test"), paddingExt(5200)] });
    assert.ok(bytes.length > 5 * 1024);
    const { value, length } = expectMatchResult(sniffClientHello(bytes));
    assert.equal(value.sni, "big.test");
    assert.equal(length, bytes.length);
  });

  test("a ~60 KiB hello over several maximum-size records", () => {
    const hs = handshake(helloBody({ extensions: [paddingExt(60 * 1024), sniExt("huge.test")] }));
    for (const chunk of [16384, 16384 + 2048]) {
      const bytes = frame(hs, chunk);
      const { value, length } = expectMatchResult(sniffClientHello(bytes));
      assert.equal(value.sni, "huge.test");
      assert.equal(length, bytes.length);
      // Spot-check prefixes rather than all 60 K of them: each record boundary and its neighbours.
      for (let pos = 0; pos < bytes.length; pos += 5 + chunk) {
        for (const i of [pos, pos + 1, pos + 5, pos + 6]) {
          if (i < bytes.length) assert.equal(sniffClientHello(bytes.subarray(0, i)).kind, "more");
        }
      }
      assert.equal(sniffClientHello(bytes.subarray(0, bytes.length - 1)).kind, "more");
    }
  });

  test("handshake length of exactly 65536 is accepted", () => {
    const fixed = helloBody({ extensions: [sniExt("max.test")] }).length;
    // Each extension costs a 4-byte header on top of its data.
    const body = helloBody({ extensions: [sniExt("max.test"), paddingExt(65536 - fixed - 4)] });
    assert.equal(body.length, 65536);
    const bytes = frame(handshake(body));
    const { value, length } = expectMatchResult(sniffClientHello(bytes));
    assert.equal(value.sni, "max.test");
    assert.equal(length, bytes.length);
  });

  test("no SNI extension gives sni null", () => {
    const bytes = hello({ extensions: [alpnExt("h2"), versionsExt(0x0304)] });
    const { value } = expectMatchResult(sniffClientHello(bytes));
    assert.equal(value.sni, null);
    assert.deepEqual(value.alpn, ["h2"]);
  });

  test("no extensions at all: versions falls back to legacy_version", () => {
    const { value } = expectMatchResult(sniffClientHello(hello({ extensions: null })));
    assert.deepEqual(value, {
      sni: null,
      alpn: [],
      versions: [0x0303],
      legacyVersion: 0x0303,
      recordVersion: 0x0301,
    });
  });

  test("an empty extensions block is fine", () => {
    const { value } = expectMatchResult(sniffClientHello(hello({ extensions: [] })));
    assert.equal(value.sni, null);
    assert.deepEqual(value.versions, [0x0303]);
  });

  test("no supported_versions: versions is [legacy_version]", () => {
    const bytes = hello({ legacyVersion: 0x0302, extensions: [sniExt("old.test")] });
    const { value } = expectMatchResult(sniffClientHello(bytes));
    assert.deepEqual(value.versions, [0x0302]);
    assert.equal(value.legacyVersion, 0x0302);
  });

  test("an empty session id is fine", () => {
    const { value } = expectMatchResult(sniffClientHello(hello({ sessionId: [] })));
    assert.equal(value.sni, "example.com");
  });

  test("uppercase SNI is lower-cased", () => {
    const { value } = expectMatchResult(
      sniffClientHello(hello({ extensions: [sniExt("WWW.Ex-Ample.COM")] })),
    );
    assert.equal(value.sni, "www.ex-ample.com");
  });

  test("a trailing dot is stripped", () => {
    const { value } = expectMatchResult(
      sniffClientHello(hello({ extensions: [sniExt("Api.Test.")] })),
    );
    assert.equal(value.sni, "api.test");
  });

  test("underscore and digits are allowed", () => {
    const { value } = expectMatchResult(
      sniffClientHello(hello({ extensions: [sniExt("_acme.0day.test")] })),
    );
    assert.equal(value.sni, "_acme.0day.test");
  });

  test("a 255-byte host_name is accepted", () => {
    const name = Array(4).fill("a".repeat(63)).join("."); // 4 * 63 + 3 = 255
    assert.equal(name.length, 255);
    const { value } = expectMatchResult(sniffClientHello(hello({ extensions: [sniExt(name)] })));
    assert.equal(value.sni, name);
  });

  test("server_name entries of other name types are skipped", () => {
    const other = concat([7], vec16([1, 2, 3]));
    const host = concat([0], vec16(ascii("h.test")));
    const exts = [ext(0, vec16(concat(other, host)))];
    const { value } = expectMatchResult(sniffClientHello(hello({ extensions: exts })));
    assert.equal(value.sni, "h.test");
    const onlyOther = [ext(0, vec16(other))];
    assert.equal(
      expectMatchResult(sniffClientHello(hello({ extensions: onlyOther }))).value.sni,
      null,
    );
  });

  test("ALPN names keep one char per byte", () => {
    const exts = [ext(0x10, vec16(concat(vec8([0x68, 0x33]), vec8([0xff, 0x00]))))];
    const { value } = expectMatchResult(sniffClientHello(hello({ extensions: exts })));
    assert.deepEqual(value.alpn, ["h3", "\xff\x00"]);
  });

  test("unknown and GREASE extensions are skipped", () => {
    const exts = [ext(0x0a0a, []), ext(0xfe0d, new Uint8Array(90)), sniExt("g.test")];
    const { value } = expectMatchResult(sniffClientHello(hello({ extensions: exts })));
    assert.equal(value.sni, "g.test");
  });
});

describe("sniffClientHello: not TLS", () => {
  const cases: [string, Bytes][] = [
    ["HTTP/1.1 request", ascii("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")],
    ["HTTP/2 preface", ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")],
    ["SSH banner", ascii("SSH-2.0-OpenSSH_9.6\r\n")],
    ["PROXY v1 header", ascii("PROXY TCP4 192.0.2.1 192.0.2.2 5000 443\r\n")],
    ["PROXY v2 signature", [
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
    ]],
    ["SSLv2-compatible hello", [0x80, 0x2e, 0x01, 0x03, 0x01]],
    ["handshake byte with record major version 2", [0x16, 0x02, 0x00, 0x00, 0x10]],
    ["TLS alert record", TLS_ALERT_HANDSHAKE_FAILURE],
    ["a single non-TLS byte", [0x47]],
  ];
  for (const [name, bytes] of cases) {
    test(`${name} is no match`, () => {
      assert.equal(sniffClientHello(Uint8Array.from(bytes)), NO_MATCH);
    });
  }

  test("empty buffer needs more", () => {
    assert.equal(sniffClientHello(new Uint8Array(0)).kind, "more");
  });

  test("a lone 0x16 needs more", () => {
    assert.equal(sniffClientHello(Uint8Array.of(0x16)).kind, "more");
  });
});

describe("sniffClientHello: invalid", () => {
  // Record layer.
  test("handshake type is not client_hello, caught from the first fragment byte", () => {
    expectInvalid(
      sniffClientHello(Uint8Array.of(0x16, 3, 1, 0, 40, 2)),
      /handshake type 2 \(server_hello\) is not client_hello \(1\)/,
    );
    const hs = handshake(helloBody(), 11);
    expectInvalid(sniffClientHello(frameAt(hs, [1])), /handshake type 11 \(certificate\)/);
  });

  test("non-handshake record interleaved before the hello is complete", () => {
    const hs = handshake(helloBody());
    const bytes = concat(
      frame(hs.subarray(0, 20)),
      [0x15, 3, 3, 0, 2, 2, 40],
      frame(hs.subarray(20)),
    );
    expectInvalid(
      sniffClientHello(bytes),
      /record 1 has content type 0x15 \(alert\) before the ClientHello is complete/,
    );
    // Caught from its first byte.
    expectInvalid(
      sniffClientHello(concat(frame(hs.subarray(0, 20)), [0x17])),
      /content type 0x17 \(application_data\)/,
    );
  });

  test("later record version major byte is not 3", () => {
    const hs = handshake(helloBody());
    const bytes = concat(frame(hs.subarray(0, 20)), frame(hs.subarray(20), 16384, 0x0201));
    expectInvalid(
      sniffClientHello(bytes.subarray(0, 27)),
      /record 1 version major byte 0x02 is not 0x03/,
    );
  });

  test("record length 0", () => {
    expectInvalid(sniffClientHello(Uint8Array.of(0x16, 3, 1, 0, 0)), /record 0 length is 0/);
    const hs = handshake(helloBody());
    const bytes = concat(frame(hs.subarray(0, 20)), [0x16, 3, 1, 0, 0], frame(hs.subarray(20)));
    expectInvalid(sniffClientHello(bytes), /record 1 length is 0/);
  });

  test("record length over 16384 + 2048", () => {
    expectInvalid(
      sniffClientHello(Uint8Array.of(0x16, 3, 1, 0x48, 0x01)),
      /record 0 length 18433 exceeds 18432/,
    );
  });

  test("handshake length over 65536, caught from the header alone", () => {
    expectInvalid(
      sniffClientHello(Uint8Array.of(0x16, 3, 1, 0x40, 0, 1, 1, 0, 1)),
      /handshake length 65537 exceeds 65536/,
    );
    // Header split across records.
    expectInvalid(
      sniffClientHello(frame(Uint8Array.of(1, 0xff, 0xff, 0xff), 1)),
      /handshake length 16777215/,
    );
  });

  test("bytes after the ClientHello in the record that ends it", () => {
    const bytes = frame(concat(handshake(helloBody()), [0x16, 0, 0, 0]));
    expectInvalid(
      sniffClientHello(bytes),
      /record 0 carries 4 bytes after the ClientHello message/,
    );
  });

  // ClientHello body.
  test("body too short for legacy_version, random and session id", () => {
    expectInvalid(
      sniffClientHello(frame(handshake(new Uint8Array(34)))),
      /body length 34 is too short for legacy_version, random and legacy_session_id/,
    );
  });

  test("legacy_version is not TLS", () => {
    expectInvalid(
      sniffClientHello(hello({ legacyVersion: 0x0200 })),
      /legacy_version 0x0200 is not TLS/,
    );
  });

  test("legacy_session_id longer than 32", () => {
    expectInvalid(
      sniffClientHello(hello({ sessionId: new Uint8Array(33) })),
      /legacy_session_id length 33 exceeds 32/,
    );
  });

  test("legacy_session_id overruns the message", () => {
    const body = concat([3, 3], new Uint8Array(32), [32], new Uint8Array(10));
    expectInvalid(
      sniffClientHello(frame(handshake(body))),
      /legacy_session_id length 32 overruns message \(10 bytes left\)/,
    );
  });

  test("cipher_suites length truncated", () => {
    const body = concat([3, 3], new Uint8Array(32), [0], [0]);
    expectInvalid(
      sniffClientHello(frame(handshake(body))),
      /cipher_suites length truncated \(1 bytes left\)/,
    );
  });

  test("cipher_suites empty", () => {
    expectInvalid(sniffClientHello(hello({ suites: [] })), /cipher_suites is empty/);
  });

  test("cipher_suites length odd", () => {
    expectInvalid(
      sniffClientHello(hello({ suites: [0x13, 0x01, 0x13] })),
      /cipher_suites length 3 is odd/,
    );
  });

  test("cipher_suites overruns the message", () => {
    const body = concat([3, 3], new Uint8Array(32), [0], u16(100), [0x13, 0x01]);
    expectInvalid(
      sniffClientHello(frame(handshake(body))),
      /cipher_suites length 100 overruns message \(2 bytes left\)/,
    );
  });

  test("legacy_compression_methods length missing", () => {
    const body = concat([3, 3], new Uint8Array(32), [0], vec16([0x13, 0x01]));
    expectInvalid(
      sniffClientHello(frame(handshake(body))),
      /legacy_compression_methods length truncated/,
    );
  });

  test("legacy_compression_methods empty", () => {
    expectInvalid(
      sniffClientHello(hello({ compression: [] })),
      /legacy_compression_methods is empty/,
    );
  });

  test("legacy_compression_methods overruns the message", () => {
    const body = concat([3, 3], new Uint8Array(32), [0], vec16([0x13, 0x01]), [5, 0]);
    expectInvalid(
      sniffClientHello(frame(handshake(body))),
      /legacy_compression_methods length 5 overruns message \(1 bytes left\)/,
    );
  });

  test("extensions length truncated to one byte", () => {
    expectInvalid(
      sniffClientHello(hello({ raw: [0] })),
      /extensions length truncated \(1 bytes left\)/,
    );
  });

  test("extensions length overruns the message", () => {
    const raw = concat(u16(100), sniExt("x.test"));
    expectInvalid(
      sniffClientHello(hello({ raw })),
      /extensions length 100 overruns message \(15 bytes left\)/,
    );
  });

  test("trailing bytes inside the handshake message after extensions", () => {
    const raw = concat(vec16(sniExt("x.test")), [0, 0, 0]);
    expectInvalid(sniffClientHello(hello({ raw })), /3 trailing bytes after extensions/);
  });

  test("extension header truncated", () => {
    const raw = vec16(concat(sniExt("x.test"), [0x00, 0x10, 0x00]));
    expectInvalid(
      sniffClientHello(hello({ raw })),
      /extension header truncated \(3 bytes left in extensions block\)/,
    );
  });

  test("extension data overruns the extensions block", () => {
    const raw = vec16(concat(u16(0), u16(300), new Uint8Array(120)));
    const r = sniffClientHello(hello({ raw }));
    assert.deepEqual(r, {
      kind: "invalid",
      reason:
        "ClientHello: extension 0x0000 (server_name) length 300 overruns extensions block (120 bytes left)",
    });
  });

  test("duplicate server_name extension", () => {
    const exts = [sniExt("a.test"), sniExt("b.test")];
    expectInvalid(
      sniffClientHello(hello({ extensions: exts })),
      /duplicate extension 0x0000 \(server_name\)/,
    );
  });

  test("duplicate ALPN extension", () => {
    const exts = [alpnExt("h2"), alpnExt("http/1.1")];
    expectInvalid(
      sniffClientHello(hello({ extensions: exts })),
      /duplicate extension 0x0010 \(application_layer_protocol_negotiation\)/,
    );
  });

  test("duplicate supported_versions extension", () => {
    const exts = [versionsExt(0x0304), versionsExt(0x0303)];
    expectInvalid(
      sniffClientHello(hello({ extensions: exts })),
      /duplicate extension 0x002b \(supported_versions\)/,
    );
  });

  // server_name (RFC 6066 §3).
  test("server_name extension too short for its list length", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0, [0])] })),
      /server_name extension length 1 is too short for a list length/,
    );
  });

  test("server_name_list length does not match the extension", () => {
    const data = concat(u16(20), [0], vec16(ascii("x.test")));
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0, data)] })),
      /server_name_list length 20 does not match extension data \(9 bytes\)/,
    );
  });

  test("server_name_list empty", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0, u16(0))] })),
      /server_name_list is empty/,
    );
  });

  test("server_name entry truncated", () => {
    const data = vec16(concat([0], vec16(ascii("x.test")), [0, 0]));
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0, data)] })),
      /server_name entry truncated \(2 bytes left in server_name_list\)/,
    );
  });

  test("server_name entry overruns the list", () => {
    const data = vec16(concat([0], u16(50), ascii("x.test")));
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0, data)] })),
      /server_name entry \(name_type 0\) length 50 overruns server_name_list \(6 bytes left\)/,
    );
  });

  test("more than one host_name", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [sniExt("a.test", "b.test")] })),
      /server_name_list has more than one host_name/,
    );
  });

  test("host_name empty", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [sniExt("")] })),
      /server_name host_name is empty/,
    );
  });

  test("host_name longer than 255", () => {
    const name = Array(4).fill("a".repeat(63)).join(".") + "a";
    expectInvalid(
      sniffClientHello(hello({ extensions: [sniExt(name)] })),
      /server_name host_name length 256 exceeds 255/,
    );
  });

  test("host_name with a byte outside LDH, underscore and dot", () => {
    const bad: [string | Uint8Array, RegExp][] = [
      ["a b.test", /byte 0x20 at offset 1/],
      ["*.test", /byte 0x2a at offset 0/],
      ["a.test:443", /byte 0x3a at offset 6/],
      [Uint8Array.of(0x61, 0x00, 0x62), /byte 0x00 at offset 1/],
      [ascii("caf\xc3\xa9.test"), /byte 0xc3 at offset 3/],
      [ascii("a\x7f"), /byte 0x7f at offset 1/],
    ];
    for (const [name, reason] of bad) {
      const r = sniffClientHello(hello({ extensions: [sniExt(name)] }));
      expectInvalid(r, reason);
      expectInvalid(r, /is not a letter, digit, '-', '_' or '\.'/);
    }
  });

  test("host_name with an empty label", () => {
    for (
      const [name, offset] of [[".", 0], [".a.test", 0], ["a..test", 2], ["a.test..", 7]] as const
    ) {
      const r = sniffClientHello(hello({ extensions: [sniExt(name)] }));
      expectInvalid(r, new RegExp(`server_name host_name has an empty label at offset ${offset}`));
    }
  });

  // application_layer_protocol_negotiation (RFC 7301 §3.1).
  test("ALPN extension too short for its list length", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x10, [])] })),
      /application_layer_protocol_negotiation extension length 0 is too short/,
    );
  });

  test("ALPN protocol_name_list length does not match the extension", () => {
    const data = concat(u16(2), vec8(ascii("h2")), vec8(ascii("h3")));
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x10, data)] })),
      /protocol_name_list length 2 does not match extension data \(6 bytes\)/,
    );
  });

  test("ALPN protocol_name_list empty", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x10, u16(0))] })),
      /protocol_name_list is empty/,
    );
  });

  test("ALPN protocol name empty", () => {
    const data = vec16(concat(vec8(ascii("h2")), [0]));
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x10, data)] })),
      /ALPN protocol name 1 is empty/,
    );
  });

  test("ALPN protocol name overruns the list", () => {
    const data = vec16(concat([9], ascii("h2")));
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x10, data)] })),
      /ALPN protocol name 0 length 9 overruns protocol_name_list \(2 bytes left\)/,
    );
  });

  // supported_versions (RFC 8446 §4.2.1).
  test("supported_versions extension empty", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x2b, [])] })),
      /supported_versions extension is empty/,
    );
  });

  test("supported_versions list length does not match the extension", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x2b, [4, 3, 4])] })),
      /supported_versions list length 4 does not match extension data \(2 bytes\)/,
    );
  });

  test("supported_versions list empty", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x2b, [0])] })),
      /supported_versions list is empty/,
    );
  });

  test("supported_versions list length odd", () => {
    expectInvalid(
      sniffClientHello(hello({ extensions: [ext(0x2b, [3, 3, 4, 3])] })),
      /supported_versions list length 3 is odd/,
    );
  });
});

describe("alert records", () => {
  test("TLS_ALERT_UNRECOGNIZED_NAME is a fatal unrecognized_name alert", () => {
    assert.deepEqual([...TLS_ALERT_UNRECOGNIZED_NAME], [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x70]);
  });

  test("TLS_ALERT_HANDSHAKE_FAILURE is a fatal handshake_failure alert", () => {
    assert.deepEqual([...TLS_ALERT_HANDSHAKE_FAILURE], [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]);
  });
});

// ---- randomized ----

/** Offsets and sizes of every length field in a one-record hello, for targeted corruption. */
function lengthFields(bytes: Uint8Array): [number, number][] {
  const fields: [number, number][] = [[3, 2], [6, 3]];
  let p = 5 + 4 + 34;
  fields.push([p, 1]);
  p += 1 + bytes[p];
  fields.push([p, 2]);
  p += 2 + ((bytes[p] << 8) | bytes[p + 1]);
  fields.push([p, 1]);
  p += 1 + bytes[p];
  fields.push([p, 2]);
  p += 2;
  while (p + 4 <= bytes.length) {
    const type = (bytes[p] << 8) | bytes[p + 1];
    const len = (bytes[p + 2] << 8) | bytes[p + 3];
    fields.push([p + 2, 2]);
    const data = p + 4;
    if (type === 0x0000) fields.push([data, 2], [data + 3, 2]);
    if (type === 0x0010) {
      fields.push([data, 2]);
      for (let q = data + 2; q < data + len; q += 1 + bytes[q]) fields.push([q, 1]);
    }
    if (type === 0x002b) fields.push([data, 1]);
    p = data + len;
  }
  return fields;
}

function mutate(rng: Prng, input: Uint8Array, fields: [number, number][]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(6)) {
      case 0: // byte flip
        if (b.length > 0) b[rng.int(b.length)] = rng.int(256);
        break;
      case 1: // bit flip
        if (b.length > 0) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 2: { // insert
        const at = rng.int(b.length + 1);
        const extra = Uint8Array.from({ length: rng.range(1, 8) }, () => rng.int(256));
        b = concat(b.subarray(0, at), extra, b.subarray(at));
        break;
      }
      case 3: { // delete
        const at = rng.int(b.length + 1);
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 8))));
        break;
      }
      default: { // length-field corruption, more often than the rest: it reaches deeper branches
        const [at, size] = rng.pick(fields);
        if (at + size > b.length) break;
        let v = 0;
        for (let i = 0; i < size; i++) v = v * 256 + b[at + i];
        const max = 256 ** size - 1;
        const choices = [0, 1, v - 1, v + 1, v + rng.range(-40, 40), max, rng.int(max + 1)];
        v = Math.min(max, Math.max(0, rng.pick(choices)));
        for (let i = size - 1; i >= 0; i--) {
          b[at + i] = v & 0xff;
          v = Math.floor(v / 256);
        }
      }
    }
  }
  return b;
}

function checkWellFormed(buf: Uint8Array, r: SniffResult<ClientHello>, label: string): void {
  switch (r.kind) {
    case "more":
    case "no":
      return;
    case "invalid":
      if (typeof r.reason !== "string" || !r.reason.startsWith("ClientHello: ")) {
        assert.fail(`${label}: bad reason ${JSON.stringify(r)}`);
      }
      return;
    case "match": {
      const v = r.value;
      const ok = Number.isInteger(r.length) && r.length > 5 && r.length <= buf.length &&
        (v.sni === null || typeof v.sni === "string") && Array.isArray(v.alpn) &&
        Array.isArray(v.versions) && v.versions.length > 0;
      if (!ok) assert.fail(`${label}: malformed match ${JSON.stringify(r)}`);
      return;
    }
    default:
      assert.fail(`${label}: unknown result ${JSON.stringify(r)}`);
  }
}

test("randomized: mutated, truncated and re-framed fixtures never throw (100,000 cases)", () => {
  const seed = 0x5eed_c11e;
  const rng = mulberry32(seed);
  const corpus = FIXTURES.map((f) => {
    const bytes = file(f.file);
    return {
      bytes,
      hs: unframe(bytes),
      fields: lengthFields(bytes),
      expected: sniffClientHello(bytes),
    };
  });
  const CASES = 100_000;
  for (let i = 0; i < CASES; i++) {
    const c = corpus[i % corpus.length];
    const label = `seed ${seed} case ${i}`;
    let buf: Uint8Array;
    const mode = rng.int(5);
    if (mode === 0) {
      // Truncation alone must always ask for more.
      buf = c.bytes.subarray(0, rng.int(c.bytes.length));
      const r = sniffClientHello(buf);
      if (r.kind !== "more") assert.fail(`${label}: truncation gave ${JSON.stringify(r)}`);
      continue;
    }
    if (mode === 1) {
      // Re-framing alone must give the same hello.
      const sizes = Array.from({ length: rng.range(1, 6) }, () => rng.range(1, 700));
      buf = frameAt(c.hs, sizes);
      const r = sniffClientHello(buf);
      if (r.kind !== "match" || c.expected.kind !== "match") {
        assert.fail(`${label}: ${JSON.stringify(r)}`);
      }
      assert.deepEqual(r.value, c.expected.value, label);
      assert.equal(r.length, buf.length, label);
      continue;
    }
    if (mode === 2) {
      // The field offsets are those of the one-record layout; after re-framing they shift, which
      // still corrupts bytes near real length fields.
      buf = mutate(rng, frameAt(c.hs, [rng.range(1, c.hs.length)]), c.fields);
    } else {
      buf = mutate(rng, c.bytes, c.fields);
    }
    if (rng.int(4) === 0) buf = buf.subarray(0, rng.int(buf.length + 1));
    let r: SniffResult<ClientHello>;
    try {
      r = sniffClientHello(buf);
    } catch (e) {
      assert.fail(`${label}: threw ${e}`);
    }
    checkWellFormed(buf, r, label);
  }
});
