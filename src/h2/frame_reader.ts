/**
 * The frames in one direction of an HTTP/2 connection (RFC 9113 section 4.1): bytes arrive in
 * chunks of any size, each whole frame is handed on as a view into them (no copy), and a partial
 * frame is kept, copied, until the rest arrives. A frame whose header announces more than
 * SETTINGS_MAX_FRAME_SIZE is refused from its header, before any of its payload is buffered. On
 * a server's side the client's connection preface (section 3.4) comes first.
 *
 * @module
 */

import { concat } from "../wire/bytes.ts";
import { DEFAULT_MAX_FRAME_SIZE, ERROR, type Frame, type FrameFault, sniffFrame } from "./frame.ts";
import { H2_PREFACE } from "./preface.ts";

const EMPTY = new Uint8Array(0);

/** Splits a peer's bytes into frames. */
export class FrameReader {
  readonly #fail: (code: number, reason: string) => void;
  /** The client preface is still to come (a server's reader, before it arrived whole). */
  #preface: boolean;
  /** Bytes received and not yet parsed: a partial frame, or a partial preface. */
  #pending: Uint8Array = EMPTY;

  /**
   * `clientPreface`: the peer is a client, whose bytes start with the preface. `fail` is the
   * connection error for bytes that are not frames.
   */
  constructor(clientPreface: boolean, fail: (code: number, reason: string) => void) {
    this.#preface = clientPreface;
    this.#fail = fail;
  }

  /**
   * Reads `chunk` (valid until the call returns) after what was left of the last one: `each`
   * gets every whole frame, in order, as long as it returns true. It returns false once the
   * connection is over, and then nothing more is read.
   */
  read(chunk: Uint8Array, each: (f: Frame) => boolean): void {
    let buf = this.#pending.length === 0 ? chunk : concat([this.#pending, chunk]);
    this.#pending = EMPTY;
    if (this.#preface) {
      const n = Math.min(buf.length, H2_PREFACE.length);
      for (let i = 0; i < n; i++) {
        if (buf[i] !== H2_PREFACE[i]) {
          return this.#fail(ERROR.PROTOCOL_ERROR, "the client preface is wrong");
        }
      }
      if (buf.length < H2_PREFACE.length) {
        this.#pending = buf.slice();
        return;
      }
      this.#preface = false;
      buf = buf.subarray(H2_PREFACE.length);
    }
    let at = 0;
    for (;;) {
      // We never raise SETTINGS_MAX_FRAME_SIZE: the peer's frames stay within the default.
      const r = sniffFrame(buf.subarray(at), DEFAULT_MAX_FRAME_SIZE);
      if (r.kind === "more") break;
      if (r.kind !== "match") {
        const fault = r as FrameFault;
        return this.#fail(fault.code, fault.reason);
      }
      at += r.length;
      if (!each(r.value)) return;
    }
    // Keep the partial frame; copied, as `chunk` is only valid during this call.
    if (at < buf.length) this.#pending = buf.slice(at);
  }
}
