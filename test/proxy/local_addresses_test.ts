/**
 * The local-address service: loopback always, interface addresses from a table read at most
 * every 5 s (clock and table injected, no sleeps).
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type InterfaceLister,
  LOCAL_REFRESH_MS,
  LocalAddresses,
} from "../../src/proxy/local_addresses.ts";

/** A service over a table and a clock the test changes. */
function fixture(initial: string[]) {
  const state = { now: 1000, addresses: initial, reads: 0 };
  const list: InterfaceLister = () => {
    state.reads++;
    return { eth0: state.addresses.map((address) => ({ address })), lo: undefined };
  };
  const local = new LocalAddresses({ list, now: () => state.now });
  return { state, local };
}

describe("LocalAddresses", () => {
  test("loopback (all of 127/8 and ::1) and interface addresses are local", () => {
    const { local } = fixture(["192.0.2.10", "2001:DB8::10", "::ffff:198.51.100.7"]);
    assert.ok(local.has("127.0.0.1"));
    assert.ok(local.has("127.3.4.5"));
    assert.ok(local.has("::1"));
    assert.ok(local.has("192.0.2.10"));
    // Normalized like the addresses it is asked about: lower case, IPv4-mapped unwrapped.
    assert.ok(local.has("2001:db8::10"));
    assert.ok(local.has("198.51.100.7"));
    assert.ok(!local.has("192.0.2.11"));
    assert.ok(!local.has("2001:db8::11"));
  });

  test("the table is read once per refresh period, then again", () => {
    const { state, local } = fixture(["192.0.2.10"]);
    assert.equal(state.reads, 0, "nothing is read before the first question");
    assert.ok(!local.has("192.0.2.20"));
    assert.equal(state.reads, 1);

    state.addresses = ["192.0.2.10", "192.0.2.20"];
    state.now += LOCAL_REFRESH_MS;
    assert.ok(!local.has("192.0.2.20"), "still the first read at exactly 5 s");
    assert.ok(local.has("192.0.2.10"));
    assert.equal(state.reads, 1);

    state.now += 1;
    assert.ok(local.has("192.0.2.20"), "an address added at run time is seen after 5 s");
    assert.equal(state.reads, 2);

    state.addresses = [];
    state.now += LOCAL_REFRESH_MS + 1;
    assert.ok(!local.has("192.0.2.10"), "a removed address stops being local");
    assert.equal(state.reads, 3);
  });

  test("loopback needs no read of the table", () => {
    const { state, local } = fixture([]);
    assert.ok(local.has("127.0.0.1"));
    assert.equal(state.reads, 0);
  });

  test("a clock that goes back reads the table again", () => {
    const { state, local } = fixture(["192.0.2.10"]);
    local.has("192.0.2.10");
    state.now -= 1;
    local.has("192.0.2.10");
    assert.equal(state.reads, 2);
  });
});
