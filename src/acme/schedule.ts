/**
 * When to order: renewal time from a certificate's validity, and the backoff after a failure.
 * Pure, so the policy that keeps the router off the CA's rate limits is tested on its own.
 *
 * @module
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Renewal starts this long before expiry by default (or a third of the lifetime if shorter). */
export const DEFAULT_RENEW_BEFORE_MS = 30 * DAY;
/** The first retry after a failed order; it doubles with each failure in a row. */
export const BACKOFF_MIN_MS = MINUTE;
/** The longest wait between two attempts. */
export const BACKOFF_MAX_MS = DAY;

/**
 * When a certificate valid from `notBefore` to `notAfter` (ms) is due for renewal: `renewBefore`
 * ahead of its expiry, or by default 30 days ahead or a third of its lifetime if that is
 * shorter (Let's Encrypt's 90-day certificates renew at 60 days; a 6-day one at 4 days).
 * A `renewBefore` that is not shorter than the lifetime (`renew_before: 30d` when the CA
 * issues 6-day certificates) would make every new certificate due at once, an order loop: the
 * default applies then ({@link renewBeforeIgnored} says so).
 * `jitter` in [0, 1) moves it earlier by up to 1% of the lifetime (at most an hour), so that
 * instances started together do not order together.
 */
export function renewalTime(
  notBefore: number,
  notAfter: number,
  renewBeforeMs: number | null,
  jitter: number,
): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  const before = renewBeforeMs === null || renewBeforeIgnored(notBefore, notAfter, renewBeforeMs)
    ? Math.min(DEFAULT_RENEW_BEFORE_MS, lifetime / 3)
    : renewBeforeMs;
  return notAfter - before - Math.min(HOUR, lifetime / 100) * jitter;
}

/** Whether `renewBeforeMs` is too long for a certificate valid from `notBefore` to `notAfter`. */
export function renewBeforeIgnored(
  notBefore: number,
  notAfter: number,
  renewBeforeMs: number | null,
): boolean {
  return renewBeforeMs !== null && renewBeforeMs >= Math.max(0, notAfter - notBefore);
}

/**
 * How long to wait after the `failures`-th failure in a row (1 for the first): 1 minute
 * doubling to 24 hours, or the CA's Retry-After when that is longer.
 */
export function backoffDelay(failures: number, retryAfterMs: number | null): number {
  const exp = Math.min(BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1), BACKOFF_MAX_MS);
  return Math.max(exp, Math.min(retryAfterMs ?? 0, 7 * DAY));
}
