/**
 * Joining byte arrays, for the codecs and the sessions.
 *
 * @module
 */

/** `parts` in one contiguous array: a single part as it is, several copied into a new one. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
