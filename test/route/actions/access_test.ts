/** allow/deny: deny first, then allow; compiled once; checked against a plain reference. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Cidr, cidrContains, parseCidr } from "../../../src/net/cidr.ts";
import { parseIp } from "../../../src/net/ip.ts";
import { accessAllowed, compileAccess } from "../../../src/route/actions/access.ts";
import { mulberry32 } from "../../helpers/prng.ts";

const cidrs = (...texts: string[]): Cidr[] => texts.map((t) => parseCidr(t)!);
const ip = (text: string) => parseIp(text)!;

describe("access", () => {
  test("no allow or deny: no check at all, everyone passes", () => {
    assert.equal(compileAccess({}), null);
    assert.equal(accessAllowed({}, ip("192.0.2.1")), true);
  });

  test("allow only: the listed addresses, IPv4 and IPv6", () => {
    const route = { allow: cidrs("203.0.113.0/24", "2001:db8::/32") };
    const check = compileAccess(route)!;
    assert.equal(check(ip("203.0.113.9")), true);
    assert.equal(check(ip("203.0.114.9")), false);
    assert.equal(check(ip("2001:db8:1::5")), true);
    assert.equal(check(ip("2001:db9::5")), false);
    assert.equal(accessAllowed(route, ip("203.0.113.200")), true);
    assert.equal(accessAllowed(route, ip("10.0.0.1")), false);
  });

  test("deny wins over allow", () => {
    const route = { allow: cidrs("10.0.0.0/8"), deny: cidrs("10.1.0.0/16") };
    assert.equal(accessAllowed(route, ip("10.2.3.4")), true);
    assert.equal(accessAllowed(route, ip("10.1.3.4")), false);
    assert.equal(accessAllowed(route, ip("11.0.0.1")), false);
  });

  test("deny only: everyone else passes", () => {
    const route = { deny: cidrs("192.0.2.0/24", "::1") };
    assert.equal(accessAllowed(route, ip("192.0.2.1")), false);
    assert.equal(accessAllowed(route, ip("::1")), false);
    assert.equal(accessAllowed(route, ip("198.51.100.1")), true);
  });

  test("an empty allow list lets nobody in", () => {
    assert.equal(accessAllowed({ allow: [] }, ip("127.0.0.1")), false);
  });

  test("an IPv4-mapped client (from a PROXY header) is its IPv4 address", () => {
    const route = { deny: cidrs("192.0.2.0/24") };
    assert.equal(accessAllowed(route, ip("::ffff:192.0.2.1")), false);
    assert.equal(accessAllowed({ allow: cidrs("192.0.2.0/24") }, ip("::ffff:192.0.2.1")), true);
  });

  test("seeded random rules and addresses agree with cidrContains", () => {
    const rand = mulberry32(403);
    const v4 = () =>
      `${rand.pick([10, 192, 203])}.${rand.int(4)}.${rand.int(256)}.${rand.int(256)}`;
    const v6 = () => `2001:db8:${rand.int(4).toString(16)}::${rand.int(65536).toString(16)}`;
    const prefix = () =>
      rand.int(2) ? `${v4()}/${rand.range(0, 32)}` : `${v6()}/${rand.range(16, 128)}`;
    for (let i = 0; i < 500; i++) {
      const allow = rand.int(3) === 0
        ? undefined
        : cidrs(...Array.from({ length: rand.int(4) }, prefix));
      const deny = rand.int(3) === 0
        ? undefined
        : cidrs(...Array.from({ length: rand.int(4) }, prefix));
      const route = { allow, deny };
      const check = compileAccess(route);
      for (let j = 0; j < 20; j++) {
        const addr = ip(rand.int(2) ? v4() : v6());
        const want = !(deny ?? []).some((c) => cidrContains(c, addr)) &&
          (allow === undefined || allow.some((c) => cidrContains(c, addr)));
        assert.equal(check === null ? true : check(addr), want);
        assert.equal(accessAllowed(route, addr), want);
      }
    }
  });
});
