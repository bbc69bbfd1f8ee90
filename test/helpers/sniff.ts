/**
 * Shared helpers for the codec and sniffer tests: bytes from text or hex and back, joined, and
 * assertions on a SniffResult that narrow it for the caller.
 */

import assert from "node:assert/strict";
import type { Invalid, Match, SniffResult } from "../../src/wire/result.ts";

/** `text` one byte per char (latin1): test inputs are written as strings with \xNN escapes. */
export function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Bytes from hex; whitespace is ignored so that inputs can be laid out by field. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** `parts` one after another (byte values written as numbers count as bytes too). */
export function concat(...parts: (Uint8Array | readonly number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `bytes` one char per byte: the inverse of {@link ascii}. */
export function text(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

/** Asserts a match and returns it: its value and how many bytes it spans. */
export function expectMatchResult<T>(r: SniffResult<T>): Match<T> {
  assert.equal(r.kind, "match", `expected match, got ${JSON.stringify(r)}`);
  if (r.kind !== "match") throw new Error("unreachable");
  return r;
}

/** Asserts a match (of `length` bytes when given) and returns its value. */
export function expectMatch<T>(r: SniffResult<T>, length?: number): T {
  const m = expectMatchResult(r);
  if (length !== undefined) assert.equal(m.length, length);
  return m.value;
}

/** {@link expectMatch} for an HTTP head, which must also end (`headerEnd`) where the match does. */
export function expectHeadMatch<T extends { readonly headerEnd: number }>(
  r: SniffResult<T>,
  length?: number,
): T {
  const m = expectMatchResult(r);
  if (length !== undefined) assert.equal(m.length, length);
  assert.equal(m.value.headerEnd, m.length);
  return m.value;
}

/** Asserts `invalid` with a reason matching `reason` (a string must be equal). */
export function expectInvalid<T>(
  r: SniffResult<T>,
  reason: RegExp | string,
): asserts r is Invalid {
  assert.equal(r.kind, "invalid", `expected invalid, got ${JSON.stringify(r)}`);
  if (r.kind !== "invalid") throw new Error("unreachable");
  if (typeof reason === "string") assert.equal(r.reason, reason);
  else assert.match(r.reason, reason);
}

/**
 * {@link expectInvalid} for a sniffer whose reasons all start with `prefix`, the name of what
 * it parses (e.g. "SSH: ").
 */
export function expectInvalidFrom(
  prefix: string,
): <T>(r: SniffResult<T>, reason: RegExp | string) => void {
  return (r, reason) => {
    expectInvalid(r, reason);
    assert.ok(r.reason.startsWith(prefix), `expected "${prefix}" first, got "${r.reason}"`);
  };
}
