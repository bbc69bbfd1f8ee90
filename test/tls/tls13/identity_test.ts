import assert from "node:assert/strict";
import { createPublicKey, verify, X509Certificate } from "node:crypto";
import { test } from "node:test";
import acme from "acme-client";
import { derSignature, identityFromPem, signEcdsa } from "../../../src/tls/tls13/identity.ts";
import { concat, hex } from "../../helpers/sniff.ts";

test("r‖s becomes DER: leading zeros dropped, a zero added before a set sign bit", () => {
  const r = concat(new Uint8Array(31), [0x7f]);
  const s = concat([0x80], new Uint8Array(31).fill(1));
  assert.deepEqual(
    derSignature(concat(r, s)),
    concat([0x30, 3 + 35, 0x02, 1, 0x7f, 0x02, 33, 0], s),
  );
  // All zeros still encodes one byte.
  assert.deepEqual(derSignature(new Uint8Array(64)), hex("3006 020100 020100"));
});

test("an ACME challenge pair loads, and what it signs verifies with the certificate's key", async () => {
  const keyPem = (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
  const [, cert] = await acme.crypto.createAlpnCertificate(
    { identifier: { type: "dns", value: "a.test" } } as Parameters<
      typeof acme.crypto.createAlpnCertificate
    >[0],
    "token.thumbprint",
    keyPem,
  );
  const identity = await identityFromPem(cert.toString(), keyPem);
  const x509 = new X509Certificate(cert);
  assert.deepEqual(identity.der, new Uint8Array(x509.raw));
  const data = new TextEncoder().encode("TLS 1.3, server CertificateVerify");
  for (let i = 0; i < 20; i++) {
    const signature = await signEcdsa(identity.key, data);
    assert.equal(signature[0], 0x30);
    const key = createPublicKey(cert.toString());
    assert.ok(verify("sha256", data, { key, dsaEncoding: "der" }, signature));
  }
});

test("a key that is not a PKCS#8 P-256 key, or no certificate, is refused with what it was", async () => {
  const cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
  await assert.rejects(
    identityFromPem(cert, "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----"),
    /no "PRIVATE KEY" PEM block in "-----BEGIN EC PRIVATE KEY/,
  );
  await assert.rejects(identityFromPem("junk", "junk"), /no "CERTIFICATE" PEM block in "junk"/);
  const rsa = (await acme.crypto.createPrivateRsaKey(1024)).toString();
  await assert.rejects(identityFromPem(cert, rsa));
});
