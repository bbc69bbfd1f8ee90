import assert from "node:assert/strict";
import { test } from "node:test";
import { cidrContains, CidrSet, parseCidr } from "../../src/net/cidr.ts";
import { parseIp } from "../../src/net/ip.ts";

function ip(text: string) {
  const parsed = parseIp(text);
  assert.ok(parsed, text);
  return parsed;
}

test("parseCidr: IPv4 and IPv6 prefixes, canonical text", () => {
  const c = parseCidr("10.0.0.0/8")!;
  assert.equal(c.family, 4);
  assert.equal(c.prefix, 8);
  assert.deepEqual([...c.bytes], [10, 0, 0, 0]);
  assert.equal(c.text, "10.0.0.0/8");
  assert.equal(parseCidr("2001:DB8:0::/32")!.text, "2001:db8::/32");
  assert.equal(parseCidr("2001:db8::/32")!.bytes.length, 16);
});

test("parseCidr: a bare address is /32 or /128", () => {
  assert.equal(parseCidr("192.0.2.1")!.text, "192.0.2.1/32");
  assert.equal(parseCidr("::1")!.text, "::1/128");
});

test("parseCidr: host bits are zeroed", () => {
  assert.equal(parseCidr("10.1.2.3/8")!.text, "10.0.0.0/8");
  assert.equal(parseCidr("192.168.1.255/23")!.text, "192.168.0.0/23");
  assert.equal(parseCidr("2001:db8:ffff::1/33")!.text, "2001:db8:8000::/33");
});

test("parseCidr: edge prefixes 0, 32 and 128", () => {
  assert.equal(parseCidr("1.2.3.4/0")!.text, "0.0.0.0/0");
  assert.equal(parseCidr("1.2.3.4/32")!.text, "1.2.3.4/32");
  assert.equal(parseCidr("::/0")!.text, "::/0");
  assert.equal(parseCidr("2001:db8::1/128")!.text, "2001:db8::1/128");
});

test("parseCidr: IPv4-mapped prefixes of /96 and longer become IPv4", () => {
  assert.equal(parseCidr("::ffff:10.0.0.0/104")!.text, "10.0.0.0/8");
  assert.equal(parseCidr("::ffff:192.0.2.7")!.text, "192.0.2.7/32");
  assert.equal(parseCidr("::ffff:0:0/96")!.text, "0.0.0.0/0");
  assert.equal(parseCidr("::ffff:0:0/95")!.family, 6);
});

test("parseCidr: junk is null", () => {
  for (
    const bad of [
      "",
      "/8",
      "10.0.0.0/",
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/8/8",
      "10.0.0.0/-1",
      "10.0.0.0/+8",
      "10.0.0.0/ 8",
      "10.0.0/8",
      "host/8",
      "10.0.0.0/0008",
    ]
  ) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

test("cidrContains: whole and partial bytes, never across families", () => {
  const c = parseCidr("192.168.0.0/23")!;
  assert.equal(cidrContains(c, ip("192.168.0.1")), true);
  assert.equal(cidrContains(c, ip("192.168.1.255")), true);
  assert.equal(cidrContains(c, ip("192.168.2.0")), false);
  assert.equal(cidrContains(c, ip("::ffff:192.168.0.1")), false);
  assert.equal(cidrContains(parseCidr("0.0.0.0/0")!, ip("255.255.255.255")), true);
  assert.equal(cidrContains(parseCidr("0.0.0.0/0")!, ip("::")), false);
  assert.equal(cidrContains(parseCidr("::/0")!, ip("2001:db8::1")), true);
  assert.equal(cidrContains(parseCidr("1.2.3.4/32")!, ip("1.2.3.4")), true);
  assert.equal(cidrContains(parseCidr("1.2.3.4/32")!, ip("1.2.3.5")), false);
  const v6 = parseCidr("2001:db8::/33")!;
  assert.equal(cidrContains(v6, ip("2001:db8:7fff::1")), true);
  assert.equal(cidrContains(v6, ip("2001:db8:8000::1")), false);
  assert.equal(cidrContains(parseCidr("::1/128")!, ip("::1")), true);
  assert.equal(cidrContains(parseCidr("::1/128")!, ip("::2")), false);
});

test("CidrSet agrees with cidrContains on random addresses", () => {
  const cidrs = [
    "10.0.0.0/8",
    "192.168.0.0/23",
    "0.0.0.0/32",
    "203.0.113.7/32",
    "128.0.0.0/1",
    "2001:db8::/32",
    "::1/128",
    "fe80::/10",
  ]
    .map((t) => parseCidr(t)!);
  const set = new CidrSet(cidrs);
  let seed = 7;
  const byte = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16 & 0xff;
  for (let i = 0; i < 5000; i++) {
    const v4 = i % 2 === 0;
    const bytes = Uint8Array.from({ length: v4 ? 4 : 16 }, byte);
    // Bias some addresses into the interesting prefixes.
    if (i % 5 === 0) bytes.set(cidrs[i % cidrs.length].bytes.subarray(0, 2));
    const addr = { family: v4 ? 4 : 6, bytes } as const;
    assert.equal(set.has(addr), cidrs.some((c) => cidrContains(c, addr)), String(bytes));
  }
});

test("CidrSet: empty set and /0", () => {
  assert.equal(new CidrSet([]).has(ip("1.2.3.4")), false);
  const all = new CidrSet([parseCidr("0.0.0.0/0")!, parseCidr("::/0")!]);
  assert.equal(all.has(ip("1.2.3.4")), true);
  assert.equal(all.has(ip("::1")), true);
  const loop = new CidrSet([parseCidr("127.0.0.0/8")!]);
  assert.equal(loop.has(ip("127.255.0.1")), true);
  assert.equal(loop.has(ip("128.0.0.1")), false);
  assert.equal(loop.has(ip("::1")), false);
});
