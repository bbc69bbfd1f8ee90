import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import acme from "acme-client";
import { runtime } from "../../../src/runtime/mod.ts";
import type { Listener } from "../../../src/runtime/types.ts";
import { sniffClientHello, TLS_ALERT_HANDSHAKE_FAILURE } from "../../../src/tls/client_hello.ts";
import { answerHandshake, type AnswerResult } from "../../../src/tls/tls13/answer.ts";
import { type Identity, identityFromPem } from "../../../src/tls/tls13/identity.ts";
import { exec } from "../../helpers/clients.ts";
import { FakeConn, until, wake } from "../../helpers/fake_conn.ts";
import { concat } from "../../helpers/sniff.ts";
import { helloMessage, inRecord } from "../../helpers/tls_hello.ts";

const NAME = "a.acme.test";

/** A real TLS-ALPN-01 certificate and key, as the ACME client makes them. */
async function challengeIdentity(): Promise<{ identity: Identity; certPem: string }> {
  const keyPem = (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
  const [, cert] = await acme.crypto.createAlpnCertificate(
    { identifier: { type: "dns", value: NAME } } as Parameters<
      typeof acme.crypto.createAlpnCertificate
    >[0],
    "token.thumbprint",
    keyPem,
  );
  return { identity: await identityFromPem(cert.toString(), keyPem), certPem: cert.toString() };
}

function fixture(name: string): Uint8Array {
  const path = fileURLToPath(new URL(`../../fixtures/clienthello/${name}`, import.meta.url));
  return new Uint8Array(readFileSync(path));
}

// Real peers: openssl here, and Go's crypto/tls (Pebble's validator, as Let's Encrypt's) in
// test/integration/acme_test.ts. node:tls clients cannot be used: Deno's (rustls) refuses the
// critical acmeIdentifier extension and Bun's (BoringSSL) the certificate's key usage even with
// verification off, which is the point of answering the handshake here.
describe("answerHandshake with real TLS 1.3 clients", () => {
  let listener: Listener;
  let identity: Identity;
  let certPem: string;
  const results: AnswerResult[] = [];

  before(async () => {
    ({ identity, certPem } = await challengeIdentity());
    listener = await runtime.listen({ host: "127.0.0.1", port: 0 }, (conn) => {
      // What the stream session does: read until the ClientHello is complete, then hand over.
      let buf: Uint8Array = new Uint8Array(0);
      conn.start({
        data(chunk) {
          buf = concat(buf, chunk);
          if (sniffClientHello(buf).kind !== "match") return;
          conn.pause();
          answerHandshake(conn, buf, identity, "acme-tls/1", 5000, (r) => results.push(r));
        },
        end() {},
        drain() {},
        error() {},
      });
    }, () => {});
  });

  after(() => listener.close());

  const cases: [string, string[]][] = [
    ["X25519, with the middlebox-compatible ChangeCipherSpec", []],
    ["P-256, without it", ["-groups", "P-256", "-no_middlebox"]],
  ];
  for (const [what, extra] of cases) {
    test(`openssl s_client completes the handshake: ${what}`, async () => {
      const before = results.length;
      const r = await exec(
        "openssl",
        [
          "s_client",
          "-connect",
          `127.0.0.1:${listener.addr.port}`,
          "-servername",
          NAME,
          "-alpn",
          "acme-tls/1",
          "-showcerts",
          ...extra,
        ],
        15_000,
        "",
      );
      assert.match(r.stdout, /New, TLSv1\.3, Cipher is TLS_AES_128_GCM_SHA256/, r.stderr);
      assert.match(r.stdout, /ALPN protocol: acme-tls\/1/);
      assert.match(r.stdout, new RegExp(`subject=CN\\s*=\\s*${NAME}`));
      // The certificate sent is the challenge one: openssl names its critical acmeIdentifier.
      assert.match(r.stderr + r.stdout, /unhandled critical extension/);
      const sent = certPem.replace(/\s+/g, "");
      assert.ok(r.stdout.replace(/\s+/g, "").includes(sent.slice(27, -25)));
      await until(() => results.length > before, "the handshake's outcome");
      assert.equal(results[before].ok, true, JSON.stringify(results[before]));
    });
  }
});

describe("answerHandshake refusals (the client is scripted)", () => {
  let identity: Identity;
  before(async () => ({ identity } = await challengeIdentity()));

  /** Starts an answer on a paused client whose hello is `hello`; collects the outcome. */
  function start(hello: Uint8Array, timeoutMs = 5000) {
    const client = new FakeConn({ name: "client" });
    client.pause();
    const out: { r: AnswerResult | null } = { r: null };
    answerHandshake(client, hello, identity, "acme-tls/1", timeoutMs, (r) => {
      out.r = r;
      wake();
    });
    return { client, out };
  }

  /** Resolves once the server's flight (ServerHello onwards) has been written. */
  async function flight(client: FakeConn): Promise<void> {
    await until(() => client.writes.length > 0, "the server's flight");
  }

  test("a TLS 1.2-only client gets handshake_failure and the reason", () => {
    const hello = inRecord(helloMessage({ versions: [0x0303], suites: [0xc02f] }));
    const { client, out } = start(hello);
    assert.deepEqual(client.writes, [TLS_ALERT_HANDSHAKE_FAILURE]);
    assert.deepEqual(out.r, {
      ok: false,
      error: "ClientHello: TLS 1.3 not offered in supported_versions",
      sent: 7,
    });
    assert.equal(client.endCalls, 1);
  });

  test("the paused client is resumed, and the flight is ServerHello, ChangeCipherSpec, one record", async () => {
    const { client } = start(fixture("curl-openssl3.bin"));
    assert.equal(client.paused, false);
    await flight(client);
    const w = client.writes[0];
    assert.deepEqual(w.subarray(0, 3), Uint8Array.of(22, 3, 3));
    const sh = 5 + ((w[3] << 8) | w[4]);
    assert.equal(w[5], 2, "ServerHello");
    assert.deepEqual(w.subarray(sh, sh + 6), Uint8Array.of(20, 3, 3, 0, 1, 1));
    assert.deepEqual(w.subarray(sh + 6, sh + 9), Uint8Array.of(23, 3, 3));
    assert.equal(w.length, sh + 6 + 5 + ((w[sh + 9] << 8) | w[sh + 10]));
  });

  const refusals: [string, Uint8Array | null, RegExp][] = [
    ["a FIN before the client's Finished", null, /client closed before its Finished/],
    [
      "bytes that are not a record",
      new TextEncoder().encode("GET / HTTP/1.1\r\n"),
      /not a TLS record/,
    ],
    [
      "a plaintext alert",
      Uint8Array.of(21, 3, 3, 0, 2, 2, 42),
      /client sent alert 42 \(bad_certificate\)/,
    ],
    [
      "a record that does not decrypt (after a ChangeCipherSpec, which is skipped)",
      concat([20, 3, 3, 0, 1, 1], [23, 3, 3, 0, 53], new Uint8Array(53)),
      /record does not decrypt/,
    ],
  ];
  for (const [what, bytes, reason] of refusals) {
    test(`${what}: the outcome says so and the client is closed`, async () => {
      const { client, out } = start(fixture("openssl-s_client.bin"));
      await flight(client);
      if (bytes === null) client.pushEnd();
      else client.push(bytes);
      await until(() => out.r !== null, "the outcome");
      assert.equal(out.r!.ok, false);
      assert.match((out.r as { error: string }).error, reason);
      assert.ok(client.finSent);
      if (bytes !== null) client.pushEnd();
      await until(() => client.closeCalls > 0, "the close");
    });
  }

  test("a client that sends nothing more times out", async () => {
    const { client, out } = start(fixture("node20.bin"), 100);
    await until(() => out.r !== null, "the timeout");
    assert.deepEqual(out.r, {
      ok: false,
      error: "handshake not done within 100 ms",
      sent: client.writes[0].length,
    });
    client.pushEnd();
    await until(() => client.closeCalls > 0, "the close");
  });

  test("a client that resets: one outcome, closed", async () => {
    const { client, out } = start(fixture("deno.bin"));
    await flight(client);
    client.fail(new Error("connection reset"));
    await until(() => out.r !== null, "the outcome");
    assert.match((out.r as { error: string }).error, /connection reset/);
    assert.equal(client.closeCalls, 1);
  });
});
