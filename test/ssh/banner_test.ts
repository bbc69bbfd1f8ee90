import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sniffSshBanner, type SshBanner } from "../../src/ssh/banner.ts";
import { NEED_MORE, NO_MATCH, type SniffResult } from "../../src/wire/result.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { ascii, concat, expectInvalidFrom, expectMatch } from "../helpers/sniff.ts";

function sniff(s: string): SniffResult<SshBanner> {
  return sniffSshBanner(ascii(s));
}

const expectInvalid = expectInvalidFrom("SSH: ");

// Identification strings real clients send.
const BANNERS: [string, string, string][] = [
  ["SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n", "2.0", "OpenSSH_9.6p1"],
  ["SSH-2.0-OpenSSH_for_Windows_8.1\r\n", "2.0", "OpenSSH_for_Windows_8.1"],
  ["SSH-2.0-Go\r\n", "2.0", "Go"],
  ["SSH-2.0-PuTTY_Release_0.80\r\n", "2.0", "PuTTY_Release_0.80"],
  ["SSH-2.0-JSCH-0.1.54\r\n", "2.0", "JSCH-0.1.54"],
  ["SSH-2.0-libssh2_1.11.0\r\n", "2.0", "libssh2_1.11.0"],
  ["SSH-2.0-paramiko_3.4.0\r\n", "2.0", "paramiko_3.4.0"],
  ["SSH-2.0-dropbear_2022.83\r\n", "2.0", "dropbear_2022.83"],
  ["SSH-1.99-OpenSSH_3.9p1\r\n", "1.99", "OpenSSH_3.9p1"],
  ["SSH-2.0-Bare_LF\n", "2.0", "Bare_LF"],
];

describe("sniffSshBanner: matches", () => {
  for (const [line, version, software] of BANNERS) {
    test(`${JSON.stringify(line)}`, () => {
      assert.deepEqual(sniff(line), {
        kind: "match",
        value: { version, software },
        length: line.length,
      });
    });

    test(`${JSON.stringify(line)}: every proper prefix needs more`, () => {
      const bytes = ascii(line);
      for (let i = 0; i < bytes.length; i++) {
        assert.equal(sniffSshBanner(bytes.subarray(0, i)), NEED_MORE, `prefix ${i}`);
      }
    });
  }

  test("bytes after the line (the client's KEXINIT) are not counted", () => {
    const line = ascii("SSH-2.0-OpenSSH_9.6\r\n");
    const kexinit = Uint8Array.of(0, 0, 5, 0xdc, 0x0a, 0x14, 0x0d, 0x0a, 0xff);
    const r = sniffSshBanner(concat(line, kexinit));
    assert.deepEqual(r, {
      kind: "match",
      value: { version: "2.0", software: "OpenSSH_9.6" },
      length: line.length,
    });
  });

  test("a view into a larger buffer (non-zero byteOffset) parses the same", () => {
    const big = concat(ascii("xxxx"), ascii("SSH-2.0-Go\r\n"));
    assert.deepEqual(sniffSshBanner(big.subarray(4)), {
      kind: "match",
      value: { version: "2.0", software: "Go" },
      length: 12,
    });
  });

  test("a line of exactly 255 bytes, CR LF included, is accepted", () => {
    const line = "SSH-2.0-" + "x".repeat(245) + "\r\n";
    assert.equal(line.length, 255);
    expectMatch(sniff(line), 255);
  });

  test("comments may hold spaces, dashes and non-ASCII bytes", () => {
    const banner = expectMatch(sniff("SSH-2.0-Client_1.0 built by caf\xc3\xa9 - see docs\r\n"));
    assert.equal(banner.software, "Client_1.0");
  });

  test("a trailing space with no comments is accepted", () => {
    assert.equal(expectMatch(sniff("SSH-2.0-Go \r\n")).software, "Go");
  });
});

describe("sniffSshBanner: not SSH", () => {
  const cases: [string, Uint8Array][] = [
    ["HTTP request", ascii("GET / HTTP/1.1\r\n")],
    ["TLS record", Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00, 0x01)],
    ["PROXY v1 header", ascii("PROXY TCP4 192.0.2.1 192.0.2.2 5000 22\r\n")],
    ["PROXY v2 signature", Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51)],
    ["lower-case ssh", ascii("ssh-2.0-Go\r\n")],
    ["SSH without the dash", ascii("SSH2.0-Go\r\n")],
    ["a lone S followed by something else", ascii("SX")],
    ["SS then something else", ascii("SSx")],
    ["SSH then something else", ascii("SSH ")],
    ["a server greeting line before the banner", ascii("Hello\r\nSSH-2.0-Go\r\n")],
  ];
  for (const [name, bytes] of cases) {
    test(`${name} is no match`, () => {
      assert.equal(sniffSshBanner(bytes), NO_MATCH);
    });
  }

  test("empty buffer and partial SSH- need more", () => {
    for (const s of ["", "S", "SS", "SSH", "SSH-", "SSH-1", "SSH-1.9", "SSH-2.0"]) {
      assert.equal(sniff(s), NEED_MORE, JSON.stringify(s));
    }
  });
});

describe("sniffSshBanner: invalid", () => {
  test("protoversion other than 2.0 or 1.99", () => {
    expectInvalid(sniff("SSH-1.5-OpenSSH_1.2\r\n"), /protoversion "1.5" is not "2.0" or "1.99"/);
    expectInvalid(sniff("SSH-3.0-Future\r\n"), /protoversion "3.0"/);
  });

  test("bad protoversion is caught before the line ends", () => {
    expectInvalid(sniff("SSH-2.1"), /protoversion "2.1"/);
    expectInvalid(sniff("SSH-2.0x"), /protoversion "2.0x"/);
  });

  test("protoversion quoted safely in the reason", () => {
    expectInvalid(sniff("SSH-\x00\x1b[31m"), /protoversion "\\u0000\\u001b\[31m"/);
  });

  test("control character in softwareversion", () => {
    expectInvalid(sniff("SSH-2.0-Open\x00SSH\r\n"), /control character 0x00 at offset 12/);
  });

  test("control character in comments", () => {
    expectInvalid(sniff("SSH-2.0-Go some\tcomment\r\n"), /control character 0x09 at offset 15/);
    expectInvalid(sniff("SSH-2.0-Go a\x7f\r\n"), /control character 0x7f at offset 12/);
  });

  test("CR not followed by LF", () => {
    expectInvalid(sniff("SSH-2.0-Go\rx"), /CR not followed by LF at offset 10/);
  });

  test("softwareversion empty", () => {
    expectInvalid(sniff("SSH-2.0-\r\n"), /softwareversion is empty/);
    expectInvalid(sniff("SSH-2.0- comment"), /softwareversion is empty/);
  });

  test("non-ASCII byte in softwareversion", () => {
    expectInvalid(
      sniff("SSH-2.0-caf\xc3\xa9\r\n"),
      /softwareversion has non-ASCII byte 0xc3 at offset 11/,
    );
  });

  test("no line end within 255 bytes", () => {
    expectInvalid(sniff("SSH-2.0-" + "x".repeat(247)), /no line end within 255 bytes/);
    // 256 bytes through the LF: one over.
    expectInvalid(sniff("SSH-2.0-" + "x".repeat(246) + "\r\n"), /no line end within 255 bytes/);
    expectInvalid(sniff("SSH-2.0-" + "x".repeat(247) + "\n"), /no line end within 255 bytes/);
    // One short of the limit still needs more.
    assert.equal(sniff("SSH-2.0-" + "x".repeat(246)), NEED_MORE);
  });
});

test("randomized: mutated, truncated and extended banners never throw (100,000 cases)", () => {
  const seed = 0x55_4a_0001;
  const rng = mulberry32(seed);
  const kexinit = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff);
  const corpus = BANNERS.map(([line]) => concat(ascii(line), kexinit));
  const interesting = [
    0x00,
    0x09,
    0x0a,
    0x0d,
    0x20,
    0x2d,
    0x2e,
    0x31,
    0x32,
    0x39,
    0x7f,
    0xc3,
    0xff,
  ];
  for (let i = 0; i < 100_000; i++) {
    const label = `seed ${seed} case ${i}`;
    let b: Uint8Array = Uint8Array.from(rng.pick(corpus));
    const rounds = rng.range(1, 3);
    for (let r = 0; r < rounds; r++) {
      const at = rng.int(b.length + 1);
      switch (rng.int(5)) {
        case 0: // byte flip, biased to the bytes the parser branches on
          if (at < b.length) b[at] = rng.int(2) === 0 ? rng.pick(interesting) : rng.int(256);
          break;
        case 1: // insert
          b = concat(
            b.subarray(0, at),
            Uint8Array.from({ length: rng.range(1, 8) }, () => rng.pick(interesting)),
            b.subarray(at),
          );
          break;
        case 2: // delete
          b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 8))));
          break;
        case 3: // stretch the line towards and past the 255-byte limit
          b = concat(
            b.subarray(0, Math.min(at, 20)),
            new Uint8Array(rng.range(200, 300)).fill(0x78),
            b.subarray(Math.min(at, 20)),
          );
          break;
        default: // truncate
          b = b.subarray(0, at);
      }
    }
    let r: SniffResult<SshBanner>;
    try {
      r = sniffSshBanner(b);
    } catch (e) {
      assert.fail(`${label}: threw ${e}`);
    }
    switch (r.kind) {
      case "more":
      case "no":
        break;
      case "invalid":
        if (!r.reason.startsWith("SSH: ")) assert.fail(`${label}: ${JSON.stringify(r)}`);
        break;
      case "match": {
        const { version, software } = r.value;
        const ok = r.length <= b.length && r.length <= 255 && b[r.length - 1] === 0x0a &&
          (version === "2.0" || version === "1.99") && /^[\x21-\x7e]+$/.test(software);
        if (!ok) assert.fail(`${label}: malformed match ${JSON.stringify(r)}`);
        break;
      }
      default:
        assert.fail(`${label}: unknown result ${JSON.stringify(r)}`);
    }
  }
});
