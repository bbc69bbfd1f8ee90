/**
 * The token bucket on a simulated clock (no sleeps): rate, burst, Retry-After, IPv6 keyed by
 * /64, and bounded memory (idle buckets dropped, the table capped).
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseIp } from "../../../src/net/ip.ts";
import { RateLimiter } from "../../../src/route/actions/rate_limit.ts";
import { mulberry32 } from "../../helpers/prng.ts";

const ip = (text: string) => parseIp(text)!;
const v4 = (n: number) => ({ family: 4 as const, bytes: Uint8Array.of(10, n >> 16, n >> 8, n) });

describe("RateLimiter", () => {
  test("a new client has its burst, then one request per 1/rate", () => {
    const rl = new RateLimiter({ requests: 2, perMs: 1000, burst: 3 });
    const a = ip("192.0.2.1");
    for (let i = 0; i < 3; i++) assert.equal(rl.take(a, 0), 0);
    assert.equal(rl.take(a, 0), 1, "refused: one token takes 500 ms, Retry-After rounds up to 1");
    assert.equal(rl.take(a, 499), 1);
    assert.equal(rl.take(a, 500), 0);
    assert.equal(rl.take(a, 500), 1);
    // Another client has its own bucket.
    assert.equal(rl.take(ip("192.0.2.2"), 500), 0);
  });

  test("Retry-After is the whole seconds until a token, at least 1", () => {
    const rl = new RateLimiter({ requests: 1, perMs: 60_000, burst: 1 });
    const a = ip("198.51.100.7");
    assert.equal(rl.take(a, 0), 0);
    assert.equal(rl.take(a, 0), 60);
    assert.equal(rl.take(a, 30_500), 30);
    assert.equal(rl.take(a, 59_999), 1);
    assert.equal(rl.take(a, 60_000), 0);
  });

  test("the measured rate over 3 s is the configured one (burst aside)", () => {
    const rl = new RateLimiter({ requests: 20, perMs: 1000, burst: 40 });
    const a = ip("203.0.113.5");
    let passed = 0;
    // A client asking every millisecond for 3 s.
    for (let t = 0; t < 3000; t++) if (rl.take(a, t) === 0) passed++;
    // 40 at once, then 20 per second for the ~3 s after.
    assert.ok(passed >= 40 + 59 && passed <= 40 + 60, `passed ${passed}`);
  });

  test("IPv6 clients share a bucket per /64; a mapped IPv4 is the IPv4 client", () => {
    const rl = new RateLimiter({ requests: 1, perMs: 1000, burst: 2 });
    assert.equal(rl.take(ip("2001:db8:1:2::1"), 0), 0);
    assert.equal(rl.take(ip("2001:db8:1:2:ffff::9"), 0), 0);
    assert.ok(rl.take(ip("2001:db8:1:2:abcd::1"), 0) > 0, "same /64: the bucket is empty");
    assert.equal(rl.take(ip("2001:db8:1:3::1"), 0), 0, "another /64");
    assert.equal(rl.take(ip("192.0.2.1"), 0), 0);
    assert.equal(rl.take(ip("::ffff:192.0.2.1"), 0), 0);
    assert.ok(rl.take(ip("192.0.2.1"), 0) > 0, "the mapped address used the same bucket");
  });

  test("buckets full again are dropped as requests come (no timers)", () => {
    const rl = new RateLimiter({ requests: 10, perMs: 1000, burst: 10 });
    for (let n = 0; n < 1000; n++) rl.take(v4(n), n);
    // Each bucket (9 tokens after its one request) is full again 100 ms later; the ones older
    // than that have been swept by the requests since.
    assert.ok(rl.size >= 99 && rl.size <= 101, String(rl.size));
    const before = rl.size;
    // Much later, a single client's requests sweep two idle buckets each.
    for (let k = 0; k < 600; k++) rl.take(v4(5000), 10_000 + k * 100);
    assert.equal(rl.size, 1, `from ${before}: only the active client is left`);
  });

  test("steady traffic from many clients keeps only the recent ones", () => {
    const rl = new RateLimiter({ requests: 1, perMs: 100, burst: 1 });
    // A new client every ms, each full again 100 ms after: about 100 buckets live at a time.
    for (let n = 0; n < 10_000; n++) rl.take(v4(n), n);
    assert.ok(rl.size <= 101, `size ${rl.size}`);
  });

  test("the table is capped: the least recently used client goes first", () => {
    const rl = new RateLimiter({ requests: 1, perMs: 1_000_000, burst: 1 }, 3);
    const [a, b, c, d] = [v4(1), v4(2), v4(3), v4(4)];
    assert.equal(rl.take(a, 0), 0);
    assert.equal(rl.take(b, 1), 0);
    assert.equal(rl.take(c, 2), 0);
    assert.ok(rl.take(a, 3) > 0, "a is refused and becomes the most recently used");
    assert.equal(rl.take(d, 4), 0, "d takes b's place");
    assert.equal(rl.size, 3);
    assert.ok(rl.take(a, 5) > 0, "a was kept");
    assert.equal(rl.take(b, 6), 0, "b was evicted: a full bucket again");
  });

  test("seeded random traffic: never over rate·t + burst per client, table within its cap", () => {
    const rand = mulberry32(429);
    const limit = { requests: 5, perMs: 1000, burst: 7 };
    const rl = new RateLimiter(limit, 50);
    const passed = new Map<number, number>();
    let t = 0;
    for (let i = 0; i < 50_000; i++) {
      t += rand.int(3);
      const n = rand.int(40); // fewer clients than the cap: no bucket is evicted while in use
      if (rl.take(v4(n), t) === 0) passed.set(n, (passed.get(n) ?? 0) + 1);
      assert.ok(rl.size <= 50);
    }
    for (const [n, count] of passed) {
      assert.ok(count <= limit.burst + (t * limit.requests) / limit.perMs, `client ${n}: ${count}`);
    }
  });

  test("a clock that steps back takes no tokens away and gives none", () => {
    const rl = new RateLimiter({ requests: 1, perMs: 1000, burst: 1 });
    const a = ip("192.0.2.9");
    assert.equal(rl.take(a, 5000), 0);
    assert.ok(rl.take(a, 1000) > 0);
    assert.equal(rl.take(a, 6000), 0);
  });
});
