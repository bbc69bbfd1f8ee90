/**
 * `http2: true` backends end to end: HTTP/2 clients through TLS termination reach node:http2
 * servers (h2c, and h2 over TLS) over HTTP/2, many streams on one backend connection, with
 * request and response trailers carried both ways as gRPC needs them.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { pattern, sha256 } from "../helpers/http_backends.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** What a test backend saw of one stream. */
interface Seen {
  authority: string;
  te: string | undefined;
  xff: string | undefined;
  length: number;
  sha256: string;
  trailers: Record<string, unknown>;
}

/** An HTTP/2 backend (h2c, or h2 with `cert`) answering like a gRPC server, with trailers. */
async function grpcLike(cert?: TestCert): Promise<{
  port: number;
  sessions: () => number;
  close: () => Promise<void>;
}> {
  let sessions = 0;
  const server = cert === undefined
    ? http2.createServer()
    : http2.createSecureServer({ cert: cert.cert, key: cert.key, allowHTTP1: false });
  server.on("session", () => sessions++);
  server.on("stream", (stream, headers) => {
    const parts: Buffer[] = [];
    let trailers: Record<string, unknown> = {};
    stream.on("trailers", (t) => (trailers = { ...t }));
    stream.on("data", (c: Buffer) => parts.push(c));
    stream.on("end", () => {
      const body = Buffer.concat(parts);
      if (headers[":path"] === "/big") {
        stream.respond({ ":status": 200 });
        stream.end(Buffer.from(pattern(3 * 1024 * 1024 + 5, 9)));
        return;
      }
      if (headers[":path"] === "/reset") {
        // Bun's server stream reports its own reset as an 'error' (unhandled, it would throw).
        stream.on("error", () => {});
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        return;
      }
      const seen: Seen = {
        authority: String(headers[":authority"]),
        te: headers.te as string | undefined,
        xff: headers["x-forwarded-for"] as string | undefined,
        length: body.length,
        sha256: sha256(body),
        trailers,
      };
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, {
        waitForTrailers: true,
      });
      stream.on(
        "wantTrailers",
        () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "ok" }),
      );
      stream.end(JSON.stringify(seen));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    sessions: () => sessions,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** One exchange on `session`: its status, body and trailers. */
function call(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Uint8Array,
  trailers?: http2.OutgoingHttpHeaders,
): Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, {
      endStream: body === undefined,
      waitForTrailers: trailers !== undefined,
    });
    if (trailers !== undefined) req.on("wantTrailers", () => req.sendTrailers(trailers));
    const parts: Buffer[] = [];
    let status = 0;
    let got: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("trailers", (t) => (got = t));
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve({ status, body: Buffer.concat(parts), trailers: got }));
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

describe(`http2 backends (router on ${runtimeName})`, () => {
  let h2c: Awaited<ReturnType<typeof grpcLike>>;
  let h2tls: Awaited<ReturnType<typeof grpcLike>>;
  let router: RouterProcess;
  let cert: TestCert;
  let backendCert: TestCert;

  const connect = () =>
    http2.connect(`https://127.0.0.1:${router.port("secure")}`, {
      ca: cert.cert,
      servername: "grpc.test",
    });

  before(async () => {
    cert = selfSigned(["grpc.test", "tls.test"]);
    backendCert = selfSigned(["backend.test"]);
    h2c = await grpcLike();
    h2tls = await grpcLike(backendCert);
    router = await startRouter(`
certificates:
  - { cert: ${cert.certFile}, key: ${cert.keyFile} }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    forwarded: [x-forwarded-for]
    routes:
      - { host: grpc.test, to: h2c }
      - { host: tls.test, to: h2tls }
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
backends:
  h2c: { servers: ["127.0.0.1:${h2c.port}"], http2: true }
  h2tls:
    servers: ["127.0.0.1:${h2tls.port}"]
    http2: true
    tls: { sni: backend.test, ca: ${backendCert.certFile}, verify: true }
`);
  });

  after(async () => {
    await router?.stop();
    await h2c?.close();
    await h2tls?.close();
  });

  test("a gRPC-style call: te: trailers, request trailers and response trailers go through", async () => {
    const session = connect();
    try {
      const message = pattern(5000, 4);
      const r = await call(
        session,
        {
          ":method": "POST",
          ":path": "/pkg.Service/Method",
          ":authority": "grpc.test",
          "content-type": "application/grpc",
          te: "trailers",
        },
        message,
        { "x-request-trailer": "sent" },
      );
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body.toString()) as Seen;
      assert.equal(seen.authority, "grpc.test");
      assert.equal(seen.te, "trailers");
      assert.equal(seen.xff, "127.0.0.1");
      assert.equal(seen.length, message.length);
      assert.equal(seen.sha256, sha256(message));
      assert.equal(seen.trailers["x-request-trailer"], "sent");
      assert.equal(r.trailers["grpc-status"], "0");
      assert.equal(r.trailers["grpc-message"], "ok");
      const line = await router.waitForAccess((l) => l.path === "/pkg.Service/Method", "the line");
      assert.equal(line.proto, "h2");
      assert.equal(line.backend, "h2c");
    } finally {
      session.close();
    }
  });

  test("twenty concurrent streams share one backend connection", async () => {
    const before = h2c.sessions();
    const session = connect();
    try {
      const bodies = Array.from({ length: 20 }, (_, i) => pattern(i * 1000, i + 1));
      const answers = await Promise.all(
        bodies.map((b, i) =>
          call(session, { ":method": "POST", ":path": `/s${i}`, ":authority": "grpc.test" }, b)
        ),
      );
      answers.forEach((a, i) => {
        assert.equal(a.status, 200);
        assert.equal((JSON.parse(a.body.toString()) as Seen).sha256, sha256(bodies[i]));
      });
      assert.equal(h2c.sessions(), before + 1);
    } finally {
      session.close();
    }
  });

  test("a 3 MiB response through both connections' flow control arrives byte-exact", async () => {
    const session = connect();
    try {
      const r = await call(session, { ":path": "/big", ":authority": "grpc.test" });
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(pattern(3 * 1024 * 1024 + 5, 9)));
    } finally {
      session.close();
    }
  });

  test("h2 over TLS to the backend (ALPN h2, certificate verified)", async () => {
    const session = connect();
    try {
      const r = await call(session, { ":path": "/tls", ":authority": "tls.test" });
      assert.equal(r.status, 200, r.body.toString());
      assert.equal((JSON.parse(r.body.toString()) as Seen).authority, "tls.test");
      assert.equal(r.trailers["grpc-status"], "0");
    } finally {
      session.close();
    }
  });

  test("a stream the backend resets before answering gets 502; the connection goes on", async () => {
    const session = connect();
    try {
      const r = await call(session, { ":path": "/reset", ":authority": "grpc.test" });
      assert.equal(r.status, 502);
      const again = await call(session, { ":path": "/again", ":authority": "grpc.test" });
      assert.equal(again.status, 200);
    } finally {
      session.close();
    }
  });
});
