import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { rewriteRequestHead, switchAllowed } from "../../src/http1/request_rewrite.ts";
import { type HttpRequestHead, sniffHttpRequestHead } from "../../src/http1/request_head.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { ascii, expectMatch, text } from "../helpers/sniff.ts";

const LIMITS = { maxLine: 8192, maxHead: 65536 };

function parse(head: string): HttpRequestHead {
  return expectMatch(sniffHttpRequestHead(ascii(head), LIMITS));
}

/** The head as forwarded, and the upgrade still offered. */
function rewrite(head: string): { head: string; upgrade: string | null } {
  const parsed = parse(head);
  assert.equal(parsed.rewrite, true, `${JSON.stringify(head)} should need a rewrite`);
  const r = rewriteRequestHead(ascii(head + "BODY"), parsed);
  return { head: text(r.bytes), upgrade: r.upgrade };
}

describe("HttpRequestHead.rewrite: only heads that need it are rewritten", () => {
  for (
    const head of [
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
    ]
  ) {
    test(`forwarded as sent: ${JSON.stringify(head)}`, () => {
      assert.equal(parse(head).rewrite, false);
    });
  }
});

describe("rewriteRequestHead", () => {
  test("the h2c upgrade of the smuggling attack leaves nothing of itself", () => {
    const r = rewrite(
      "GET / HTTP/1.1\r\nHost: c.test\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n" +
        "Connection: Upgrade, HTTP2-Settings\r\n\r\n",
    );
    assert.equal(r.head, "GET / HTTP/1.1\r\nHost: c.test\r\n\r\n");
    assert.equal(r.upgrade, null);
  });
  test("h2c beside websocket: websocket, Connection: Upgrade and other options stay", () => {
    const r = rewrite(
      "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade, HTTP2-Settings\r\n" +
        "Upgrade: H2C, websocket\r\nHTTP2-Settings: AAA\r\nSec-WebSocket-Key: k\r\n\r\n",
    );
    assert.equal(
      r.head,
      "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n" +
        "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
    );
    assert.equal(r.upgrade, "websocket");
  });
  test("an HTTP2-Settings field alone (no Upgrade) is dropped", () => {
    assert.equal(
      rewrite("GET / HTTP/1.1\r\nHost: a\r\nhttp2-settings: x\r\n\r\n").head,
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
  });
  test("Upgrade: h2c without Connection: upgrade is dropped too", () => {
    assert.equal(
      rewrite("GET / HTTP/1.1\r\nUpgrade: h2c\r\nHost: a\r\n\r\n").head,
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    );
  });
  test("a repeated Content-Length is sent once, in the first one's place", () => {
    assert.equal(
      rewrite(
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\ncontent-length:  5 \r\n\r\n",
      ).head,
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\n\r\n",
    );
  });
  test("an absolute-form target's authority replaces Host, and the target is kept", () => {
    assert.equal(
      rewrite("GET http://A.test:8080/x?y HTTP/1.1\r\nHost: b.test\r\nAccept: */*\r\n\r\n").head,
      "GET http://A.test:8080/x?y HTTP/1.1\r\nHost: A.test:8080\r\nAccept: */*\r\n\r\n",
    );
  });
  test("HTTP/1.0 absolute-form without Host gains one", () => {
    assert.equal(
      rewrite("GET http://a.test/ HTTP/1.0\r\nAccept: */*\r\n\r\n").head,
      "GET http://a.test/ HTTP/1.0\r\nAccept: */*\r\nHost: a.test\r\n\r\n",
    );
  });
  test("untouched field lines keep their exact bytes (spacing, case, obs-text)", () => {
    const r = rewrite(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Odd:\t spaced \t\r\nX-Latin: caf\xe9\r\nHTTP2-Settings: x\r\n\r\n",
    );
    assert.equal(
      r.head,
      "GET / HTTP/1.1\r\nHost: a\r\nX-Odd:\t spaced \t\r\nX-Latin: caf\xe9\r\n\r\n",
    );
  });

  test("randomized: a rewritten head parses again, needs no rewrite, and routes the same", () => {
    const rng = mulberry32(0x5eed14);
    const extras = [
      "Upgrade: h2c",
      "Upgrade: websocket",
      "Upgrade: h2c, websocket",
      "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
      "Connection: Upgrade, HTTP2-Settings",
      "Connection: keep-alive",
      "Connection: close, upgrade",
      "Content-Length: 7",
      "Accept: */*",
      "X-Forwarded-For: 192.0.2.1",
    ];
    const targets = ["/", "/p?q", "http://t.test/x", "http://t.test:81", "https://u.test/"];
    for (let i = 0; i < 2000; i++) {
      const version = rng.int(4) === 0 ? "1.0" : "1.1";
      const lines = [`GET ${rng.pick(targets)} HTTP/${version}`];
      if (version === "1.1" || rng.int(2) === 0) {
        lines.push(`Host: ${rng.pick(["h.test", "t.test"])}`);
      }
      for (let n = rng.int(6); n > 0; n--) lines.push(rng.pick(extras));
      const head = `${lines.join("\r\n")}\r\n\r\n`;
      const parsed = parse(head);
      if (!parsed.rewrite) continue;
      const out = rewriteRequestHead(ascii(head), parsed);
      const again = parse(text(out.bytes));
      assert.equal(
        again.rewrite,
        false,
        `${JSON.stringify(head)} -> ${JSON.stringify(text(out.bytes))}`,
      );
      assert.equal(again.host, parsed.host);
      assert.equal(again.path, parsed.path);
      assert.equal(again.contentLength, parsed.contentLength);
      assert.equal(again.connectionClose, parsed.connectionClose);
      assert.equal(again.upgrade, out.upgrade);
      assert.ok(!/h2c/i.test(out.upgrade ?? ""));
    }
  });
});

describe("switchAllowed", () => {
  test("a 101 to a protocol the request kept passes", () => {
    assert.equal(switchAllowed("websocket", [["Upgrade", "WebSocket"]]), true);
    assert.equal(switchAllowed("foo/2, websocket", [["upgrade", "foo/2"]]), true);
  });
  test("a 101 when nothing was offered, to another protocol, or without Upgrade is refused", () => {
    assert.equal(switchAllowed(null, [["Upgrade", "websocket"]]), false);
    assert.equal(switchAllowed("websocket", [["Upgrade", "h2c"]]), false);
    assert.equal(switchAllowed("websocket", [["Upgrade", "websocket, h2c"]]), false);
    assert.equal(switchAllowed("websocket", [["Connection", "Upgrade"]]), false);
  });
});
