/**
 * Readers for single values: each returns the value, or undefined after reporting why not.
 *
 * @module
 */

import { isScalar, isSeq } from "yaml";
import { parseDuration } from "./duration.ts";
import { didYouMean } from "./suggest.ts";
import { describe, type Entry, type Walker } from "./yaml_walk.ts";

/** The key an entry path ends in ("listeners.web.routes[0].to" → "to"). */
function keyOf(path: string): string {
  return path.slice(path.lastIndexOf(".") + 1).replace(/\[\d+\]$/, "");
}

function scalarValue(w: Walker, e: Entry): unknown {
  if (e.node === null) {
    w.error(e.key, e.path, "missing value");
    return undefined;
  }
  if (!isScalar(e.node)) {
    w.error(e.node, e.path, `expected a single value, got ${describe(e.node)}`);
    return undefined;
  }
  return e.node.value;
}

/** A non-empty text value. Numbers are refused rather than guessed at (quote them). */
export function readString(w: Walker, e: Entry): string | undefined {
  const v = scalarValue(w, e);
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") {
    w.error(e.node, e.path, `expected text, got ${describe(e.node)}`);
    return undefined;
  }
  return v;
}

/** true or false (YAML 1.2: "yes" and "on" are text, so they are refused with a hint). */
export function readBool(w: Walker, e: Entry): boolean | undefined {
  const v = scalarValue(w, e);
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") {
    w.error(e.node, e.path, `expected true or false, got ${describe(e.node)}`);
    return undefined;
  }
  return v;
}

/** An integer from `min` to `max`. */
export function readInt(w: Walker, e: Entry, min: number, max: number): number | undefined {
  const v = scalarValue(w, e);
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    w.error(
      e.node,
      e.path,
      `expected a whole number from ${min} to ${max}, got ${describe(e.node)}`,
    );
    return undefined;
  }
  return v;
}

/** What {@link readDuration} accepts beyond a positive duration in h, m, s and ms. */
export interface DurationOptions {
  /** Zero, where it means something (e.g. "exit without waiting"). */
  readonly allowZero?: boolean;
  /** Days ("30d"), for keys measured in days such as certificate renewal. */
  readonly days?: boolean;
}

/** A duration in milliseconds. */
export function readDuration(
  w: Walker,
  e: Entry,
  { allowZero = false, days = false }: DurationOptions = {},
): number | undefined {
  const v = scalarValue(w, e);
  if (v === undefined) return undefined;
  if (typeof v === "number") {
    const units = days ? `"${v}d" or "${v}h"` : `"${v}s" or "${v}ms"`;
    w.error(e.node, e.path, `duration ${v} needs a unit, e.g. ${units}`);
    return undefined;
  }
  const ms = typeof v === "string" ? parseDuration(v, days) : null;
  if (ms === null) {
    const got = describe(e.node);
    const eg = days ? `"30d", "7d12h" or "72h"` : `"5s", "250ms", "1m30s" or "2h"`;
    w.error(e.node, e.path, `bad duration ${got}: write e.g. ${eg}`);
    return undefined;
  }
  if (ms === 0 && !allowZero) {
    w.error(e.node, e.path, `${keyOf(e.path)} must be longer than 0, got "${v}"`);
    return undefined;
  }
  return ms;
}

/** One of `choices`, with a suggestion when the value is close to one. */
export function readEnum<T extends string>(
  w: Walker,
  e: Entry,
  choices: readonly T[],
): T | undefined {
  const v = scalarValue(w, e);
  if (v === undefined) return undefined;
  if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
  const hint = typeof v === "string" ? didYouMean(v, choices) : "";
  const list = `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
  const msg = hint === "" ? ` (expected ${list})` : hint;
  w.error(e.node, e.path, `unknown ${keyOf(e.path)} ${describe(e.node)}${msg}`);
  return undefined;
}

/**
 * The entries of a value that may be one item or a list of items ("bind: :80" or
 * "bind: [:80, :8080]"). An empty list is reported and gives [].
 */
export function readList(w: Walker, e: Entry): Entry[] {
  if (e.node === null || isSeq(e.node) && e.node.items.length === 0) {
    w.error(e.node ?? e.key, e.path, `${keyOf(e.path)} must not be empty`);
    return [];
  }
  return w.list(e);
}

/** The text items of a one-or-many value; items that are not text are reported and skipped. */
export function readStrings(w: Walker, e: Entry): { value: string; entry: Entry }[] {
  const out: { value: string; entry: Entry }[] = [];
  for (const item of readList(w, e)) {
    const value = readString(w, item);
    if (value !== undefined) out.push({ value, entry: item });
  }
  return out;
}

/**
 * The value of `key` in `m` read by `read`, or `fallback` when the key is absent (or its
 * value was bad: that is reported, and a config with errors is never used).
 */
export function optional<T>(
  m: ReadonlyMap<string, Entry>,
  key: string,
  read: (e: Entry) => T | undefined,
  fallback: T,
): T {
  const e = m.get(key);
  return e === undefined ? fallback : read(e) ?? fallback;
}
