import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { sniffClientHelloMessage } from "../../../src/tls/client_hello.ts";
import {
  GROUP_SECP256R1,
  GROUP_X25519,
  type Offer,
  readOffer,
} from "../../../src/tls/tls13/offer.ts";
import type { Invalid } from "../../../src/wire/result.ts";
import { editBytes, mulberry32 } from "../../helpers/prng.ts";
import { concat, expectMatchResult } from "../../helpers/sniff.ts";
import { helloMessage, inRecord } from "../../helpers/tls_hello.ts";

const FIXTURES = [
  "chromium.bin",
  "bun.bin",
  "curl-openssl3.bin",
  "openssl-s_client.bin",
  "node20.bin",
  "deno.bin",
];

function fixture(name: string): Uint8Array {
  const path = fileURLToPath(new URL(`../../fixtures/clienthello/${name}`, import.meta.url));
  return new Uint8Array(readFileSync(path));
}

function expectOffer(r: Offer | Invalid): Offer {
  assert.ok(!("kind" in r), `expected an offer, got ${JSON.stringify(r)}`);
  return r as Offer;
}

function expectRefused(r: Offer | Invalid, reason: RegExp): void {
  assert.ok("kind" in r && r.kind === "invalid", `expected invalid, got ${JSON.stringify(r)}`);
  assert.match((r as Invalid).reason, reason);
}

/** `message` split into handshake records of at most `size` bytes. */
function records(message: Uint8Array, size: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < message.length; at += size) {
    const part = message.subarray(at, at + size);
    parts.push(concat([22, 3, 1, part.length >> 8, part.length & 0xff], part));
  }
  return concat(...parts);
}

describe("sniffClientHelloMessage", () => {
  for (const name of FIXTURES) {
    test(`${name}: the message as sent, in one record or re-framed into many`, () => {
      const wire = fixture(name);
      const one = expectMatchResult(sniffClientHelloMessage(wire));
      assert.equal(one.length, wire.length);
      assert.deepEqual(one.value, wire.subarray(5));
      const split = records(wire.subarray(5), 97);
      const many = expectMatchResult(sniffClientHelloMessage(split));
      assert.equal(many.length, split.length);
      assert.deepEqual(many.value, wire.subarray(5));
      assert.equal(sniffClientHelloMessage(split.subarray(0, split.length - 1)).kind, "more");
    });
  }
});

describe("readOffer", () => {
  for (const name of FIXTURES) {
    test(`${name}: a real TLS 1.3 client's X25519 share is taken`, () => {
      const message = fixture(name).subarray(5);
      const offer = expectOffer(readOffer(message));
      assert.equal(offer.group, GROUP_X25519);
      assert.equal(offer.publicKey.length, 32);
      // A view into the message, not a copy.
      assert.equal(offer.publicKey.buffer, message.buffer);
    });
  }

  test("a P-256 share is used when there is no X25519 one; X25519 wins in either order", () => {
    const p256 = concat([4], new Uint8Array(64).fill(5));
    const x = new Uint8Array(32).fill(3);
    const only = expectOffer(readOffer(helloMessage({ shares: [[GROUP_SECP256R1, p256]] })));
    assert.equal(only.group, GROUP_SECP256R1);
    assert.deepEqual(only.publicKey, p256);
    for (
      const shares of [
        [[GROUP_SECP256R1, p256], [GROUP_X25519, x]],
        [[GROUP_X25519, x], [GROUP_SECP256R1, p256]],
      ] as [number, Uint8Array][][]
    ) {
      const offer = expectOffer(readOffer(helloMessage({ shares })));
      assert.equal(offer.group, GROUP_X25519);
      assert.deepEqual(offer.publicKey, x);
    }
  });

  test("the legacy session id is kept to be echoed, empty or not", () => {
    const sid = Uint8Array.from({ length: 32 }, (_, i) => i);
    assert.deepEqual(expectOffer(readOffer(helloMessage({ sessionId: sid }))).sessionId, sid);
    const none = helloMessage({ sessionId: new Uint8Array(0) });
    assert.equal(expectOffer(readOffer(none)).sessionId.length, 0);
  });

  test("what this answer cannot use is named, TLS 1.3 first", () => {
    expectRefused(
      readOffer(helloMessage({ versions: [0x0303], suites: [0xc02f] })),
      /TLS 1\.3 not offered/,
    );
    expectRefused(readOffer(helloMessage({ suites: [0x1302, 0x1303] })), /0x1301\) not offered/);
    expectRefused(readOffer(helloMessage({ sigs: [0x0804, 0x0503] })), /0x0403\) not offered/);
    expectRefused(
      readOffer(helloMessage({ shares: [[0x11ec, new Uint8Array(1216)]] })),
      /no key share for X25519 or secp256r1/,
    );
    // Shares of the wrong size for their group are not used.
    expectRefused(
      readOffer(helloMessage({ shares: [[GROUP_X25519, new Uint8Array(31)]] })),
      /no key share/,
    );
  });

  test("lengths that overrun are invalid, at every cut of the message", () => {
    const message = helloMessage();
    for (let cut = 4; cut < message.length; cut++) {
      const r = readOffer(message.subarray(0, cut));
      assert.ok("kind" in r, `cut at ${cut} gave an offer`);
    }
  });

  test("randomly edited real hellos never throw: an offer or a reason", () => {
    const rand = mulberry32(0x7113);
    const messages = FIXTURES.map((f) => fixture(f).subarray(5));
    for (let i = 0; i < 5000; i++) {
      const input = editBytes(rand, rand.pick(messages).slice(), [0, 1, 0x20, 0x33, 0xff]);
      const r = readOffer(input);
      if ("kind" in r) assert.equal(typeof r.reason, "string");
      else assert.ok(r.publicKey.length === 32 || r.publicKey.length === 65);
    }
  });

  test("a built hello round-trips through the sniffer", () => {
    const wire = inRecord(helloMessage());
    assert.deepEqual(expectMatchResult(sniffClientHelloMessage(wire)).value, wire.subarray(5));
  });
});
