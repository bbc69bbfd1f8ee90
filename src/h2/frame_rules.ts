/**
 * The rules of RFC 9113 section 6 that hold for a frame whichever side reads it, before any
 * stream state: the stream a type of frame may come on (stream 0 or not), its exact or least
 * size, and the types that may not name a stream that was never opened. And the one frame both
 * sides answer without any state: PING, echoed with ACK.
 *
 * A frame that breaks a rule is a connection error of the rule's code, except a PRIORITY frame
 * of the wrong size, which section 6.3 makes a stream error.
 *
 * @module
 */

import type { FloodBudget } from "./flood_budget.ts";
import { ERROR, FLAG, FRAME, type Frame, frameName, pingAck } from "./frame.ts";
import type { OutputBatch } from "./output_batch.ts";

/** What the rules need from the connection. */
export interface FrameRuleHooks {
  /** `stream` was never opened (it is idle): which ids those are depends on the side. */
  neverOpened(stream: number): boolean;
  /** A connection error (GOAWAY `code`): the connection is over. */
  fail(code: number, reason: string): void;
  /** A stream error (RST_STREAM `code`) on `stream`. */
  streamError(stream: number, code: number, reason: string): void;
}

/** The size a frame of each type with a fixed size has, and the least of GOAWAY. */
const SIZES: Readonly<Record<number, number>> = {
  [FRAME.PRIORITY]: 5,
  [FRAME.RST_STREAM]: 4,
  [FRAME.PING]: 8,
  [FRAME.WINDOW_UPDATE]: 4,
};
const MIN_GOAWAY = 8;

/**
 * Checks `f` against the rules of its type; false when it broke one, which was reported through
 * `hooks` (and then it means nothing more).
 */
export function checkFrame(f: Frame, hooks: FrameRuleHooks): boolean {
  const name = frameName(f.type);
  const length = f.payload.length;
  switch (f.type) {
    case FRAME.DATA:
    case FRAME.HEADERS:
    case FRAME.PRIORITY:
    case FRAME.RST_STREAM:
      if (f.stream === 0) return fail(hooks, ERROR.PROTOCOL_ERROR, `${name} on stream 0`);
      break;
    case FRAME.SETTINGS:
    case FRAME.PING:
    case FRAME.GOAWAY:
      if (f.stream !== 0) return fail(hooks, ERROR.PROTOCOL_ERROR, `${name} on stream ${f.stream}`);
      break;
  }
  const size = SIZES[f.type];
  if (
    (size !== undefined && length !== size) || (f.type === FRAME.GOAWAY && length < MIN_GOAWAY)
  ) {
    const reason = `${name} of ${length} bytes`;
    if (f.type !== FRAME.PRIORITY) return fail(hooks, ERROR.FRAME_SIZE_ERROR, reason);
    hooks.streamError(f.stream, ERROR.FRAME_SIZE_ERROR, reason);
    return false;
  }
  // Section 5.1: of the frames on a stream, only HEADERS and PRIORITY may name an idle one
  // (PUSH_PROMISE and CONTINUATION have rules of their own).
  if (
    (f.type === FRAME.DATA || f.type === FRAME.RST_STREAM || f.type === FRAME.WINDOW_UPDATE) &&
    f.stream !== 0 && hooks.neverOpened(f.stream)
  ) {
    return fail(hooks, ERROR.PROTOCOL_ERROR, `${name} on idle stream ${f.stream}`);
  }
  return true;
}

/**
 * A PING (checked): answered with the same 8 bytes and ACK, unless it is an answer itself. Each
 * one counts as a frame without progress.
 */
export function answerPing(f: Frame, floods: FloodBudget, out: OutputBatch): void {
  if (floods.control()) return;
  if ((f.flags & FLAG.ACK) === 0) out.emit(pingAck(f.payload.slice()));
}

function fail(hooks: FrameRuleHooks, code: number, reason: string): false {
  hooks.fail(code, reason);
  return false;
}
