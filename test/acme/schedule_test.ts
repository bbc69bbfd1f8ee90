import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  BACKOFF_MAX_MS,
  BACKOFF_MIN_MS,
  backoffDelay,
  DEFAULT_RENEW_BEFORE_MS,
  renewalTime,
  renewBeforeIgnored,
} from "../../src/acme/schedule.ts";

const DAY = 86_400_000;

describe("renewalTime", () => {
  test("a 90-day certificate renews 30 days before it expires", () => {
    assert.equal(renewalTime(0, 90 * DAY, null, 0), 60 * DAY);
    assert.equal(DEFAULT_RENEW_BEFORE_MS, 30 * DAY);
  });
  test("a short-lived certificate renews when a third of its lifetime is left", () => {
    assert.equal(renewalTime(0, 6 * DAY, null, 0), 4 * DAY);
    assert.equal(renewalTime(1000, 1000 + 60_000, null, 0), 1000 + 40_000);
  });
  test("renew_before replaces the default, even past a third of the lifetime", () => {
    assert.equal(renewalTime(0, 90 * DAY, 10 * DAY, 0), 80 * DAY);
    assert.equal(renewalTime(0, 60_000, 55_000, 0), 5_000);
    assert.equal(renewBeforeIgnored(0, 60_000, 55_000), false);
  });
  test("a renew_before not shorter than the lifetime gives way to the default: no order loop", () => {
    // renew_before: 30d with 6-day certificates would make each new one due at once.
    assert.equal(renewalTime(0, 6 * DAY, 30 * DAY, 0), 4 * DAY);
    assert.equal(renewalTime(0, 60_000, 60_000, 0), 40_000);
    assert.equal(renewBeforeIgnored(0, 6 * DAY, 30 * DAY), true);
    assert.equal(renewBeforeIgnored(0, 60_000, 60_000), true);
    assert.equal(renewBeforeIgnored(0, 60_000, null), false);
  });
  test("jitter moves it earlier by at most 1% of the lifetime, capped at an hour", () => {
    assert.equal(renewalTime(0, 60_000, null, 0.999999) >= 40_000 - 600, true);
    assert.equal(renewalTime(0, 60_000, null, 1), 40_000 - 600);
    assert.equal(renewalTime(0, 90 * DAY, null, 1), 60 * DAY - 3_600_000);
  });
});

describe("backoffDelay", () => {
  test("1 minute doubling to 24 hours", () => {
    assert.equal(backoffDelay(1, null), BACKOFF_MIN_MS);
    assert.equal(backoffDelay(2, null), 2 * BACKOFF_MIN_MS);
    assert.equal(backoffDelay(5, null), 16 * BACKOFF_MIN_MS);
    assert.equal(backoffDelay(11, null), 1024 * BACKOFF_MIN_MS);
    assert.equal(backoffDelay(12, null), BACKOFF_MAX_MS);
    assert.equal(backoffDelay(500, null), BACKOFF_MAX_MS);
    assert.equal(BACKOFF_MAX_MS, DAY);
  });
  test("a longer Retry-After wins; a shorter one does not shorten the backoff", () => {
    assert.equal(backoffDelay(1, 3 * 3_600_000), 3 * 3_600_000);
    assert.equal(backoffDelay(3, 1000), 4 * BACKOFF_MIN_MS);
  });
  test("a Retry-After beyond a week is capped at a week", () => {
    assert.equal(backoffDelay(1, 30 * DAY), 7 * DAY);
  });
});
