/**
 * The fuzzer's h2c target: the server side of an HTTP/2 connection (src/h2/connection.ts, what an
 * auto or http listener hands an h2c client to right after its connection preface) fed the
 * preface and then mutated client bytes, in two pieces as a socket would deliver them. Every
 * request it reports is answered (a head and a body bigger than the default window, so flow
 * control and the client's SETTINGS and WINDOW_UPDATEs matter) and every body acknowledged.
 *
 * Besides "nothing throws", it checks what the owner and the client see: stream ids odd and
 * increasing, a connection that reports `closed` once and nothing after, and output that is
 * whole frames starting with the server's SETTINGS.
 *
 * @module
 */

import { ERROR, FRAME, sniffFrame } from "../../src/h2/frame.ts";
import { type FieldList, H2Connection, type H2Events } from "../../src/h2/connection.ts";
import { H2_PREFACE } from "../../src/h2/preface.ts";
import {
  continuation,
  data,
  goaway,
  headers,
  join,
  ping,
  plainBlock,
  priority,
  request,
  rstStream,
  settings,
  SETTINGS_ACK,
  windowUpdate,
} from "../helpers/h2_frames.ts";
import { fixtures } from "./inputs.ts";

/** SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 6.5.2). */
const INITIAL_WINDOW_SIZE = 0x4;
const MAX_FRAME_SIZE = 0x5;

/**
 * What follows the preface: the real clients' openings (test/fixtures/h2c, preface cut off) and
 * hand-built conversations that reach the frames those never send (DATA, CONTINUATION, PING,
 * RST_STREAM, GOAWAY, window changes).
 */
export const h2cSeeds: readonly Uint8Array[] = [
  ...fixtures("h2c").map((b) => b.slice(H2_PREFACE.length)),
  join(
    settings([[INITIAL_WINDOW_SIZE, 10], [MAX_FRAME_SIZE, 20000]]),
    SETTINGS_ACK,
    headers(1, plainBlock(request([["content-length", "5"]], "POST"))),
    data(1, 2),
    data(1, 3, { endStream: true, pad: 4 }),
    windowUpdate(1, 70000),
    windowUpdate(0, 70000),
    settings([[INITIAL_WINDOW_SIZE, 100000]]),
    ping(),
  ),
  join(
    settings(),
    headers(1, plainBlock(request()).subarray(0, 10), { endHeaders: false }),
    continuation(1, plainBlock(request()).subarray(10)),
    headers(3, plainBlock(request()), { endStream: true, priority: { dependency: 1 } }),
    priority(5, 3),
    rstStream(1),
    headers(7, plainBlock(request([["te", "trailers"]])), {}),
    headers(7, plainBlock([["x-trailer", "1"]]), { endStream: true }),
    goaway(7),
  ),
];

/** The response body each request gets: more than the default stream window (65,535). */
const BODY = new Uint8Array(70_000).fill(0x62);
const RESPONSE: FieldList = [[":status", "200"], ["content-type", "text/plain"]];

/** One case: the preface, `bytes` in two pieces, the answers; rejects on a broken invariant. */
export async function fuzzH2Connection(bytes: Uint8Array): Promise<void> {
  const out: Uint8Array[] = [];
  const requests: number[] = [];
  let lastStream = 0;
  let closed = false;
  let closedCode = -1;
  const fail = (what: string) => {
    throw new Error(`h2 connection: ${what}`);
  };
  const live = (event: string) => {
    if (closed) fail(`${event} after closed`);
  };
  const events: H2Events = {
    write: (b) => {
      live("write");
      out.push(b.slice());
      return true;
    },
    request: (stream) => {
      live("request");
      if (stream % 2 !== 1 || stream <= lastStream) {
        fail(`request on stream ${stream} after ${lastStream}`);
      }
      lastStream = stream;
      requests.push(stream);
    },
    body: (stream, chunk) => {
      live("body");
      conn.consumed(stream, chunk.length);
    },
    trailers: () => live("trailers"),
    reset: () => live("reset"),
    writable: () => live("writable"),
    closed: (code, reason) => {
      live("closed");
      if (typeof reason !== "string") fail("closed without a reason");
      closed = true;
      closedCode = code;
    },
  };
  const conn = new H2Connection(events);
  const answer = () => {
    for (const stream of requests.splice(0)) {
      if (conn.over) return;
      conn.respond(stream, RESPONSE, false);
      conn.data(stream, BODY, true);
    }
  };
  const input = join(H2_PREFACE, bytes);
  const cut = H2_PREFACE.length + (bytes.length >> 1);
  conn.receive(input.subarray(0, cut));
  answer();
  conn.receive(input.subarray(cut));
  answer();
  // Let the connection flush what it batched for this turn.
  await null;
  if (closed !== conn.over) fail(`closed reported ${closed}, over is ${conn.over}`);
  checkOutput(join(...out), closedCode);
}

/**
 * The server's bytes: whole frames, SETTINGS first, and a GOAWAY when it closed on an error
 * (`closedCode`: the code `closed` reported, -1 while open).
 */
function checkOutput(bytes: Uint8Array, closedCode: number): void {
  let at = 0;
  let first = true;
  let goawaySent = false;
  while (at < bytes.length) {
    const r = sniffFrame(bytes.subarray(at), 0xffffff);
    if (r.kind !== "match") throw new Error(`h2 connection: output not whole frames at ${at}`);
    const f = r.value;
    if (first && f.type !== FRAME.SETTINGS) {
      throw new Error(`h2 connection: first frame type ${f.type}, not SETTINGS`);
    }
    first = false;
    if (f.type === FRAME.GOAWAY) goawaySent = true;
    at += r.length;
  }
  if (first) throw new Error("h2 connection: no SETTINGS sent");
  // A graceful end (the client's GOAWAY, no stream left) needs no GOAWAY of ours; an error does.
  if (closedCode > ERROR.NO_ERROR && !goawaySent) {
    throw new Error(`h2 connection: closed with code ${closedCode} and no GOAWAY`);
  }
}
