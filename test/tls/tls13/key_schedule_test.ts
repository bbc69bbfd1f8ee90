import assert from "node:assert/strict";
import { test } from "node:test";
import {
  deriveSecret,
  expandLabel,
  finishedData,
  handshakeSecret,
  hmac,
  masterSecret,
} from "../../../src/tls/tls13/key_schedule.ts";
import { hex } from "../../helpers/sniff.ts";

// RFC 8448 §3, "Simple 1-RTT Handshake": the server's values, from its ECDHE shared secret.
const SHARED = hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d");
const HELLO_HASH = hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");

test("the early, handshake and master secrets of RFC 8448", async () => {
  const zeros = new Uint8Array(32);
  assert.deepEqual(
    await hmac(zeros, zeros),
    hex("33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"),
  );
  const hs = await handshakeSecret(SHARED);
  assert.deepEqual(hs, hex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac"));
  assert.deepEqual(
    await masterSecret(hs),
    hex("18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919"),
  );
});

test("the handshake traffic secrets, and the server's key and iv, of RFC 8448", async () => {
  const hs = await handshakeSecret(SHARED);
  const client = await deriveSecret(hs, "c hs traffic", HELLO_HASH);
  const server = await deriveSecret(hs, "s hs traffic", HELLO_HASH);
  assert.deepEqual(
    client,
    hex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21"),
  );
  assert.deepEqual(
    server,
    hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38"),
  );
  const none = new Uint8Array(0);
  assert.deepEqual(
    await expandLabel(server, "key", none, 16),
    hex("3fce516009c21727d0f2e4e86ee403bc"),
  );
  assert.deepEqual(await expandLabel(server, "iv", none, 12), hex("5d313eb2671276ee13000b30"));
});

test("Finished is HMAC under the finished key, which differs per secret and transcript", async () => {
  const secret = new Uint8Array(32).fill(1);
  const a = await finishedData(secret, new Uint8Array(32));
  const b = await finishedData(secret, new Uint8Array(32).fill(2));
  const c = await finishedData(new Uint8Array(32).fill(3), new Uint8Array(32));
  assert.equal(a.length, 32);
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(a, c);
  const key = await expandLabel(secret, "finished", new Uint8Array(0), 32);
  assert.deepEqual(a, await hmac(key, new Uint8Array(32)));
});
