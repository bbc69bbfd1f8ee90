/**
 * ClientHellos built field by field, for the cases real clients do not send (TLS 1.2 only, no
 * usable key share, a P-256 share only).
 */

import { concat } from "./sniff.ts";

/** What goes into a built ClientHello. */
export interface HelloParts {
  versions?: number[];
  suites?: number[];
  sigs?: number[];
  shares?: [number, Uint8Array][];
  sessionId?: Uint8Array;
}

const u16 = (v: number) => [v >> 8, v & 0xff];
const u24 = (v: number) => [v >> 16, (v >> 8) & 0xff, v & 0xff];

function extension(type: number, body: Uint8Array): Uint8Array {
  return concat(u16(type), u16(body.length), body);
}

/** A ClientHello handshake message (header included) with `parts`. */
export function helloMessage(parts: HelloParts = {}): Uint8Array {
  const versions = parts.versions ?? [0x0304, 0x0303];
  const suites = parts.suites ?? [0x1302, 0x1301];
  const sigs = parts.sigs ?? [0x0804, 0x0403];
  const shares = parts.shares ?? [[0x001d, new Uint8Array(32).fill(9)]];
  const sessionId = parts.sessionId ?? new Uint8Array(32).fill(7);
  const shareList = concat(...shares.map(([g, k]) => concat(u16(g), u16(k.length), k)));
  const extensions = concat(
    extension(0x002b, concat([versions.length * 2], ...versions.map(u16))),
    extension(0x000d, concat(u16(sigs.length * 2), ...sigs.map(u16))),
    extension(0x0033, concat(u16(shareList.length), shareList)),
  );
  const body = concat(
    u16(0x0303),
    new Uint8Array(32).fill(1),
    [sessionId.length],
    sessionId,
    u16(suites.length * 2),
    ...suites.map(u16),
    [1, 0],
    u16(extensions.length),
    extensions,
  );
  return concat([1], u24(body.length), body);
}

/** `message` in one handshake record, as a client sends it. */
export function inRecord(message: Uint8Array): Uint8Array {
  return concat([22, 3, 1], u16(message.length), message);
}
