import assert from "node:assert/strict";
import { test } from "node:test";
import { formatEndpoint, isDnsName, parseEndpoint } from "../../src/net/endpoint.ts";

const BIND = { bind: true };
const SERVER = { bind: false };

test("endpoints: every form the contract shows for bind", () => {
  assert.deepEqual(parseEndpoint(":80", BIND), { host: "", port: 80, family: 0, text: ":80" });
  assert.deepEqual(parseEndpoint("0.0.0.0:80", BIND), {
    host: "0.0.0.0",
    port: 80,
    family: 4,
    text: "0.0.0.0:80",
  });
  assert.deepEqual(parseEndpoint("[::]:80", BIND), {
    host: "::",
    port: 80,
    family: 6,
    text: "[::]:80",
  });
  assert.deepEqual(parseEndpoint("127.0.0.1:8080", BIND), {
    host: "127.0.0.1",
    port: 8080,
    family: 4,
    text: "127.0.0.1:8080",
  });
  assert.deepEqual(parseEndpoint("localhost:8080", BIND), {
    host: "localhost",
    port: 8080,
    family: 0,
    text: "localhost:8080",
  });
  assert.deepEqual(parseEndpoint("*:443", BIND), { host: "", port: 443, family: 0, text: "*:443" });
});

test("endpoints: IPv6 is canonical, IPv4-mapped becomes IPv4, names are lower-cased", () => {
  assert.equal(
    (parseEndpoint("[2001:DB8:0:0::10]:3000", SERVER) as { host: string }).host,
    "2001:db8::10",
  );
  assert.deepEqual(parseEndpoint("[::ffff:192.0.2.1]:80", SERVER), {
    host: "192.0.2.1",
    port: 80,
    family: 4,
    text: "[::ffff:192.0.2.1]:80",
  });
  assert.equal(
    (parseEndpoint("App.Example.COM:1", SERVER) as { host: string }).host,
    "app.example.com",
  );
});

test("endpoints: servers take ports 1 to 65535, binds also 0 (kernel-chosen)", () => {
  assert.equal((parseEndpoint("a:1", SERVER) as { port: number }).port, 1);
  assert.equal((parseEndpoint("a:65535", SERVER) as { port: number }).port, 65535);
  assert.equal((parseEndpoint("127.0.0.1:0", BIND) as { port: number }).port, 0);
  assert.equal(parseEndpoint("a:0", SERVER), 'bad address "a:0": the port must be 1 to 65535');
  for (const bad of ["a:65536", "a:", "a:-1", "a:+80", "a:8o", "a:123456"]) {
    assert.equal(parseEndpoint(bad, BIND), `bad address "${bad}": the port must be 0 to 65535`);
  }
});

test("endpoints: errors quote the text and say what is wrong", () => {
  assert.equal(parseEndpoint(":80", SERVER), 'bad address ":80": missing host');
  assert.equal(
    parseEndpoint("example.com", SERVER),
    'bad address "example.com": missing port, e.g. "example.com:80"',
  );
  assert.equal(
    parseEndpoint("::1", SERVER),
    'bad address "::1": an IPv6 address goes in brackets before the port, e.g. "[::1]:80"',
  );
  assert.equal(
    parseEndpoint("2001:db8::1:80", SERVER),
    'bad address "2001:db8::1:80": an IPv6 address goes in brackets before the port, e.g. "[::1]:80"',
  );
  assert.equal(parseEndpoint("[::1]", SERVER), 'bad address "[::1]": missing ":PORT" after "]"');
  assert.equal(parseEndpoint("[::1:80", SERVER), 'bad address "[::1:80": missing "]"');
  assert.equal(
    parseEndpoint("[1.2.3.4]:80", SERVER),
    'bad address "[1.2.3.4]:80": "1.2.3.4" is not an IPv6 address',
  );
  assert.equal(
    parseEndpoint("[fe80::1%eth0]:80", SERVER),
    'bad address "[fe80::1%eth0]:80": "fe80::1%eth0" is not an IPv6 address',
  );
  assert.equal(
    parseEndpoint("1.2.3:80", SERVER),
    'bad address "1.2.3:80": "1.2.3" is not an IPv4 address',
  );
  assert.equal(
    parseEndpoint("010.0.0.1:80", SERVER),
    'bad address "010.0.0.1:80": "010.0.0.1" is not an IPv4 address',
  );
  assert.equal(
    parseEndpoint("a b:80", SERVER),
    'bad address "a b:80": "a b" is not an IP address or host name',
  );
  assert.equal(parseEndpoint("", SERVER), 'bad address "": missing port, e.g. ":80"');
});

test("formatEndpoint round-trips through parseEndpoint", () => {
  for (const text of [":80", "0.0.0.0:80", "[::]:80", "[2001:db8::1]:443", "example.com:8080"]) {
    const e = parseEndpoint(text, BIND);
    assert.ok(typeof e !== "string");
    assert.equal(formatEndpoint(e), text);
  }
  assert.equal(formatEndpoint(parseEndpoint("[::FFFF:1.2.3.4]:80", BIND) as never), "1.2.3.4:80");
});

test("isDnsName: labels of letters, digits, - and _", () => {
  for (const ok of ["localhost", "a.b.c", "x-1.example", "_srv.example.com", "1.2.3"]) {
    assert.ok(isDnsName(ok), ok);
  }
  for (
    const bad of [
      "",
      "-a.com",
      "a-.com",
      "a..b",
      "a.",
      ".a",
      "a b",
      "é.com",
      "a".repeat(64) + ".com",
      "a.".repeat(127) + "aa",
    ]
  ) {
    assert.equal(isDnsName(bad), false, bad);
  }
});
