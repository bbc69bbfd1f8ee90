import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sniffProxyHeader } from "../../src/proxy_protocol/decode.ts";
import { encodeProxyV1, encodeProxyV2 } from "../../src/proxy_protocol/encode.ts";
import type { ProxyAddress, ProxyHeader } from "../../src/proxy_protocol/header.ts";
import { NEED_MORE, NO_MATCH, type SniffResult } from "../../src/wire/result.ts";
import { formatIp, parseIp } from "../../src/net/ip.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { ascii, concat, expectInvalid, expectMatch, hex } from "../helpers/sniff.ts";

const SIG = "0d0a0d0a000d0a515549540a";

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A v2 header: signature, version/command, family, computed length, then `body` (hex). */
function v2(verCmd: number, family: number, body: string): Uint8Array {
  const block = hex(body);
  const out = new Uint8Array(16 + block.length);
  out.set(hex(SIG));
  out[12] = verCmd;
  out[13] = family;
  out[14] = block.length >> 8;
  out[15] = block.length & 0xff;
  out.set(block, 16);
  return out;
}

function addr(address: string, port: number): ProxyAddress {
  return { family: address.includes(":") ? 6 : 4, address, port };
}

/** Strips subarray views to their bytes so headers compare with deepEqual across buffers. */
function plain(h: ProxyHeader): unknown {
  return { ...h, tlvs: h.tlvs.map((t) => ({ type: t.type, value: Array.from(t.value) })) };
}

const IPV4_BLOCK = "c0a80001 c0a8000b dc04 01bb"; // 192.168.0.1 -> 192.168.0.11, 56324 -> 443
const IPV6_BLOCK = "20010db8000000000000000000000001 20010db8000000000000000000000002 04d2 0050";

// Valid fixtures, reused by the prefix test and the randomized test.
const VALID: [string, Uint8Array][] = [
  ["v1 TCP4", ascii("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n")],
  ["v1 TCP6", ascii("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n")],
  ["v1 UNKNOWN", ascii("PROXY UNKNOWN\r\n")],
  [
    "v1 UNKNOWN long",
    ascii(`PROXY UNKNOWN ${"ffff:".repeat(7)}ffff ${"ffff:".repeat(7)}ffff 65535 65535\r\n`),
  ],
  ["v1 TCP6 mapped", ascii("PROXY TCP6 ::ffff:10.0.0.1 ::FFFF:10.0.0.2 1 2\r\n")],
  ["v2 TCP4", v2(0x21, 0x11, IPV4_BLOCK)],
  ["v2 UDP4", v2(0x21, 0x12, IPV4_BLOCK)],
  ["v2 TCP6", v2(0x21, 0x21, IPV6_BLOCK)],
  ["v2 UDP6", v2(0x21, 0x22, IPV6_BLOCK)],
  ["v2 LOCAL", v2(0x20, 0x00, "")],
  ["v2 UNIX", v2(0x21, 0x31, "2f".repeat(216))],
  ["v2 TLVs", v2(0x21, 0x11, `${IPV4_BLOCK} 01000268 32 020003616263 040001ff e0000100`)],
];

describe("sniffProxyHeader: v1", () => {
  test("spec example TCP4 before an HTTP request", () => {
    const line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    const buf = ascii(`${line}GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n`);
    assert.deepEqual(expectMatch(sniffProxyHeader(buf), line.length), {
      version: 1,
      command: "proxy",
      source: { family: 4, address: "192.168.0.1", port: 56324 },
      destination: { family: 4, address: "192.168.0.11", port: 443 },
      transport: "tcp",
      tlvs: [],
    });
  });

  test("TCP6", () => {
    const h = expectMatch(sniffProxyHeader(VALID[1][1]), VALID[1][1].length);
    assert.deepEqual(h.source, { family: 6, address: "2001:db8::1", port: 1234 });
    assert.deepEqual(h.destination, { family: 6, address: "2001:db8::2", port: 80 });
  });

  test("TCP6 addresses come out in RFC 5952 form", () => {
    const buf = ascii("PROXY TCP6 2001:0DB8:0:0:0:0:0:1 FE80::A 1 2\r\n");
    const h = expectMatch(sniffProxyHeader(buf), buf.length);
    assert.equal(h.source?.address, "2001:db8::1");
    assert.equal(h.destination?.address, "fe80::a");
  });

  test("the longest TCP6 line (104 bytes) is accepted", () => {
    const full = "ffff:".repeat(7) + "ffff";
    const buf = ascii(`PROXY TCP6 ${full} ${full} 65535 65535\r\n`);
    assert.equal(buf.length, 104);
    const h = expectMatch(sniffProxyHeader(buf), 104);
    assert.equal(h.source?.address, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  });

  test("ports 0 and 65535", () => {
    const buf = ascii("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n");
    const h = expectMatch(sniffProxyHeader(buf), buf.length);
    assert.equal(h.source?.port, 0);
    assert.equal(h.destination?.port, 65535);
  });

  test("IPv4-mapped TCP6 addresses are normalized to IPv4", () => {
    const h = expectMatch(sniffProxyHeader(VALID[4][1]), VALID[4][1].length);
    assert.deepEqual(h.source, { family: 4, address: "10.0.0.1", port: 1 });
    assert.deepEqual(h.destination, { family: 4, address: "10.0.0.2", port: 2 });
  });

  test("UNKNOWN short form", () => {
    assert.deepEqual(expectMatch(sniffProxyHeader(ascii("PROXY UNKNOWN\r\nabc")), 15), {
      version: 1,
      command: "proxy",
      source: null,
      destination: null,
      transport: "unspec",
      tlvs: [],
    });
  });

  test("UNKNOWN ignores the rest of the line, up to the 107-byte worst case", () => {
    assert.equal(VALID[3][1].length, 107);
    const h = expectMatch(sniffProxyHeader(VALID[3][1]), 107);
    assert.equal(h.source, null);
    assert.equal(h.transport, "unspec");
  });

  test("bare LF", () => {
    expectInvalid(sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4\n")), /bare LF at offset 18/);
  });
  test("bare CR", () => {
    expectInvalid(sniffProxyHeader(ascii("PROXY TCP4\rX")), /bare CR at offset 10/);
  });
  test("no CRLF within 107 bytes", () => {
    expectInvalid(
      sniffProxyHeader(ascii(`PROXY UNKNOWN ${"x".repeat(93)}`)),
      /no CRLF within 107 bytes/,
    );
  });
  test("a CR at byte 107 is too late even before its LF arrives", () => {
    const buf = ascii(`PROXY UNKNOWN ${"x".repeat(92)}\r`);
    assert.equal(buf.length, 107);
    expectInvalid(sniffProxyHeader(buf), /no CRLF within 107 bytes/);
  });
  test("unknown protocol, rejected before the CRLF", () => {
    expectInvalid(sniffProxyHeader(ascii("PROXY TCP5")), /protocol "TCP5" is not TCP4/);
  });
  test("protocol is case-sensitive", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n")),
      /protocol "tcp4"/,
    );
  });
  test("empty protocol", () => {
    expectInvalid(sniffProxyHeader(ascii("PROXY \r\n")), /protocol ""/);
  });
  test("UNKNOWN followed by other than space or CRLF", () => {
    expectInvalid(sniffProxyHeader(ascii("PROXY UNKNOWNX\r\n")), /protocol "UNKNOWNX"/);
  });
  test("TCP4 with an IPv6 literal", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 ::1 1.2.3.4 1 2\r\n")),
      /TCP4 source address "::1" is not an IPv4 address/,
    );
  });
  test("TCP6 with an IPv4 literal", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP6 ::1 1.2.3.4 1 2\r\n")),
      /TCP6 destination address "1.2.3.4" is not an IPv6 address/,
    );
  });
  test("IPv4 with a leading zero", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 192.168.01.1 1.2.3.4 1 2\r\n")),
      /source address "192.168.01.1"/,
    );
  });
  test("IPv6 with a zone id", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n")),
      /source address "fe80::1%eth0" is not an IPv6 address/,
    );
  });
  test("port with a leading zero", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 0443 80\r\n")),
      /source port "0443" is not a port number/,
    );
  });
  test("port over 65535", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n")),
      /destination port "65536"/,
    );
  });
  test("port with a sign", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 +80 80\r\n")),
      /source port "\+80"/,
    );
  });
  test("double space", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n")),
      /empty field \(double space\)/,
    );
  });
  test("too many fields (trailing space), rejected before the CRLF", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ")),
      /more than 6 fields/,
    );
  });
  test("trailing space before the CRLF", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n")),
      /empty field \(double space\)/,
    );
  });
  test("too few fields", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")),
      /has 5 fields, not 6/,
    );
  });
  test("a partial field that cannot become valid is rejected early", () => {
    expectInvalid(sniffProxyHeader(ascii("PROXY TCP4 1.2.3.x")), /source address "1.2.3.x"/);
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4 5.6.7.8 123456")),
      /source port "123456"/,
    );
  });
  test("NUL inside an address", () => {
    expectInvalid(
      sniffProxyHeader(ascii("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n")),
      /source address "1.2.3.4\\u0000"/,
    );
  });
});

describe("sniffProxyHeader: v2", () => {
  test("TCP over IPv4, payload after", () => {
    const header = VALID[5][1];
    const buf = concat(header, ascii("GET / HTTP/1.1\r\n"));
    assert.deepEqual(expectMatch(sniffProxyHeader(buf), 28), {
      version: 2,
      command: "proxy",
      source: { family: 4, address: "192.168.0.1", port: 56324 },
      destination: { family: 4, address: "192.168.0.11", port: 443 },
      transport: "tcp",
      tlvs: [],
    });
  });
  test("UDP over IPv4", () => {
    assert.equal(expectMatch(sniffProxyHeader(VALID[6][1]), 28).transport, "udp");
  });
  test("TCP over IPv6", () => {
    const h = expectMatch(sniffProxyHeader(VALID[7][1]), 52);
    assert.deepEqual(h.source, { family: 6, address: "2001:db8::1", port: 1234 });
    assert.deepEqual(h.destination, { family: 6, address: "2001:db8::2", port: 80 });
    assert.equal(h.transport, "tcp");
  });
  test("UDP over IPv6", () => {
    assert.equal(expectMatch(sniffProxyHeader(VALID[8][1]), 52).transport, "udp");
  });
  test("IPv4-mapped IPv6 addresses are normalized to IPv4", () => {
    const buf = v2(
      0x21,
      0x21,
      "00000000000000000000ffff0a000001 00000000000000000000ffff0a000002 0001 0002",
    );
    const h = expectMatch(sniffProxyHeader(buf), 52);
    assert.deepEqual(h.source, { family: 4, address: "10.0.0.1", port: 1 });
    assert.deepEqual(h.destination, { family: 4, address: "10.0.0.2", port: 2 });
  });
  test("LOCAL with no address block", () => {
    assert.deepEqual(expectMatch(sniffProxyHeader(VALID[9][1]), 16), {
      version: 2,
      command: "local",
      source: null,
      destination: null,
      transport: "unspec",
      tlvs: [],
    });
  });
  test("LOCAL discards an address block but reads the TLVs after it", () => {
    const h = expectMatch(sniffProxyHeader(v2(0x20, 0x11, `${IPV4_BLOCK} 01000268 32`)), 33);
    assert.equal(h.command, "local");
    assert.equal(h.source, null);
    assert.equal(h.destination, null);
    assert.equal(h.alpn, "h2");
  });
  test("PROXY with AF_UNSPEC: no addresses, TLVs only", () => {
    const h = expectMatch(sniffProxyHeader(v2(0x21, 0x00, "02000161")), 20);
    assert.equal(h.command, "proxy");
    assert.equal(h.source, null);
    assert.equal(h.transport, "unspec");
    assert.equal(h.authority, "a");
  });
  test("UNIX stream and datagram: 216-byte block, no network addresses", () => {
    for (const family of [0x31, 0x32]) {
      const buf = v2(0x21, family, "00".repeat(216) + "e0000100");
      const h = expectMatch(sniffProxyHeader(buf), 16 + 216 + 4);
      assert.equal(h.transport, "unix");
      assert.equal(h.source, null);
      assert.equal(h.destination, null);
      assert.equal(h.tlvs.length, 1);
    }
  });
  test("TLVs: ALPN and AUTHORITY decoded, NOOP skipped, others kept as views", () => {
    const buf = VALID[11][1];
    const h = expectMatch(sniffProxyHeader(buf), buf.length);
    assert.equal(h.alpn, "h2");
    assert.equal(h.authority, "abc");
    assert.deepEqual(
      h.tlvs.map((t) => [t.type, toHex(t.value)]),
      [[0x01, "6832"], [0x02, "616263"], [0xe0, "00"]],
    );
    // Views into the sniffed buffer, not copies.
    for (const t of h.tlvs) assert.equal(t.value.buffer, buf.buffer);
    assert.equal(h.tlvs[0].value.byteOffset, 16 + 12 + 3);
  });
  test("UTF-8 authority and zero-length TLVs", () => {
    const authority = toHex(new TextEncoder().encode("bücher.example"));
    const len = (authority.length / 2).toString(16).padStart(4, "0");
    const buf = v2(0x21, 0x00, `02${len}${authority} 050000`);
    const h = expectMatch(sniffProxyHeader(buf), buf.length);
    assert.equal(h.authority, "bücher.example");
    assert.deepEqual(h.tlvs[1], { type: 0x05, value: new Uint8Array(0) });
  });
  test("PP2_TYPE_SSL with sub-TLVs and CRC32C are kept raw", () => {
    const ssl = "01 00000000 21000754 4c5376312e33"; // client=SSL, verify=0, VERSION "TLSv1.3"
    const sslLen = hex(ssl).length.toString(16).padStart(4, "0");
    const buf = v2(0x21, 0x11, `${IPV4_BLOCK} 20${sslLen}${ssl} 030004deadbeef`);
    const h = expectMatch(sniffProxyHeader(buf), buf.length);
    assert.deepEqual(h.tlvs.map((t) => t.type), [0x20, 0x03]);
    assert.equal(toHex(h.tlvs[0].value), ssl.replace(/\s+/g, ""));
  });
  test("the largest header: 16 + 65535 bytes", () => {
    const buf = new Uint8Array(16 + 65535);
    buf.set(v2(0x21, 0x00, ""));
    buf.set([0xff, 0xff], 14);
    buf.set([0xe0, 0xff, 0xfc], 16);
    const h = expectMatch(sniffProxyHeader(buf), 65551);
    assert.equal(h.tlvs[0].value.length, 65532);
  });

  test("version 1", () => {
    expectInvalid(sniffProxyHeader(v2(0x11, 0x11, IPV4_BLOCK)), /version 1 \(byte 0x11\) is not 2/);
  });
  test("version 3, rejected with only 13 bytes in", () => {
    expectInvalid(sniffProxyHeader(v2(0x31, 0x11, "").subarray(0, 13)), /version 3 \(byte 0x31\)/);
  });
  test("command 2", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x22, 0x11, IPV4_BLOCK)),
      /command 2 \(byte 0x22\) is not LOCAL or PROXY/,
    );
  });
  test("command 15", () => {
    expectInvalid(sniffProxyHeader(v2(0x2f, 0x00, "")), /command 15 \(byte 0x2f\)/);
  });
  test("unknown family 4", () => {
    expectInvalid(sniffProxyHeader(v2(0x21, 0x41, IPV4_BLOCK)), /family\/transport byte 0x41/);
  });
  test("unknown transport 3", () => {
    expectInvalid(sniffProxyHeader(v2(0x21, 0x13, IPV4_BLOCK)), /family\/transport byte 0x13/);
  });
  test("AF_INET with UNSPEC transport (undefined layout)", () => {
    expectInvalid(sniffProxyHeader(v2(0x21, 0x10, IPV4_BLOCK)), /family\/transport byte 0x10/);
  });
  test("AF_UNSPEC with STREAM transport", () => {
    expectInvalid(sniffProxyHeader(v2(0x21, 0x01, "")), /family\/transport byte 0x01/);
  });
  test("length shorter than the IPv4 address block", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x11, "c0a80001 c0a8000b dc04 01")),
      /length 11 is shorter than the 12-byte TCP over IPv4 address block/,
    );
  });
  test("length shorter than the IPv6 address block, rejected before the block arrives", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x22, "00".repeat(35)).subarray(0, 16)),
      /length 35 is shorter than the 36-byte UDP over IPv6 address block/,
    );
  });
  test("length shorter than the UNIX address block", () => {
    expectInvalid(sniffProxyHeader(v2(0x21, 0x31, "00".repeat(215))), /length 215 .* 216-byte/);
  });
  test("LOCAL still needs the block its family announces", () => {
    expectInvalid(sniffProxyHeader(v2(0x20, 0x21, "")), /length 0 is shorter than the 36-byte/);
  });
  test("truncated TLV header", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x11, `${IPV4_BLOCK} 0100`)),
      /TLV at offset 28 is truncated: 2 of 3 header bytes/,
    );
  });
  test("TLV value overruns the header", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x11, `${IPV4_BLOCK} e0000501020304`)),
      /TLV 0xe0 at offset 28 declares 5 bytes but only 4 remain/,
    );
  });
  test("second TLV overruns after a valid one", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x00, "01000268 32 02ffff61")),
      /TLV 0x02 at offset 21 declares 65535 bytes but only 1 remain/,
    );
  });
  test("ALPN not UTF-8", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x00, "010001ff")),
      /PP2_TYPE_ALPN TLV ff is not valid UTF-8/,
    );
  });
  test("AUTHORITY not UTF-8", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x00, "020002c328")),
      /PP2_TYPE_AUTHORITY TLV c328 is not valid UTF-8/,
    );
  });
  test("duplicate ALPN", () => {
    expectInvalid(sniffProxyHeader(v2(0x21, 0x00, "0100016801000168")), /second PP2_TYPE_ALPN TLV/);
  });
  test("duplicate AUTHORITY", () => {
    expectInvalid(
      sniffProxyHeader(v2(0x21, 0x00, "0200016102000162")),
      /second PP2_TYPE_AUTHORITY TLV/,
    );
  });
});

describe("sniffProxyHeader: detection", () => {
  const notProxy: [string, Uint8Array][] = [
    ["an HTTP request", ascii("GET / HTTP/1.1\r\n")],
    ["a TLS ClientHello", hex("16030100a5010000a10303")],
    ["the HTTP/2 preface", ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")],
    ["PROXZ", ascii("PROXZ")],
    ["PROXY without its space", ascii("PROXY\r\n")],
    ["a lone P then garbage", ascii("Px")],
    ["CRLF then HTTP", ascii("\r\nGET / HTTP/1.1\r\n")],
    ["a v2 signature with a wrong last byte", hex("0d0a0d0a000d0a5155495400")],
    ["one unrelated byte", ascii("X")],
  ];
  for (const [name, buf] of notProxy) {
    test(`no: ${name}`, () => assert.equal(sniffProxyHeader(buf), NO_MATCH));
  }
  test("more: empty input", () => assert.equal(sniffProxyHeader(new Uint8Array(0)), NEED_MORE));

  for (const [name, buf] of VALID) {
    test(`more: every proper prefix of ${name}`, () => {
      for (let n = 0; n < buf.length; n++) {
        assert.equal(sniffProxyHeader(buf.subarray(0, n)), NEED_MORE, `prefix of ${n} bytes`);
      }
      assert.equal(sniffProxyHeader(buf).kind, "match");
    });
  }
});

describe("encodeProxyV1", () => {
  test("exact bytes for IPv4", () => {
    const out = encodeProxyV1({
      source: addr("192.168.0.1", 56324),
      destination: addr("192.168.0.11", 443),
    });
    assert.equal(
      toHex(out),
      "50524f58592054435034203139322e3136382e302e31203139322e3136382e302e3131203536333234203434330d0a",
    );
  });
  test("exact bytes for IPv6", () => {
    const out = encodeProxyV1({
      source: addr("2001:db8::1", 1234),
      destination: addr("2001:db8::2", 80),
    });
    assert.equal(
      toHex(out),
      "50524f5859205443503620323030313a6462383a3a3120323030313a6462383a3a3220313233342038300d0a",
    );
  });
  test("exact bytes for null (UNKNOWN)", () => {
    assert.equal(toHex(encodeProxyV1(null)), "50524f585920554e4b4e4f574e0d0a");
  });
  test("IPv6 text is canonicalized", () => {
    const out = encodeProxyV1({ source: addr("2001:DB8:0::1", 1), destination: addr("::1", 2) });
    assert.equal(new TextDecoder().decode(out), "PROXY TCP6 2001:db8::1 ::1 1 2\r\n");
  });
  test("mixed families give UNKNOWN, never an IPv4-mapped address", () => {
    const out = encodeProxyV1({ source: addr("1.2.3.4", 1), destination: addr("2001:db8::1", 2) });
    assert.equal(new TextDecoder().decode(out), "PROXY UNKNOWN\r\n");
    const reverse = encodeProxyV1({ source: addr("::1", 1), destination: addr("1.2.3.4", 2) });
    assert.equal(new TextDecoder().decode(reverse), "PROXY UNKNOWN\r\n");
  });
  test("IPv4-mapped input is written as plain IPv4 (TCP4)", () => {
    const out = encodeProxyV1({
      source: { family: 6, address: "::ffff:1.2.3.4", port: 1 },
      destination: addr("5.6.7.8", 2),
    });
    assert.equal(new TextDecoder().decode(out), "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  });
  test("throws on programmer error", () => {
    assert.throws(
      () => encodeProxyV1({ source: addr("1.2.3", 1), destination: addr("1.2.3.4", 2) }),
      TypeError,
    );
    assert.throws(
      () =>
        encodeProxyV1({
          source: { family: 4, address: "::1", port: 1 },
          destination: addr("1.2.3.4", 2),
        }),
      /source address "::1" is not IPv4 text/,
    );
    assert.throws(
      () => encodeProxyV1({ source: addr("1.2.3.4", 65536), destination: addr("1.2.3.4", 2) }),
      RangeError,
    );
    assert.throws(
      () => encodeProxyV1({ source: addr("1.2.3.4", 1), destination: addr("1.2.3.4", 1.5) }),
      RangeError,
    );
  });
});

describe("encodeProxyV2", () => {
  test("exact bytes for IPv4", () => {
    const out = encodeProxyV2({
      command: "proxy",
      source: addr("192.168.0.1", 56324),
      destination: addr("192.168.0.11", 443),
    });
    assert.equal(toHex(out), `${SIG}2111000cc0a80001c0a8000bdc0401bb`);
  });
  test("exact bytes for IPv6", () => {
    const out = encodeProxyV2({
      command: "proxy",
      source: addr("2001:db8::1", 1234),
      destination: addr("2001:db8::2", 80),
    });
    assert.equal(
      toHex(out),
      `${SIG}21210024` +
        "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "04d20050",
    );
  });
  test("exact bytes for LOCAL", () => {
    assert.equal(toHex(encodeProxyV2({ command: "local" })), `${SIG}20000000`);
  });
  test("exact bytes for LOCAL with ALPN (TLVs only; addresses ignored)", () => {
    const out = encodeProxyV2({ command: "local", alpn: "h2", source: addr("1.2.3.4", 1) });
    assert.equal(toHex(out), `${SIG}20000005` + "0100026832");
  });
  test("exact bytes for IPv4 with ALPN then AUTHORITY", () => {
    const out = encodeProxyV2({
      command: "proxy",
      source: addr("10.0.0.1", 1),
      destination: addr("10.0.0.2", 2),
      authority: "a.io",
      alpn: "h2",
    });
    assert.equal(
      toHex(out),
      `${SIG}21110018` + "0a0000010a00000200010002" + "0100026832" + "020004612e696f",
    );
  });
  test("mixed families: PROXY command with AF_UNSPEC and no address block", () => {
    const out = encodeProxyV2({
      command: "proxy",
      source: addr("1.2.3.4", 1),
      destination: addr("2001:db8::1", 2),
      authority: "x",
    });
    assert.equal(toHex(out), `${SIG}21000004` + "02000178");
    const h = expectMatch(sniffProxyHeader(out), out.length);
    assert.equal(h.command, "proxy");
    assert.equal(h.source, null);
    assert.equal(h.authority, "x");
    assert.ok(!toHex(out).includes("ffff"));
  });
  test("PROXY without addresses: AF_UNSPEC", () => {
    assert.equal(toHex(encodeProxyV2({ command: "proxy" })), `${SIG}21000000`);
  });
  test("IPv4-mapped input on both sides encodes TCP over IPv4", () => {
    const out = encodeProxyV2({
      command: "proxy",
      source: { family: 6, address: "::ffff:10.0.0.1", port: 1 },
      destination: { family: 6, address: "::FFFF:10.0.0.2", port: 2 },
    });
    assert.equal(toHex(out), `${SIG}2111000c0a0000010a00000200010002`);
  });
  test("throws on programmer error", () => {
    assert.throws(() => encodeProxyV2({ command: "proxy", source: addr("1.2.3.4", 1) }), TypeError);
    assert.throws(
      () => encodeProxyV2({ command: "bogus" as "local" }),
      /unknown command "bogus"/,
    );
    assert.throws(
      () =>
        encodeProxyV2({
          command: "proxy",
          source: addr("1.2.3.4", 1),
          destination: { family: 6, address: "1.2.3.4", port: 2 },
        }),
      TypeError,
    );
    assert.throws(
      () => encodeProxyV2({ command: "local", authority: "x".repeat(65533) }),
      RangeError,
    );
    assert.throws(
      () =>
        encodeProxyV2({
          command: "proxy",
          source: addr("1.2.3.4", -1),
          destination: addr("1.2.3.4", 2),
        }),
      RangeError,
    );
  });
  test("the largest encodable TLV fits exactly", () => {
    const out = encodeProxyV2({ command: "local", authority: "x".repeat(65532) });
    assert.equal(out.length, 16 + 65535);
    assert.equal(expectMatch(sniffProxyHeader(out), out.length).authority?.length, 65532);
  });
});

describe("encode -> decode round trips", () => {
  const pairs: [ProxyAddress, ProxyAddress][] = [
    [addr("192.168.0.1", 56324), addr("192.168.0.11", 443)],
    [addr("0.0.0.0", 0), addr("255.255.255.255", 65535)],
    [addr("2001:db8::1", 1234), addr("2001:db8::2", 80)],
    [addr("::", 0), addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)],
    [addr("fe80::1:0:0:1", 5), addr("::1", 6)],
  ];
  for (const [source, destination] of pairs) {
    test(`v1 and v2: ${source.address} -> ${destination.address}`, () => {
      const one = encodeProxyV1({ source, destination });
      const h1 = expectMatch(sniffProxyHeader(one), one.length);
      assert.deepEqual([h1.version, h1.source, h1.destination], [1, source, destination]);
      const two = encodeProxyV2({
        command: "proxy",
        source,
        destination,
        alpn: "h2",
        authority: "a.b",
      });
      const h2 = expectMatch(sniffProxyHeader(two), two.length);
      assert.deepEqual(
        [h2.version, h2.command, h2.source, h2.destination, h2.transport, h2.alpn, h2.authority],
        [2, "proxy", source, destination, "tcp", "h2", "a.b"],
      );
    });
  }
  test("v2 LOCAL with TLVs", () => {
    const out = encodeProxyV2({ command: "local", alpn: "http/1.1", authority: "ü.example" });
    const h = expectMatch(sniffProxyHeader(out), out.length);
    assert.deepEqual([h.command, h.source, h.alpn, h.authority], [
      "local",
      null,
      "http/1.1",
      "ü.example",
    ]);
  });
});

/** Asserts a result is one of the four shapes, and a match is internally consistent. */
function assertWellFormed(buf: Uint8Array, r: SniffResult<ProxyHeader>, label: string): void {
  switch (r.kind) {
    case "more":
      assert.equal(r, NEED_MORE, label);
      return;
    case "no":
      assert.equal(r, NO_MATCH, label);
      return;
    case "invalid":
      assert.match(r.reason, /^PROXY v[12] ./, label);
      assert.ok(r.reason.length < 300, label);
      return;
    case "match":
      break;
    default:
      assert.fail(`${label}: unknown kind ${JSON.stringify(r)}`);
  }
  const h = r.value;
  assert.ok(r.length > 0 && r.length <= buf.length, label);
  if (h.version === 1) {
    assert.ok(r.length <= 107, label);
    assert.equal(buf[r.length - 2], 0x0d, label);
    assert.equal(buf[r.length - 1], 0x0a, label);
  } else {
    assert.equal(h.version, 2, label);
    assert.equal(r.length, 16 + ((buf[14] << 8) | buf[15]), label);
  }
  assert.equal(h.source === null, h.destination === null, label);
  for (const a of [h.source, h.destination]) {
    if (a === null) continue;
    const ip = parseIp(a.address);
    assert.ok(ip !== null && ip.family === a.family, label);
    assert.equal(formatIp(ip.bytes), a.address, label);
    assert.ok(!a.address.startsWith("::ffff:"), label);
    assert.ok(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535, label);
  }
  for (const t of h.tlvs) {
    assert.equal(t.value.buffer, buf.buffer, label);
    assert.ok(t.value.byteOffset + t.value.length <= buf.byteOffset + r.length, label);
    assert.notEqual(t.type, 0x04, label);
  }
  // The header alone decodes the same, and one byte less is a valid prefix.
  const again = sniffProxyHeader(buf.subarray(0, r.length));
  assert.equal(again.kind, "match", label);
  if (again.kind === "match") assert.deepEqual(plain(again.value), plain(h), label);
  assert.equal(sniffProxyHeader(buf.subarray(0, r.length - 1)), NEED_MORE, label);
}

function randomAddress(rand: Prng, family: 4 | 6): ProxyAddress {
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = 0; i < bytes.length; i++) bytes[i] = rand.int(4) === 0 ? 0 : rand.int(256);
  return { family, address: formatIp(bytes), port: rand.int(65536) };
}

/** A fresh valid header: a fixture, or an encoding of random addresses and TLVs. */
function randomValid(rand: Prng): Uint8Array {
  const kind = rand.int(4);
  if (kind === 0) return rand.pick(VALID)[1].slice();
  const family = rand.int(2) === 0 ? 4 : 6;
  const source = randomAddress(rand, family);
  const destination = randomAddress(rand, rand.int(8) === 0 ? 4 : family);
  if (kind === 1) return encodeProxyV1({ source, destination });
  return encodeProxyV2({
    command: rand.int(5) === 0 ? "local" : "proxy",
    source,
    destination,
    alpn: rand.int(2) === 0 ? "h2" : undefined,
    authority: rand.int(2) === 0 ? "example.com" : undefined,
  });
}

const INTERESTING = [0x00, 0x0a, 0x0d, 0x20, 0x2e, 0x3a, 0x30, 0x39, 0x7f, 0xff, 0x01, 0x02, 0x04];

function mutate(rand: Prng, input: Uint8Array): Uint8Array {
  let buf = input;
  const edits = rand.range(1, 3);
  for (let e = 0; e < edits; e++) {
    const at = rand.int(buf.length + 1);
    switch (rand.int(6)) {
      case 0: // flip a bit
        if (at < buf.length) buf[at] ^= 1 << rand.int(8);
        break;
      case 1: // set an interesting byte
        if (at < buf.length) buf[at] = rand.pick(INTERESTING);
        break;
      case 2: // insert
        buf = concat(buf.subarray(0, at), Uint8Array.of(rand.pick(INTERESTING)), buf.subarray(at));
        break;
      case 3: // delete
        buf = concat(buf.subarray(0, at), buf.subarray(at + 1));
        break;
      case 4: // rewrite the v2 length field
        if (buf.length >= 16) buf.set([rand.int(2) === 0 ? 0 : rand.int(256), rand.int(256)], 14);
        break;
      default: // truncate
        buf = buf.subarray(0, at);
    }
  }
  // Sometimes trail payload bytes, which must never join the header.
  return rand.int(4) === 0 ? concat(buf, ascii("GET / HTTP/1.1\r\n")) : buf;
}

describe("randomized", () => {
  const CASES = 100_000;
  test(`${CASES} mutated and truncated headers: no throw, well-formed results`, () => {
    const seed = 0x5eed;
    const rand = mulberry32(seed);
    const seen = { more: 0, no: 0, invalid: 0, match: 0 };
    for (let n = 0; n < CASES; n++) {
      const buf = mutate(rand, randomValid(rand));
      const label = `seed ${seed} case ${n}: ${toHex(buf)}`;
      let r: SniffResult<ProxyHeader>;
      try {
        r = sniffProxyHeader(buf);
      } catch (e) {
        assert.fail(`${label} threw ${e}`);
      }
      seen[r.kind]++;
      assertWellFormed(buf, r, label);
    }
    // Every outcome must be exercised, or the mutations are not reaching the parser.
    for (const [kind, count] of Object.entries(seen)) {
      assert.ok(count > CASES / 100, `only ${count} ${kind} results`);
    }
  });
});
