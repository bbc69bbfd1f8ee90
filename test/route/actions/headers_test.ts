/**
 * Header actions on HTTP/1 heads (byte fixtures, and seeded random heads checked against a
 * line-by-line reference and re-parsed by the real head parsers) and on HTTP/2 header lists.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, test } from "node:test";
import type { HeaderActions } from "../../../src/config/types.ts";
import { HEAD_LIMITS, sniffHttpRequestHead } from "../../../src/http1/request_head.ts";
import { sniffHttpResponseHead } from "../../../src/http1/response_head.ts";
import {
  editFieldList,
  editHeadFields,
  type FieldLine,
} from "../../../src/route/actions/headers.ts";
import { mulberry32, type Prng } from "../../helpers/prng.ts";

const bytes = (s: string) => Buffer.from(s, "latin1");
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

function actions(
  set: [string, string][] = [],
  remove: string[] = [],
): HeaderActions {
  return { set, remove: remove.map((n) => n.toLowerCase()) };
}

describe("editHeadFields", () => {
  test("remove deletes every field of the name, any case; the rest stays byte for byte", () => {
    const head = bytes(
      "GET /x HTTP/1.1\r\nHost: a\r\nX-Debug: 1\r\nAccept:  */*  \r\nx-debug:2\r\n" +
        "X-DEBUG: 3\r\n\r\n",
    );
    const out = editHeadFields(head, actions([], ["X-Debug"]));
    assert.equal(text(out), "GET /x HTTP/1.1\r\nHost: a\r\nAccept:  */*  \r\n\r\n");
  });

  test("set replaces the first field of its name in place and drops the others", () => {
    const head = bytes(
      "HTTP/1.1 200 OK\r\nserver: nginx\r\nContent-Length: 2\r\nSERVER: again\r\n\r\n",
    );
    const out = editHeadFields(head, actions([["Server", "switchyard"]]));
    assert.equal(text(out), "HTTP/1.1 200 OK\r\nServer: switchyard\r\nContent-Length: 2\r\n\r\n");
  });

  test("set appends after the last field, in config order, when the name is absent", () => {
    const head = bytes("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n");
    const out = editHeadFields(
      head,
      actions([["Strict-Transport-Security", "max-age=31536000"], ["X-Frame-Options", "DENY"]]),
    );
    assert.equal(
      text(out),
      "HTTP/1.1 204 No Content\r\nDate: x\r\nStrict-Transport-Security: max-age=31536000\r\n" +
        "X-Frame-Options: DENY\r\n\r\n",
    );
  });

  test("a head without fields gets the set fields", () => {
    const out = editHeadFields(bytes("GET / HTTP/1.0\r\n\r\n"), actions([["X-Env", "prod"]]));
    assert.equal(text(out), "GET / HTTP/1.0\r\nX-Env: prod\r\n\r\n");
  });

  test("nothing to change: the very same head comes back", () => {
    const head = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Env: prod\r\n\r\n");
    assert.equal(editHeadFields(head, actions([], ["X-Debug"])), head);
    assert.equal(editHeadFields(head, actions([["X-Env", "prod"]])), head);
    assert.equal(editHeadFields(head, actions()), head);
    // Same value, other spelling: rewritten to the configured line.
    assert.equal(
      text(editHeadFields(head, actions([["x-env", "prod"]]))),
      "GET / HTTP/1.1\r\nHost: a\r\nx-env: prod\r\n\r\n",
    );
  });

  test("bytes after the head (a body) are kept; names only match whole", () => {
    const head = bytes("POST / HTTP/1.1\r\nX-A: 1\r\nX-AB: 2\r\nContent-Length: 4\r\n\r\nX-A:");
    const out = editHeadFields(head, actions([], ["x-a"]));
    assert.equal(text(out), "POST / HTTP/1.1\r\nX-AB: 2\r\nContent-Length: 4\r\n\r\nX-A:");
  });

  test("a start line with colons stays as it was", () => {
    const head = bytes("GET http://a:80/x:y HTTP/1.1\r\nHost: a:80\r\nX-A: 1\r\n\r\n");
    assert.equal(
      text(editHeadFields(head, actions([["Host", "b"]], ["x-a"]))),
      "GET http://a:80/x:y HTTP/1.1\r\nHost: b\r\n\r\n",
    );
  });

  test("obs-text values and set-then-remove of one name", () => {
    const head = bytes("GET / HTTP/1.1\r\nX-T: caf\xe9\r\nX-U: 1\r\n\r\n");
    const out = editHeadFields(head, actions([["X-U", "\xff"]], ["x-u"]));
    assert.equal(text(out), "GET / HTTP/1.1\r\nX-T: caf\xe9\r\nX-U: \xff\r\n\r\n");
  });

  test("values that would break the framing are refused when compiled", () => {
    const head = bytes("GET / HTTP/1.1\r\n\r\n");
    assert.throws(() => editHeadFields(head, actions([["X-A", "1\r\nX-B: 2"]])), TypeError);
    assert.throws(() => editHeadFields(head, actions([["X A", "1"]])), TypeError);
  });
});

// The reference: the head as lines, the semantics applied one line at a time.
function reference(head: string, a: HeaderActions): string {
  const end = head.indexOf("\r\n\r\n");
  const lines = head.slice(0, end).split("\r\n");
  const out = [lines[0]];
  const remove = new Set(a.remove);
  const sets = new Map(a.set.map(([n, v]) => [n.toLowerCase(), `${n}: ${v}`]));
  const placed = new Set<string>();
  for (const line of lines.slice(1)) {
    const lower = line.slice(0, line.indexOf(":")).toLowerCase();
    const set = sets.get(lower);
    if (set !== undefined) {
      if (!placed.has(lower)) out.push(set);
      placed.add(lower);
    } else if (!remove.has(lower)) out.push(line);
  }
  for (const [lower, line] of sets) if (!placed.has(lower)) out.push(line);
  return `${out.join("\r\n")}\r\n\r\n${head.slice(end + 4)}`;
}

const NAMES = ["X-Env", "X-Debug", "Server", "X-Powered-By", "Accept", "X-A", "X-Ab", "Via"];

function randomCase(rand: Prng, s: string): string {
  return [...s].map((c) => (rand.int(2) ? c.toUpperCase() : c.toLowerCase())).join("");
}

function randomValue(rand: Prng): string {
  const chars = "abc 123;=/\t\xe9";
  let v = "";
  for (let n = rand.int(8); n > 0; n--) v += rand.pick([...chars]);
  return v.trim();
}

function randomActions(rand: Prng): HeaderActions {
  const names = NAMES.filter(() => rand.int(4) === 0);
  const set: [string, string][] = [];
  const remove: string[] = [];
  for (const n of names) {
    if (rand.int(2)) set.push([randomCase(rand, n), randomValue(rand)]);
    else remove.push(n.toLowerCase());
  }
  return { set, remove };
}

describe("editHeadFields on seeded random heads", () => {
  test("matches the reference, parses again, and returns the head itself when unchanged", () => {
    const rand = mulberry32(0x5eed18);
    for (let iter = 0; iter < 2000; iter++) {
      const response = rand.int(2) === 1;
      const lines = [response ? "HTTP/1.1 200 OK" : "GET /p?q HTTP/1.1"];
      if (!response) lines.push("Host: example.com");
      for (let n = rand.int(10); n > 0; n--) {
        const ows = rand.pick(["", " ", "  ", "\t"]);
        lines.push(
          `${randomCase(rand, rand.pick(NAMES))}:${ows}${randomValue(rand)}${rand.pick(["", " "])}`,
        );
      }
      const body = rand.pick(["", "body", "X-Env: 1\r\n\r\n"]);
      lines.push(`Content-Length: ${body.length}`);
      const headText = `${lines.join("\r\n")}\r\n\r\n${body}`;
      const head = bytes(headText);
      const a = randomActions(rand);
      const out = editHeadFields(head, a);
      const want = reference(headText, a);
      assert.equal(text(out), want, `seed iteration ${iter}`);
      if (want === headText) assert.equal(out, head, `unchanged head copied at ${iter}`);
      const parsed = response
        ? sniffHttpResponseHead(out, HEAD_LIMITS)
        : sniffHttpRequestHead(out, HEAD_LIMITS);
      assert.equal(parsed.kind, "match", `iteration ${iter}: ${JSON.stringify(parsed)}`);
      if (parsed.kind === "match") assert.equal(parsed.length, out.length - body.length);
    }
  });
});

describe("editFieldList (HTTP/2)", () => {
  const list: FieldLine[] = [
    [":status", "200"],
    ["server", "h2o"],
    ["x-powered-by", "php"],
    ["content-type", "text/html"],
    ["server", "again"],
  ];

  test("remove and set, names lower-cased, pseudo-headers untouched", () => {
    const out = editFieldList(
      list,
      actions([["Server", "sy"], ["X-Frame-Options", "DENY"]], ["X-Powered-By"]),
    );
    assert.deepEqual(out, [
      [":status", "200"],
      ["server", "sy"],
      ["content-type", "text/html"],
      ["x-frame-options", "DENY"],
    ]);
    assert.deepEqual(list[1], ["server", "h2o"], "the input list is not modified");
  });

  test("nothing to change: the same list comes back", () => {
    assert.equal(editFieldList(list, actions([], ["x-debug"])), list);
    const once: FieldLine[] = [[":method", "GET"], ["x-env", "prod"]];
    assert.equal(editFieldList(once, actions([["X-Env", "prod"]])), once);
  });

  test("seeded random lists match the HTTP/1 edit of the same fields", () => {
    const rand = mulberry32(18);
    for (let iter = 0; iter < 1000; iter++) {
      const fields: FieldLine[] = [[":status", "200"]];
      for (let n = rand.int(8); n > 0; n--) {
        fields.push([rand.pick(NAMES).toLowerCase(), randomValue(rand)]);
      }
      const a = randomActions(rand);
      const h1 = text(editHeadFields(
        bytes(
          `HTTP/1.1 200 OK\r\n${fields.slice(1).map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`,
        ),
        a,
      ));
      const fromH1 = h1.split("\r\n").slice(1, -2).map((l) => {
        const colon = l.indexOf(":");
        return [l.slice(0, colon).toLowerCase(), l.slice(colon + 2)];
      });
      assert.deepEqual(editFieldList(fields, a).slice(1), fromH1, `iteration ${iter}`);
    }
  });
});
