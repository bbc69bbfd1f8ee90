import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { accessRecord } from "../../src/log/access.ts";
import type { Addr } from "../../src/runtime/types.ts";

const fields = () => ({
  route: null,
  backend: null,
  server: null,
  bytes_in: 0,
  bytes_out: 0,
  duration_ms: 0,
});

describe("accessRecord", () => {
  test("client and dst are host:port, IPv6 in brackets", () => {
    const conn = {
      remote: { host: "2001:db8::7", port: 51000, family: 6 } as Addr,
      local: { host: "192.0.2.1", port: 443, family: 4 } as Addr,
    };
    const rec = accessRecord("web", conn, "ok", fields());
    assert.deepEqual(
      [rec.listener, rec.client, rec.dst, rec.outcome],
      ["web", "[2001:db8::7]:51000", "192.0.2.1:443", "ok"],
    );
  });

  test("each connection's own addresses, however the records of several interleave", () => {
    const conns = [1, 2, 3].map((i) => ({
      remote: { host: `198.51.100.${i}`, port: 40000 + i, family: 4 } as Addr,
      local: { host: "127.0.0.1", port: 8000 + i, family: 4 } as Addr,
    }));
    for (let round = 0; round < 3; round++) {
      for (const [i, conn] of conns.entries()) {
        const rec = accessRecord("web", conn, "ok", fields());
        assert.equal(rec.client, `198.51.100.${i + 1}:${40001 + i}`);
        assert.equal(rec.dst, `127.0.0.1:${8001 + i}`);
      }
    }
  });
});
