/**
 * The outcome of running a sniffer over the bytes received so far.
 *
 * Sniffers are pure: they never throw on network input and never consume bytes.
 * Bad bytes are a value (`invalid`, with a reason naming the field), not an exception.
 *
 * - `more`: the bytes are a valid prefix; call again once more bytes have arrived.
 * - `no`: the bytes are not this protocol at all.
 * - `invalid`: the bytes claim to be this protocol but break its rules.
 * - `match`: a complete message; `length` is how many leading bytes it spans.
 *
 * @module
 */

/** Need more bytes to decide. */
export interface NeedMore {
  readonly kind: "more";
}

/** The bytes are not this protocol. */
export interface NoMatch {
  readonly kind: "no";
}

/** The bytes are this protocol but malformed; `reason` names the bad field. */
export interface Invalid {
  readonly kind: "invalid";
  readonly reason: string;
}

/** A complete message spanning the first `length` bytes. */
export interface Match<T> {
  readonly kind: "match";
  readonly value: T;
  readonly length: number;
}

/** What a sniffer returns. */
export type SniffResult<T> = NeedMore | NoMatch | Invalid | Match<T>;

/** The shared need-more result (sniffers return it without allocating). */
export const NEED_MORE: NeedMore = Object.freeze({ kind: "more" });

/** The shared no-match result. */
export const NO_MATCH: NoMatch = Object.freeze({ kind: "no" });

/** Builds an `invalid` result. */
export function invalid(reason: string): Invalid {
  return { kind: "invalid", reason };
}

/** Builds a `match` result. */
export function match<T>(value: T, length: number): Match<T> {
  return { kind: "match", value, length };
}
