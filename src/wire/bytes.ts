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

/**
 * `b` typed as WebCrypto input. TypeScript types a Uint8Array as possibly viewing a
 * SharedArrayBuffer, which WebCrypto refuses; the network and crypto bytes here never do.
 */
export function cryptoBytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b as Uint8Array<ArrayBuffer>;
}
