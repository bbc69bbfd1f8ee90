/**
 * HTTP test peers on 127.0.0.1 port 0 for the http listener tests: a node:http server that
 * reports what reached it, a raw node:net server for responses node:http does not produce
 * (delimited by close), a minimal RFC 6455 echo, and a cleartext HTTP/2 (h2c) server. They
 * run the same under deno test and bun test and share no code with the router under test.
 */

import { createHash } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { TestServer } from "./backends.ts";

/** What {@link httpBackend} answers about each request (the JSON body of its response). */
export interface Report {
  name: string;
  method: string;
  url: string;
  host: string | null;
  xff: string | null;
  forwarded: string | null;
  xfp: string | null;
  /** Expect as the backend received it. */
  expect: string | null;
  /** Transfer-Encoding as the backend received it. */
  te: string | null;
  /** Body length and SHA-256 (hex) exactly as received. */
  length: number;
  sha256: string;
  /** Header fields as received: name, value, name, value, ... (names as sent). */
  rawHeaders: string[];
  /** Trailer fields of a chunked body, the same way. */
  trailers: string[];
}

/** A running test server that counts accepted connections. */
export interface HttpTestServer extends TestServer {
  readonly name: string;
  /** Requests seen, in order. */
  readonly seen: Report[];
}

/** SHA-256 hex of `data`. */
export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** `n` bytes of a repeating pattern that is not a multiple of any chunk size used. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function one(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(", ") : v;
}

function listen(server: net.Server | http.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Counts accepts and tracks sockets on `server` so close() can end them. */
function track(server: net.Server | http.Server | http2.Http2Server) {
  const counter = { n: 0 };
  const sockets = new Set<net.Socket>();
  server.on("connection", (s: net.Socket) => {
    counter.n++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  return {
    counter,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The body of the `/chunked` response, sent in these pieces. */
export const CHUNKED_PIECES = ["first piece, ", "second piece, ", "the end"];

/**
 * A node:http server named `name`. Every request gets a JSON {@link Report} of itself, after
 * its whole body arrived. Special paths:
 *
 * - `GET /chunked`: the {@link CHUNKED_PIECES} as a chunked body (no Content-Length).
 * - `GET /304`: 304 Not Modified with an ETag and no body.
 * - `HEAD` anything: the headers a GET would get, Content-Length included, and no body.
 *
 * An `Expect: 100-continue` request is answered with 100 Continue before its body is read.
 */
export async function httpBackend(name: string): Promise<HttpTestServer> {
  const seen: Report[] = [];
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const h = createHash("sha256");
    let length = 0;
    req.on("data", (c: Uint8Array) => {
      h.update(c);
      length += c.length;
    });
    req.on("end", () => {
      const report: Report = {
        name,
        method: req.method ?? "",
        url: req.url ?? "",
        host: one(req.headers.host),
        xff: one(req.headers["x-forwarded-for"]),
        forwarded: one(req.headers.forwarded),
        xfp: one(req.headers["x-forwarded-proto"]),
        expect: one(req.headers.expect),
        te: one(req.headers["transfer-encoding"]),
        length,
        sha256: h.digest("hex"),
        rawHeaders: req.rawHeaders,
        trailers: req.rawTrailers,
      };
      seen.push(report);
      res.setHeader("X-Backend", name);
      if (req.url === "/304") {
        res.writeHead(304, { ETag: '"v1"' });
        res.end();
        return;
      }
      if (req.url === "/chunked" && req.method === "GET") {
        res.writeHead(200, { "Content-Type": "text/plain" });
        for (const piece of CHUNKED_PIECES) res.write(piece);
        res.end();
        return;
      }
      const body = JSON.stringify(report);
      res.writeHead(200, {
        "Content-Type": "application/json",
        "Content-Length": String(Buffer.byteLength(body)),
      });
      if (req.method === "HEAD") res.end();
      else res.end(body);
    });
  };
  const server = http.createServer(handle);
  server.on("checkContinue", (req, res) => {
    res.writeContinue();
    handle(req, res);
  });
  const port = await listen(server);
  const t = track(server);
  return {
    name,
    port,
    seen,
    get accepted() {
      return t.counter.n;
    },
    close: t.close,
  };
}

/**
 * A raw HTTP/1 server for what node:http will not send: `onData` sees a connection's socket
 * and every byte it has received so far, on each read, and writes what it likes.
 */
export async function rawBackend(
  onData: (s: net.Socket, received: Buffer) => void,
): Promise<TestServer> {
  const server = net.createServer((s) => {
    let received = Buffer.alloc(0);
    s.on("data", (c: Uint8Array) => {
      received = Buffer.concat([received, c]);
      onData(s, received);
    });
  });
  const port = await listen(server);
  const t = track(server);
  return {
    port,
    get accepted() {
      return t.counter.n;
    },
    close: t.close,
  };
}

/**
 * Answers each connection's first request head with `HTTP/1.1 200`, no Content-Length and no
 * Transfer-Encoding, then `body` in several writes, then closes: a response delimited by the
 * end of the connection.
 */
export function closeDelimitedBackend(body: Uint8Array): Promise<TestServer> {
  return rawBackend((s, received) => {
    if (s.writableEnded || !received.includes("\r\n\r\n")) return;
    // The head and a first piece larger than a typical read in one write, then the rest.
    const head = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
    const first = 100_000;
    s.write(Buffer.concat([head, body.subarray(0, first)]));
    const step = 65521;
    for (let o = first; o < body.length; o += step) s.write(body.subarray(o, o + step));
    s.end();
  });
}

/** The GUID of RFC 6455 section 1.3. */
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2). */
export function wsAccept(key: string): string {
  return createHash("sha1").update(key + WS_GUID).digest("base64");
}

/**
 * Parses one WebSocket frame at the start of `buf` (payloads under 64 KiB); `null` when
 * incomplete. Unmasks a masked payload.
 */
export function wsFrame(
  buf: Uint8Array,
): { fin: boolean; opcode: number; masked: boolean; payload: Uint8Array; length: number } | null {
  if (buf.length < 2) return null;
  const fin = (buf[0] & 0x80) !== 0;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let o = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = (buf[2] << 8) | buf[3];
    o = 4;
  } else if (len === 127) throw new Error("test frames stay under 64 KiB");
  const mask = masked ? buf.subarray(o, o + 4) : null;
  if (masked) o += 4;
  if (buf.length < o + len) return null;
  const payload = buf.slice(o, o + len);
  if (mask !== null) { for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3]; }
  return { fin, opcode, masked, payload, length: o + len };
}

/** One frame with `payload`; masked with `mask` (4 bytes) when given. */
export function wsEncode(opcode: number, payload: Uint8Array, mask?: Uint8Array): Uint8Array {
  const len = payload.length;
  const ext = len < 126 ? 0 : 2;
  const out = new Uint8Array(2 + ext + (mask ? 4 : 0) + len);
  out[0] = 0x80 | opcode;
  out[1] = (mask ? 0x80 : 0) | (len < 126 ? len : 126);
  if (ext) {
    out[2] = len >> 8;
    out[3] = len & 255;
  }
  let o = 2 + ext;
  if (mask) {
    out.set(mask, o);
    o += 4;
  }
  for (let i = 0; i < len; i++) out[o + i] = mask ? payload[i] ^ mask[i & 3] : payload[i];
  return out;
}

/**
 * A minimal RFC 6455 echo over node:net: answers a valid Upgrade request with 101 and the
 * right Sec-WebSocket-Accept, then echoes each masked client frame back unmasked (a frame
 * from a client that is not masked closes the connection, as section 5.1 asks). Records the
 * request heads it got.
 */
export async function wsEchoBackend(): Promise<TestServer & { heads: string[] }> {
  const heads: string[] = [];
  const server = net.createServer((s) => {
    let buf: Uint8Array = new Uint8Array(0);
    let upgraded = false;
    s.on("data", (c: Uint8Array) => {
      buf = Buffer.concat([buf, c]);
      if (!upgraded) {
        const text = Buffer.from(buf).toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = text.slice(0, end);
        heads.push(head);
        const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)?.[1];
        if (!/^upgrade:\s*websocket\s*$/im.test(head) || key === undefined) {
          s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          return;
        }
        s.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${wsAccept(key)}\r\n\r\n`,
        );
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      for (;;) {
        const f = wsFrame(buf);
        if (f === null) return;
        buf = buf.subarray(f.length);
        if (!f.masked) {
          s.destroy();
          return;
        }
        if (f.opcode === 0x8) {
          s.end(wsEncode(0x8, f.payload));
          return;
        }
        s.write(wsEncode(f.opcode, f.payload));
      }
    });
  });
  const port = await listen(server);
  const t = track(server);
  return {
    port,
    heads,
    get accepted() {
      return t.counter.n;
    },
    close: t.close,
  };
}

/**
 * A cleartext HTTP/2 server (prior knowledge) that answers every stream, once its body ended,
 * with "<name> <:authority> <body length> <body sha256>\n".
 */
export async function h2cBackend(name: string): Promise<TestServer & { authorities: string[] }> {
  const authorities: string[] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const authority = String(headers[":authority"] ?? "");
    authorities.push(authority);
    const h = createHash("sha256");
    let length = 0;
    stream.on("data", (c: Uint8Array) => {
      h.update(c);
      length += c.length;
    });
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "text/plain" });
      stream.end(`${name} ${authority} ${length} ${h.digest("hex")}\n`);
    });
  });
  const port = await listen(server);
  const t = track(server);
  return {
    port,
    authorities,
    get accepted() {
      return t.counter.n;
    },
    close: t.close,
  };
}
