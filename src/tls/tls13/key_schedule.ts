/**
 * The TLS 1.3 key schedule for TLS_AES_128_GCM_SHA256 (RFC 8446 §7.1), on WebCrypto: HKDF over
 * HMAC-SHA-256, from the ECDHE shared secret to the handshake and application traffic secrets.
 * Without a PSK the early secret is a constant, and every output here is at most one SHA-256
 * block, so HKDF-Expand is a single HMAC.
 *
 * @module
 */

import { cryptoBytes } from "../../wire/bytes.ts";

const subtle = crypto.subtle;
const HASH_LENGTH = 32;
const ZEROS = new Uint8Array(HASH_LENGTH);
const encoder = new TextEncoder();

/** HMAC-SHA-256 of `data` under `key`. */
export async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle.importKey(
    "raw",
    cryptoBytes(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  return new Uint8Array(await subtle.sign("HMAC", k, cryptoBytes(data)));
}

/** SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest("SHA-256", cryptoBytes(data)));
}

/** HKDF-Expand-Label(secret, label, context, length), for length ≤ 32. */
export function expandLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const full = encoder.encode(`tls13 ${label}`);
  const info = new Uint8Array(2 + 1 + full.length + 1 + context.length + 1);
  info[0] = length >> 8;
  info[1] = length & 0xff;
  info[2] = full.length;
  info.set(full, 3);
  info[3 + full.length] = context.length;
  info.set(context, 4 + full.length);
  info[info.length - 1] = 1; // HKDF-Expand's block counter: one block is enough
  return hmac(secret, info).then((t) => t.subarray(0, length));
}

/** The handshake secret from the ECDHE shared secret (no PSK: the early secret is fixed). */
export async function handshakeSecret(shared: Uint8Array): Promise<Uint8Array> {
  const early = await hmac(ZEROS, ZEROS);
  const derived = await expandLabel(early, "derived", await sha256(new Uint8Array(0)), 32);
  return hmac(derived, shared);
}

/** The master secret that follows `handshake` in the schedule. */
export async function masterSecret(handshake: Uint8Array): Promise<Uint8Array> {
  const derived = await expandLabel(handshake, "derived", await sha256(new Uint8Array(0)), 32);
  return hmac(derived, ZEROS);
}

/** Derive-Secret(secret, label, messages), given the transcript hash of the messages. */
export function deriveSecret(
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Promise<Uint8Array> {
  return expandLabel(secret, label, transcriptHash, HASH_LENGTH);
}

/** The verify_data of a Finished message sent under `trafficSecret` (RFC 8446 §4.4.4). */
export async function finishedData(
  trafficSecret: Uint8Array,
  transcriptHash: Uint8Array,
): Promise<Uint8Array> {
  return hmac(await expandLabel(trafficSecret, "finished", new Uint8Array(0), 32), transcriptHash);
}
