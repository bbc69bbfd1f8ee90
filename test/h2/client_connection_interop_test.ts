/**
 * H2ClientConnection against a real HTTP/2 server: node:http2's h2c server (nghttp2 under Node,
 * the runtime's own under Deno and Bun) in this process, reached over a node:net socket that
 * drives the state machine (bytes in through `receive`, `write` to the socket, `drain` to
 * `outputDrained`). Several concurrent streams, 3 MiB each way byte for byte (flow control
 * both ways), request and response trailers (gRPC style), a stream the server resets, and the
 * GOAWAY a server sends when it closes.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { H2ClientConnection } from "../../src/h2/client_connection.ts";
import type { FieldList } from "../../src/h2/connection.ts";
import { ERROR, errorName } from "../../src/h2/frame.ts";
import { concat } from "../../src/wire/bytes.ts";

const MiB = 1024 * 1024;

/** `n` bytes that differ by position and `seed`, so a misplaced or lost chunk shows. */
function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >>> 11) + seed) & 0xff;
  return out;
}

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

// ---- the server ---------------------------------------------------------------------------------

/** Streams the server holds unanswered until the test releases them (by path). */
const held = new Map<string, http2.ServerHttp2Stream>();
const sessions: http2.ServerHttp2Session[] = [];

/** Reads a request body to its end, and the request trailers if any. */
function readAll(
  stream: http2.ServerHttp2Stream,
): Promise<{ body: Uint8Array; trailers: http2.IncomingHttpHeaders | null }> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let trailers: http2.IncomingHttpHeaders | null = null;
    stream.on("data", (c: Uint8Array) => chunks.push(c));
    stream.on("trailers", (t: http2.IncomingHttpHeaders) => trailers = t);
    stream.on("end", () => resolve({ body: concat(chunks), trailers }));
    stream.on("error", reject);
  });
}

async function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
  const url = new URL(String(headers[":path"]), "http://b.test");
  switch (url.pathname) {
    case "/download": {
      const n = Number(url.searchParams.get("n"));
      const seed = Number(url.searchParams.get("seed") ?? 0);
      stream.respond({ ":status": 200, "content-length": n });
      stream.end(Buffer.from(pattern(n, seed)));
      return;
    }
    case "/upload": {
      const { body } = await readAll(stream);
      stream.respond({ ":status": 200, "content-type": "application/json" });
      stream.end(JSON.stringify({ length: body.length, sha256: sha256(body) }));
      return;
    }
    case "/grpc": {
      // A unary gRPC call: the request ends with trailers, the response with grpc-status.
      const { body, trailers } = await readAll(stream);
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
        waitForTrailers: true,
      });
      stream.on("wantTrailers", () =>
        stream.sendTrailers({
          "grpc-status": "0",
          "x-request-te": String(headers["te"]),
          "x-request-trailer": String(trailers?.["x-checksum"]),
          "x-request-sha256": sha256(body),
        }));
      stream.end(Buffer.from(body.subarray(0, 5)));
      return;
    }
    case "/reset":
      // destroy, not close(code): after respond, Deno's and Bun's node:http2 end the stream
      // with an empty END_STREAM DATA frame on close(code) rather than RST_STREAM.
      stream.respond({ ":status": 200 });
      stream.write("partial", () => stream.destroy(new Error("the backend failed")));
      return;
    case "/hold":
      held.set(url.search, stream);
      return;
    default:
      stream.respond({ ":status": 404 });
      stream.end();
  }
}

let server: http2.Http2Server;
let port = 0;

before(async () => {
  server = http2.createServer();
  server.on("session", (s) => sessions.push(s));
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    serve(stream, headers).catch(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as net.AddressInfo).port;
});

after(async () => {
  for (const s of sessions) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

// ---- the client over a socket -------------------------------------------------------------------

/** What a stream came to: its head, body, trailers, or how it was reset. */
interface Result {
  fields: FieldList | null;
  body: Uint8Array;
  trailers: FieldList | null;
  reset: { code: number; reason: string } | null;
}

interface Exchange {
  readonly result: Result;
  readonly chunks: Uint8Array[];
  readonly done: () => void;
  /** Called on `writable`: the request body may go on. */
  resume: (() => void) | null;
}

/** H2ClientConnection over one TCP connection, as the router's backend side would run it. */
class Client {
  readonly conn: H2ClientConnection;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** How many times a request body paused for `writable` (flow control or a full socket). */
  pauses = 0;
  readonly #socket: net.Socket;
  readonly #exchanges = new Map<number, Exchange>();

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    let onClosed!: (c: { code: number; reason: string }) => void;
    this.closed = new Promise((resolve) => onClosed = resolve);
    this.conn = new H2ClientConnection({
      write: (bytes) => socket.destroyed || socket.write(bytes),
      response: (stream, fields, endStream) => {
        const x = this.#exchanges.get(stream)!;
        x.result.fields = fields;
        if (endStream) this.#finish(stream);
      },
      body: (stream, chunk, endStream) => {
        const x = this.#exchanges.get(stream)!;
        x.chunks.push(chunk.slice());
        this.conn.consumed(stream, chunk.length);
        if (endStream) this.#finish(stream);
      },
      trailers: (stream, fields) => {
        this.#exchanges.get(stream)!.result.trailers = fields;
        this.#finish(stream);
      },
      reset: (stream, code, reason) => {
        const x = this.#exchanges.get(stream);
        if (x === undefined) return;
        x.result.reset = { code, reason };
        x.resume?.();
        this.#finish(stream);
      },
      writable: (stream) => this.#exchanges.get(stream)?.resume?.(),
      closed: (code, reason) => {
        onClosed({ code, reason });
        socket.end();
      },
    });
    socket.on("data", (chunk: Uint8Array) => this.conn.receive(chunk));
    socket.on("drain", () => this.conn.outputDrained());
    socket.on("error", () => {});
    socket.on("close", () => this.conn.abort(ERROR.CANCEL, "the socket closed"));
  }

  static connect(): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(new Client(socket)));
      socket.once("error", reject);
    });
  }

  #finish(stream: number): void {
    const x = this.#exchanges.get(stream);
    if (x === undefined) return;
    this.#exchanges.delete(stream);
    x.result.body = concat(x.chunks);
    x.done();
  }

  /**
   * Sends a request (with `body` in `chunk`-sized pieces, pausing while `data` says so, and
   * `trailers` after it) and resolves with what came back.
   */
  async request(
    fields: FieldList,
    body: Uint8Array | null = null,
    trailers: FieldList | null = null,
    chunk = 64 * 1024,
  ): Promise<Result> {
    const id = this.conn.request(fields, body === null && trailers === null);
    assert.ok(id !== null, "a stream can be opened");
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    const x: Exchange = {
      result: { fields: null, body: new Uint8Array(0), trailers: null, reset: null },
      chunks: [],
      done,
      resume: null,
    };
    this.#exchanges.set(id, x);
    if (body !== null) {
      for (let at = 0; at < body.length && x.result.reset === null; at += chunk) {
        const last = at + chunk >= body.length && trailers === null;
        if (!this.conn.data(id, body.subarray(at, at + chunk), last)) {
          this.pauses++;
          await new Promise<void>((resolve) => x.resume = resolve);
          x.resume = null;
        }
      }
    }
    if (trailers !== null) this.conn.trailers(id, trailers);
    await finished;
    return x.result;
  }

  close(): void {
    this.#socket.destroy();
  }
}

function get(path: string, method = "GET", extra: FieldList = []): FieldList {
  return [
    [":method", method],
    [":scheme", "http"],
    [":authority", `127.0.0.1:${port}`],
    [":path", path],
    ...extra,
  ];
}

function field(fields: FieldList | null, name: string): string | undefined {
  return fields?.find(([n]) => n === name)?.[1];
}

// ---- the cases ----------------------------------------------------------------------------------

describe("H2ClientConnection against node:http2 (h2c)", () => {
  test("a 3 MiB download arrives byte for byte (the server waits on our window updates)", async () => {
    const c = await Client.connect();
    const r = await c.request(get(`/download?n=${3 * MiB}&seed=3`));
    assert.equal(r.reset, null);
    assert.equal(field(r.fields, ":status"), "200");
    assert.equal(r.body.length, 3 * MiB);
    assert.equal(sha256(r.body), sha256(pattern(3 * MiB, 3)));
    c.close();
  });

  test("a 3 MiB upload goes out byte for byte (we wait on the server's window updates)", async () => {
    const c = await Client.connect();
    const body = pattern(3 * MiB, 5);
    const r = await c.request(
      get("/upload", "POST", [["content-length", String(body.length)]]),
      body,
    );
    assert.equal(r.reset, null);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(r.body)), {
      length: 3 * MiB,
      sha256: sha256(body),
    });
    assert.ok(c.pauses > 0, "the body waited for window at least once");
    c.close();
  });

  test("concurrent streams on one connection, each with its own body", async () => {
    const c = await Client.connect();
    const sizes = [1, 1000, 70_000, 300_000, 16384, 0, 200_000, 65535, 5, 1 * MiB];
    const results = await Promise.all(
      sizes.map((n, i) => c.request(get(`/download?n=${n}&seed=${i}`))),
    );
    results.forEach((r, i) => {
      assert.equal(r.reset, null);
      assert.equal(r.body.length, sizes[i]);
      assert.equal(sha256(r.body), sha256(pattern(sizes[i], i)), `stream ${i}`);
    });
    // Uploads and downloads at once.
    const ups = [100_000, 700_000, 3].map((n, i) => pattern(n, 40 + i));
    const mixed = await Promise.all([
      ...ups.map((b) => c.request(get("/upload", "POST"), b, null, 10_000)),
      c.request(get(`/download?n=${2 * MiB}&seed=9`)),
    ]);
    ups.forEach((b, i) =>
      assert.equal(JSON.parse(new TextDecoder().decode(mixed[i].body)).sha256, sha256(b))
    );
    assert.equal(sha256(mixed[3].body), sha256(pattern(2 * MiB, 9)));
    assert.ok(c.conn.idle);
    c.close();
  });

  test("gRPC style: request trailers (te: trailers) and response trailers", async () => {
    const c = await Client.connect();
    const body = pattern(100_000, 7);
    const r = await c.request(
      get("/grpc", "POST", [["content-type", "application/grpc"], ["te", "trailers"]]),
      body,
      [["x-checksum", "c0ffee"]],
    );
    assert.equal(r.reset, null);
    assert.equal(field(r.fields, "content-type"), "application/grpc");
    assert.deepEqual([...r.body], [...body.subarray(0, 5)]);
    assert.equal(field(r.trailers, "grpc-status"), "0");
    assert.equal(field(r.trailers, "x-request-te"), "trailers");
    assert.equal(field(r.trailers, "x-request-trailer"), "c0ffee");
    assert.equal(field(r.trailers, "x-request-sha256"), sha256(body));
    c.close();
  });

  test("the server resets a stream: reset with its code, the connection carries on", async () => {
    const c = await Client.connect();
    const r = await c.request(get("/reset"));
    assert.equal(field(r.fields, ":status"), "200");
    assert.ok(r.reset !== null, `reset: ${JSON.stringify({ ...r, body: r.body.length })}`);
    assert.equal(errorName(r.reset.code), "INTERNAL_ERROR");
    const next = await c.request(get("/download?n=10"));
    assert.equal(next.body.length, 10);
    c.close();
  });

  test("the server closes: GOAWAY, the open stream finishes, no new stream, then closed", async () => {
    const c = await Client.connect();
    // A first exchange, so that the server's session for this connection exists.
    await c.request(get("/download?n=1"));
    const session = sessions.at(-1)!;
    const pending = c.request(get("/hold?goaway"));
    while (!held.has("?goaway")) await new Promise((resolve) => setTimeout(resolve, 5));
    session.close();
    while (c.conn.available > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(c.conn.request(get("/download?n=1"), true), null, "no stream after GOAWAY");
    const stream = held.get("?goaway")!;
    stream.respond({ ":status": 200 });
    stream.end("done");
    const r = await pending;
    assert.equal(new TextDecoder().decode(r.body), "done");
    const closed = await c.closed;
    assert.equal(errorName(closed.code), "NO_ERROR");
    assert.match(closed.reason, /GOAWAY/);
    c.close();
  });

  test("a GOAWAY below an open stream refuses it; the one below finishes", async () => {
    const c = await Client.connect();
    const first = c.request(get("/hold?first"));
    const second = c.request(get("/hold?second"));
    while (!held.has("?second")) await new Promise((resolve) => setTimeout(resolve, 5));
    sessions.at(-1)!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    const refused = await second;
    assert.equal(errorName(refused.reset?.code ?? -1), "REFUSED_STREAM");
    assert.match(refused.reset!.reason, /refused/);
    const stream = held.get("?first")!;
    stream.respond({ ":status": 200 });
    stream.end("first");
    assert.equal(new TextDecoder().decode((await first).body), "first");
    assert.equal(errorName((await c.closed).code), "NO_ERROR");
    c.close();
  });
});
