import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CONTENT_ALERT,
  CONTENT_HANDSHAKE,
  RecordCipher,
  sniffRecord,
  type TlsRecord,
} from "../../../src/tls/tls13/record.ts";
import { mulberry32 } from "../../helpers/prng.ts";
import { concat, expectInvalid, expectMatch, expectMatchResult } from "../../helpers/sniff.ts";

const SECRET = new Uint8Array(32).fill(0x5a);

describe("sniffRecord", () => {
  test("needs the whole record; the match is views of header and fragment", () => {
    const rec = concat([23, 3, 3, 0, 4], [1, 2, 3, 4], [20, 3, 3]);
    for (let cut = 0; cut < 9; cut++) assert.equal(sniffRecord(rec.subarray(0, cut)).kind, "more");
    const m = expectMatchResult(sniffRecord(rec));
    assert.equal(m.length, 9);
    assert.equal(m.value.type, 23);
    assert.deepEqual(m.value.fragment, Uint8Array.of(1, 2, 3, 4));
    assert.equal(m.value.fragment.buffer, rec.buffer);
  });

  test("a type that is not TLS, a major version not 3, or an oversize length is invalid", () => {
    expectInvalid(
      sniffRecord(Uint8Array.of(0x47, 0x45, 0x54, 0x20, 0x2f)),
      /47 45 54 is not a TLS record/,
    );
    expectInvalid(sniffRecord(Uint8Array.of(23, 2, 0, 0, 1)), /not a TLS record/);
    expectInvalid(sniffRecord(Uint8Array.of(23, 3, 3, 0x41, 1)), /length 16641 exceeds 16640/);
  });

  test("random bytes never throw", () => {
    const rand = mulberry32(0x5ec0);
    for (let i = 0; i < 5000; i++) {
      const b = Uint8Array.from({ length: rand.int(12) }, () => rand.int(256));
      if (rand.int(2) === 0 && b.length > 1) {
        b[0] = 20 + rand.int(4);
        b[1] = 3;
      }
      const r = sniffRecord(b);
      assert.ok(["more", "invalid", "match"].includes(r.kind));
    }
  });
});

/** A received record: the sealed bytes as the peer reads them. */
function received(sealed: Uint8Array): TlsRecord {
  return expectMatch(sniffRecord(sealed), sealed.length);
}

describe("RecordCipher", () => {
  test("what one side seals the other opens, in order: type and content as sent", async () => {
    const writer = await RecordCipher.of(SECRET);
    const reader = await RecordCipher.of(SECRET);
    const first = await writer.seal(CONTENT_HANDSHAKE, Uint8Array.of(20, 0, 0, 1, 9));
    const second = await writer.seal(CONTENT_ALERT, Uint8Array.of(1, 0));
    assert.deepEqual(first.subarray(0, 3), Uint8Array.of(23, 3, 3));
    assert.equal(first.length, 5 + 5 + 1 + 16);
    assert.deepEqual(await reader.open(received(first)), {
      type: CONTENT_HANDSHAKE,
      content: Uint8Array.of(20, 0, 0, 1, 9),
    });
    assert.deepEqual(await reader.open(received(second)), {
      type: CONTENT_ALERT,
      content: Uint8Array.of(1, 0),
    });
  });

  test("a record out of order, under another secret, or with a byte changed does not open", async () => {
    const writer = await RecordCipher.of(SECRET);
    const first = await writer.seal(CONTENT_HANDSHAKE, Uint8Array.of(1));
    const second = await writer.seal(CONTENT_HANDSHAKE, Uint8Array.of(2));
    const skipped = await RecordCipher.of(SECRET);
    const r = await skipped.open(received(second));
    assert.deepEqual(r, {
      kind: "invalid",
      reason: "record does not decrypt (bad key or tampered)",
    });
    const other = await RecordCipher.of(new Uint8Array(32));
    assert.equal(((await other.open(received(first))) as { kind: string }).kind, "invalid");
    for (const at of [2, 4, 6, first.length - 1]) {
      const bad = first.slice();
      bad[at] ^= 1;
      const reader = await RecordCipher.of(SECRET);
      const opened = await reader.open({
        type: 23,
        header: bad.subarray(0, 5),
        fragment: bad.subarray(5),
      });
      assert.equal((opened as { kind: string }).kind, "invalid", `byte ${at} changed`);
    }
  });

  test("a record that is not application data, or shorter than its tag, is refused", async () => {
    const reader = await RecordCipher.of(SECRET);
    const plain = {
      type: 22,
      header: Uint8Array.of(22, 3, 3, 0, 20),
      fragment: new Uint8Array(20),
    };
    assert.deepEqual(await reader.open(plain), {
      kind: "invalid",
      reason: "expected a protected record, got type 22",
    });
    const short = {
      type: 23,
      header: Uint8Array.of(23, 3, 3, 0, 16),
      fragment: new Uint8Array(16),
    };
    assert.equal(((await reader.open(short)) as { kind: string }).kind, "invalid");
  });
});
