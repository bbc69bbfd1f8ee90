/**
 * Durations as written in the config: "250ms", "5s", "1m30s", "2h", and where a key takes
 * them, days: "30d".
 *
 * @module
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};
const ORDER = ["d", "h", "m", "s", "ms"];
const PART = /(\d+)(ms|d|h|m|s)/y;

/**
 * Milliseconds for a duration such as "5s", "250ms", "1m30s" or "2h"; null when `text` is not
 * one. Units must appear largest first and at most once ("30s1m" is refused as a likely typo),
 * and a unit is required: a bare "5" is ambiguous between seconds and milliseconds. Days
 * ("30d") only with `days`: a timeout of days is more likely a slip than meant.
 */
export function parseDuration(text: string, days = false): number | null {
  if (text.length === 0) return null;
  let total = 0;
  let lastUnit = -1;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (m === null || m[2] === "d" && !days) return null;
    const unit = ORDER.indexOf(m[2]);
    if (unit <= lastUnit) return null;
    lastUnit = unit;
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return Number.isSafeInteger(total) ? total : null;
}

/** `ms` written as the config would: "1s", "250ms", "1m30s", "2h"; days only with `days`. */
export function formatDuration(ms: number, days = false): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const unit of ORDER) {
    if (unit === "d" && !days) continue;
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return out;
}
