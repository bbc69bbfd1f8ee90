/**
 * TLS 1.3 records (RFC 8446 §5): splitting received bytes into records (pure, bounds-checked)
 * and protecting them with AES-128-GCM under one traffic secret.
 *
 * @module
 */

import { type Invalid, invalid, match, NEED_MORE, type SniffResult } from "../../wire/result.ts";
import { cryptoBytes } from "../../wire/bytes.ts";
import { expandLabel } from "./key_schedule.ts";

export const CONTENT_CHANGE_CIPHER_SPEC = 20;
export const CONTENT_ALERT = 21;
export const CONTENT_HANDSHAKE = 22;
export const CONTENT_APPLICATION_DATA = 23;

const HEADER = 5;
const TAG = 16;
// RFC 8446 §5.2: a protected record carries at most 2^14 + 256 bytes.
const MAX_CIPHERTEXT = 16384 + 256;

/** One record: its content type, its 5-byte header, and its fragment. */
export interface TlsRecord {
  readonly type: number;
  readonly header: Uint8Array;
  readonly fragment: Uint8Array;
}

/** The first record of `buf`, as views into it; `length` is header plus fragment. */
export function sniffRecord(buf: Uint8Array): SniffResult<TlsRecord> {
  if (buf.length < HEADER) return NEED_MORE;
  const type = buf[0];
  if (type < CONTENT_CHANGE_CIPHER_SPEC || type > CONTENT_APPLICATION_DATA || buf[1] !== 3) {
    return invalid(`record header ${hex(buf.subarray(0, 3))} is not a TLS record`);
  }
  const length = (buf[3] << 8) | buf[4];
  if (length > MAX_CIPHERTEXT) return invalid(`record length ${length} exceeds ${MAX_CIPHERTEXT}`);
  if (buf.length < HEADER + length) return NEED_MORE;
  return match({
    type,
    header: buf.subarray(0, HEADER),
    fragment: buf.subarray(HEADER, HEADER + length),
  }, HEADER + length);
}

/** AES-128-GCM protection for one direction, numbering records from 0. */
export class RecordCipher {
  #seq = 0n;

  private constructor(readonly key: CryptoKey, readonly iv: Uint8Array) {}

  /** The cipher for the traffic secret `secret` (its "key" and "iv", RFC 8446 §7.3). */
  static async of(secret: Uint8Array): Promise<RecordCipher> {
    const raw = await expandLabel(secret, "key", new Uint8Array(0), 16);
    const key = await crypto.subtle.importKey("raw", cryptoBytes(raw), "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    return new RecordCipher(key, await expandLabel(secret, "iv", new Uint8Array(0), 12));
  }

  /** A protected record carrying `content` of `type` (no padding). */
  async seal(type: number, content: Uint8Array): Promise<Uint8Array> {
    const inner = new Uint8Array(content.length + 1);
    inner.set(content);
    inner[content.length] = type;
    const length = inner.length + TAG;
    const header = Uint8Array.of(CONTENT_APPLICATION_DATA, 3, 3, length >> 8, length & 0xff);
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: this.#nonce(), additionalData: cryptoBytes(header) },
      this.key,
      inner,
    );
    const out = new Uint8Array(HEADER + length);
    out.set(header);
    out.set(new Uint8Array(sealed), HEADER);
    return out;
  }

  /** The content type and content of a protected record, or why it cannot be read. */
  async open(record: TlsRecord): Promise<{ type: number; content: Uint8Array } | Invalid> {
    if (record.type !== CONTENT_APPLICATION_DATA || record.fragment.length <= TAG) {
      return invalid(`expected a protected record, got type ${record.type}`);
    }
    let inner: Uint8Array;
    try {
      inner = new Uint8Array(
        await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: this.#nonce(),
            additionalData: cryptoBytes(record.header),
          },
          this.key,
          cryptoBytes(record.fragment),
        ),
      );
    } catch {
      return invalid("record does not decrypt (bad key or tampered)");
    }
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--; // padding (RFC 8446 §5.4)
    if (end === 0) return invalid("protected record has no content type");
    return { type: inner[end - 1], content: inner.subarray(0, end - 1) };
  }

  /** The per-record nonce: the IV XORed with the sequence number, which then advances. */
  #nonce(): Uint8Array<ArrayBuffer> {
    const nonce = this.iv.slice();
    let seq = this.#seq++;
    for (let i = nonce.length - 1; seq > 0n; i--, seq >>= 8n) nonce[i] ^= Number(seq & 0xffn);
    return cryptoBytes(nonce);
  }
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}
