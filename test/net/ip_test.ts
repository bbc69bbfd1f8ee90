import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatIp, isIpv4Mapped, normalizeMapped, parseIp } from "../../src/net/ip.ts";
import { mulberry32 } from "../helpers/prng.ts";

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

describe("parseIp: IPv4", () => {
  const valid: [string, string][] = [
    ["0.0.0.0", "00000000"],
    ["1.2.3.4", "01020304"],
    ["192.168.0.11", "c0a8000b"],
    ["255.255.255.255", "ffffffff"],
    ["10.0.100.9", "0a006409"],
  ];
  for (const [text, hex] of valid) {
    test(`accepts ${text}`, () => {
      const ip = parseIp(text);
      assert.ok(ip);
      assert.equal(ip.family, 4);
      assert.equal(toHex(ip.bytes), hex);
    });
  }
  const rejected = [
    ["", "empty"],
    ["1.2.3", "three parts"],
    ["1.2.3.4.5", "five parts"],
    ["1..3.4", "empty part"],
    [".1.2.3", "leading dot"],
    ["1.2.3.4.", "trailing dot"],
    ["01.2.3.4", "leading zero (octal to inet_aton)"],
    ["1.2.3.00", "double zero"],
    ["256.1.1.1", "part over 255"],
    ["1.2.3.1000", "four digits"],
    ["0x1.2.3.4", "hex part"],
    ["+1.2.3.4", "sign"],
    [" 1.2.3.4", "leading space"],
    ["1.2.3.4 ", "trailing space"],
    ["1.2.3.4/24", "prefix length"],
    ["1234", "a bare number"],
    ["a.b.c.d", "letters"],
  ];
  for (const [text, why] of rejected) {
    test(`rejects ${JSON.stringify(text)} (${why})`, () => assert.equal(parseIp(text), null));
  }
});

describe("parseIp: IPv6", () => {
  const valid: [string, string][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["2001:db8::1", "20010db8000000000000000000000001"],
    ["2001:DB8::A", "20010db800000000000000000000000a"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "20010db8000000000000000000000001"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["1::8", "00010000000000000000000000000008"],
    ["::ffff:1.2.3.4", "00000000000000000000ffff01020304"],
    ["::FFFF:192.168.0.1", "00000000000000000000ffffc0a80001"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ["::1.2.3.4", "00000000000000000000000001020304"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ff".repeat(16)],
  ];
  for (const [text, hex] of valid) {
    test(`accepts ${text}`, () => {
      const ip = parseIp(text);
      assert.ok(ip);
      assert.equal(ip.family, 6);
      assert.equal(toHex(ip.bytes), hex);
    });
  }
  const rejected = [
    [":", "lone colon"],
    [":::", "triple colon"],
    [":1", "leading single colon"],
    ["1:", "trailing single colon"],
    ["1::2::3", "two double colons"],
    ["1:::2", "triple colon inside"],
    ["1:2:3:4:5:6:7", "seven groups"],
    ["1:2:3:4:5:6:7:8:9", "nine groups"],
    ["1::2:3:4:5:6:7:8", "double colon standing for no group"],
    ["12345::", "five hex digits"],
    ["g::1", "non-hex digit"],
    ["fe80::1%eth0", "zone id"],
    ["fe80::1%25eth0", "URI-escaped zone id"],
    ["[::1]", "brackets"],
    ["::1/128", "prefix length"],
    [" ::1", "leading space"],
    ["::1.2.3", "short embedded IPv4"],
    ["::256.1.1.1", "embedded IPv4 over 255"],
    ["::01.2.3.4", "embedded IPv4 leading zero"],
    ["::1.2.3.4:5", "embedded IPv4 not last"],
    ["1.2.3.4::", "embedded IPv4 first"],
    ["1:2:3:4:5:6:7:1.2.3.4", "embedded IPv4 making nine groups"],
    ["::a.2.3.4", "hex in embedded IPv4"],
    ["1:2:3:4:5:6:7:8" + ":1".repeat(20), "over-long text"],
  ];
  for (const [text, why] of rejected) {
    test(`rejects ${JSON.stringify(text)} (${why})`, () => assert.equal(parseIp(text), null));
  }
});

describe("formatIp", () => {
  const cases: [string, string, string][] = [
    ["01020304", "1.2.3.4", "IPv4 dotted quad"],
    ["00000000", "0.0.0.0", "IPv4 zero"],
    ["00000000000000000000000000000000", "::", "all zeros"],
    ["00000000000000000000000000000001", "::1", "loopback"],
    ["00010000000000000000000000000000", "1::", "trailing run"],
    ["20010db8000000000000000000000001", "2001:db8::1", "RFC 5952 4.1 leading zeros"],
    ["20010db8000000000000000000020001", "2001:db8::2:1", "RFC 5952 4.2.1 longest run"],
    ["20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1", "RFC 5952 4.2.2 lone zero"],
    ["20010000000000010000000000000001", "2001:0:0:1::1", "RFC 5952 4.2.3 longer run wins"],
    ["20010db8000000000001000000000001", "2001:db8::1:0:0:1", "RFC 5952 4.2.3 first on a tie"],
    ["20010db800000000000000000000abcd", "2001:db8::abcd", "RFC 5952 4.3 lower case"],
    ["00000000000000000000ffff01020304", "::ffff:1.2.3.4", "RFC 5952 5 mapped mixed notation"],
    ["00010002000300040005000600070008", "1:2:3:4:5:6:7:8", "no zero groups"],
    ["00000000000000000000000001020304", "::102:304", "IPv4-compatible is not mixed"],
  ];
  for (const [hex, text, why] of cases) {
    test(`${why}: ${text}`, () => assert.equal(formatIp(hexBytes(hex)), text));
  }
  test("throws RangeError on other lengths (programmer error)", () => {
    assert.throws(() => formatIp(new Uint8Array(5)), RangeError);
  });
  test("formats a subarray view", () => {
    const buf = hexBytes("ff0a000001ff");
    assert.equal(formatIp(buf.subarray(1, 5)), "10.0.0.1");
  });
});

describe("isIpv4Mapped", () => {
  test("true for ::ffff:0:0/96", () => {
    assert.equal(isIpv4Mapped(parseIp("::ffff:1.2.3.4")!.bytes), true);
  });
  test("false for IPv4-compatible, other IPv6, and IPv4 bytes", () => {
    assert.equal(isIpv4Mapped(parseIp("::1.2.3.4")!.bytes), false);
    assert.equal(isIpv4Mapped(parseIp("1::ffff:1.2.3.4")!.bytes), false);
    assert.equal(isIpv4Mapped(parseIp("1.2.3.4")!.bytes), false);
  });
});

describe("normalizeMapped", () => {
  const mapped = [
    "::ffff:1.2.3.4",
    "::FFFF:1.2.3.4",
    "::FfFf:1.2.3.4",
    "0:0:0:0:0:ffff:1.2.3.4",
    "0000:0000:0000:0000:0000:FFFF:0102:0304",
    "::ffff:102:304",
  ];
  for (const text of mapped) {
    test(`${text} -> 1.2.3.4`, () => assert.equal(normalizeMapped(text), "1.2.3.4"));
  }
  const unchanged = [
    "1.2.3.4",
    "2001:db8::1",
    "::1.2.3.4",
    "ffff::1",
    "::ffff",
    "1::ffff:1.2.3.4",
    "[::ffff:1.2.3.4]",
    "::ffff:1.2.3.4%eth0",
    "ffff.example",
    "example.com",
    "",
  ];
  for (const text of unchanged) {
    test(`${JSON.stringify(text)} unchanged`, () => assert.equal(normalizeMapped(text), text));
  }
});

/** The WHATWG URL parser's IPv6 reading, an independent oracle; null when it rejects. */
function whatwgIpv6(text: string): Uint8Array | null {
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    // WHATWG serializes in RFC 5952 form, but writes mapped addresses in hex: parse its output.
    return parseIp(host.slice(1, -1))!.bytes;
  } catch {
    return null;
  }
}

function mutateText(rand: ReturnType<typeof mulberry32>, text: string, alphabet: string): string {
  let out = text;
  const edits = rand.range(1, 3);
  for (let e = 0; e < edits; e++) {
    const at = rand.int(out.length + 1);
    const c = alphabet[rand.int(alphabet.length)];
    switch (rand.int(4)) {
      case 0:
        out = out.slice(0, at) + c + out.slice(at);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + 1);
        break;
      case 2:
        out = out.slice(0, at) + c + out.slice(at + 1);
        break;
      default:
        out = out.slice(0, at);
    }
  }
  return out;
}

describe("randomized", () => {
  const CASES = 100_000;
  const seeds = ["2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "::", "fe80::1:2", "1.2.3.4"];
  const alphabet = "0123456789abcdefABCDEF:.%g ";

  test(`${CASES} mutated IPv6/IPv4 strings agree with the WHATWG URL parser`, () => {
    const rand = mulberry32(0x1f00d);
    let accepted = 0;
    for (let n = 0; n < CASES; n++) {
      const text = mutateText(rand, rand.pick(seeds), alphabet);
      const ip = parseIp(text);
      if (text.includes(":")) {
        // Bun's (WebKit's) URL parser also accepts a single trailing colon after "::" ("::1:"),
        // which WHATWG and RFC 4291 reject; those and out-of-alphabet texts are known invalid.
        const oracle = /[ g]|[^:]:$/.test(text) ? null : whatwgIpv6(text);
        assert.deepEqual(ip?.bytes ?? null, oracle, `parseIp(${JSON.stringify(text)})`);
      } else {
        const strict = /^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/.test(text) &&
          text.split(".").every((p) => Number(p) <= 255);
        assert.equal(ip !== null, strict, `parseIp(${JSON.stringify(text)})`);
      }
      if (ip !== null) {
        accepted++;
        // formatIp output is canonical: it parses back to the same bytes and formats the same.
        const text2 = formatIp(ip.bytes);
        assert.deepEqual(parseIp(text2), ip);
        assert.equal(formatIp(parseIp(text2)!.bytes), text2);
        const normal = normalizeMapped(text);
        assert.equal(normal === text, !isIpv4Mapped(ip.bytes));
      } else {
        assert.equal(normalizeMapped(text), text);
      }
    }
    assert.ok(accepted > CASES / 20, `too few valid cases (${accepted}) to mean anything`);
  });

  test(`${CASES} random 16-byte addresses: formatIp matches WHATWG, round-trips`, () => {
    const rand = mulberry32(0xbeef);
    const bytes = new Uint8Array(16);
    for (let n = 0; n < CASES; n++) {
      // Mostly zero groups, so compression runs of every length and position occur.
      for (let g = 0; g < 8; g++) {
        const v = rand.int(3) === 0 ? rand.int(0x10000) : 0;
        bytes[2 * g] = v >> 8;
        bytes[2 * g + 1] = v & 0xff;
      }
      if (rand.int(16) === 0) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
      const text = formatIp(bytes);
      assert.deepEqual(parseIp(text)?.bytes, bytes, text);
      if (!isIpv4Mapped(bytes)) {
        assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
      } else {
        assert.match(text, /^::ffff:\d+\.\d+\.\d+\.\d+$/);
      }
    }
  });
});
