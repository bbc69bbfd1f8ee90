/**
 * sockaddr_in / sockaddr_in6 encoding for bind(2) and connect(2), byte for byte, and decoding
 * of what getsockname(2) fills in.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HOST_LITTLE_ENDIAN } from "../../src/runtime/ffi.ts";
import {
  AF_INET,
  AF_INET6,
  decodeSockaddr,
  encodeSockaddr,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
} from "../../src/sys/sockaddr.ts";

/** The family field in host byte order. */
function family(af: number): number[] {
  return HOST_LITTLE_ENDIAN ? [af & 0xff, af >> 8] : [af >> 8, af & 0xff];
}

describe("sockaddr encoding", () => {
  test("IPv4: family, port in network order, address, zero padding", () => {
    const sa = encodeSockaddr("198.51.100.2", 8080);
    assert.equal(sa.length, SOCKADDR_IN_SIZE);
    assert.deepEqual(
      [...sa],
      [...family(AF_INET), 0x1f, 0x90, 198, 51, 100, 2, 0, 0, 0, 0, 0, 0, 0, 0],
    );
  });

  test("IPv6: family, port, zero flowinfo, address, zero scope id", () => {
    const sa = encodeSockaddr("2001:db8::1", 443);
    assert.equal(sa.length, SOCKADDR_IN6_SIZE);
    assert.deepEqual([...sa], [
      ...family(AF_INET6),
      0x01,
      0xbb,
      0,
      0,
      0,
      0,
      0x20,
      0x01,
      0x0d,
      0xb8,
      ...new Array(11).fill(0),
      1,
      0,
      0,
      0,
      0,
    ]);
  });

  test("port 0 (the kernel's choice) and 65535 are encoded", () => {
    assert.deepEqual([...encodeSockaddr("203.0.113.1", 0).subarray(2, 4)], [0, 0]);
    assert.deepEqual([...encodeSockaddr("::", 65535).subarray(2, 4)], [0xff, 0xff]);
  });

  test("an IPv4-mapped IPv6 address is refused, never bound", () => {
    assert.throws(() => encodeSockaddr("::ffff:198.51.100.2", 80), /IPv4-mapped/);
    assert.throws(() => encodeSockaddr("::ffff:c633:6402", 80), /IPv4-mapped/);
  });

  test("names, brackets, zones and bad ports are refused", () => {
    for (const host of ["localhost", "[::1]", "fe80::1%eth0", "1.2.3", "", "01.2.3.4"]) {
      assert.throws(() => encodeSockaddr(host, 80), RangeError, host);
    }
    for (const port of [-1, 65536, 1.5, NaN]) {
      assert.throws(() => encodeSockaddr("127.0.0.1", port), /out of range/, String(port));
    }
  });

  test("decoding gives back what was encoded", () => {
    for (
      const [host, port] of [["198.51.100.2", 8080], ["2001:db8::1", 443], ["::", 0], [
        "0.0.0.0",
        65535,
      ]] as const
    ) {
      const d = decodeSockaddr(encodeSockaddr(host, port));
      assert.deepEqual(d, { host, port, family: host.includes(":") ? 6 : 4 });
    }
  });

  test("decoding an IPv4-mapped sockaddr_in6 gives the IPv4 address", () => {
    const sa = new Uint8Array(SOCKADDR_IN6_SIZE);
    sa.set(family(AF_INET6), 0);
    sa.set([0x00, 0x50], 2);
    sa.set([0xff, 0xff, 198, 51, 100, 2], 18);
    assert.deepEqual(decodeSockaddr(sa), { host: "198.51.100.2", port: 80, family: 4 });
  });

  test("decoding refuses another family or a short buffer", () => {
    const unix = new Uint8Array(SOCKADDR_IN6_SIZE);
    unix.set(family(1), 0);
    assert.throws(() => decodeSockaddr(unix), /address family 1/);
    assert.throws(() => decodeSockaddr(encodeSockaddr("::1", 1).subarray(0, 20)), /short/);
    assert.throws(() => decodeSockaddr(new Uint8Array(1)), RangeError);
  });
});
