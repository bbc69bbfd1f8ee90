/**
 * The ACME client against Pebble: an order answered over HTTP-01 by a plain node:http server,
 * an order whose challenge fails, and a CA that answers an order with 429 (Pebble behind a
 * small HTTPS front that rate-limits new orders), with the problem documents they give.
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { type ChallengeAnswers, newKey, order, type OrderRequest } from "../../src/acme/client.ts";
import { AcmeOrderError } from "../../src/acme/order_error.ts";
import { freePort } from "../helpers/clients.ts";
import { type Pebble, rateLimitingFront, startPebble } from "../helpers/pebble.ts";

/** HTTP-01 answers served by a node:http server on `port` (what Pebble connects to). */
async function httpAnswers(port: number): Promise<ChallengeAnswers & { close(): void }> {
  const tokens = new Map<string, string>();
  const server = http.createServer((req, res) => {
    const token = req.url?.split("/").pop() ?? "";
    const answer = tokens.get(token);
    res.statusCode = answer === undefined ? 404 : 200;
    res.end(answer ?? "");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    addHttp: (token, keyAuthorization) => {
      tokens.set(token, keyAuthorization);
      return Promise.resolve();
    },
    removeHttp: (token) => {
      tokens.delete(token);
      return Promise.resolve();
    },
    addAlpn: () => Promise.reject(new Error("not in this test")),
    removeAlpn: () => Promise.resolve(),
    close: () => server.close(),
  };
}

describe("acme client against Pebble", () => {
  let pebble: Pebble;
  let answers: Awaited<ReturnType<typeof httpAnswers>>;
  let base: Omit<OrderRequest, "names" | "accountKeyPem">;

  before(async () => {
    const httpPort = await freePort();
    pebble = await startPebble({ httpPort, tlsPort: await freePort() });
    answers = await httpAnswers(httpPort);
    base = {
      directory: pebble.directory,
      caPem: readFileSync(pebble.caFile, "utf8"),
      accountUrl: null,
      email: "ops@acme.test",
      challenges: ["http-01"],
    };
  });

  after(async () => {
    answers?.close();
    await pebble?.close();
  });

  test("an order over HTTP-01 gives a certificate for every name, and the account's URL", async () => {
    const names = ["one.acme.test", "two.acme.test"];
    const r = await order({ ...base, names, accountKeyPem: await newKey() }, answers);
    const leaf = new X509Certificate(r.certPem);
    assert.equal(leaf.subjectAltName, "DNS:one.acme.test, DNS:two.acme.test");
    assert.ok(leaf.checkPrivateKey((await import("node:crypto")).createPrivateKey(r.keyPem)));
    assert.match(r.accountUrl, /^https:\/\/127\.0\.0\.1:\d+\//);
  });

  test("a challenge nobody answers fails with the CA's problem type and detail", async () => {
    const silent: ChallengeAnswers = {
      addHttp: () => Promise.resolve(),
      removeHttp: () => Promise.resolve(),
      addAlpn: () => Promise.resolve(),
      removeAlpn: () => Promise.resolve(),
    };
    const err = await order(
      { ...base, names: ["nobody.acme.test"], accountKeyPem: await newKey() },
      silent,
    ).then(() => null, (e) => e);
    assert.ok(err instanceof AcmeOrderError, String(err));
    assert.match(err.problem.type ?? "", /^urn:ietf:params:acme:error:/);
    assert.ok(err.problem.detail.length > 0);
    assert.equal(err.rateLimited, false);
  });

  test("a 429 rateLimited answer keeps its type and Retry-After", async () => {
    const front = await rateLimitingFront(pebble);
    try {
      const err = await order({
        ...base,
        directory: front.directory,
        caPem: `${front.ca}\n${readFileSync(pebble.caFile, "utf8")}`,
        names: ["limited.acme.test"],
        accountKeyPem: await newKey(),
      }, answers).then(() => null, (e) => e);
      assert.ok(err instanceof AcmeOrderError, String(err));
      assert.equal(err.problem.status, 429, err.message);
      assert.equal(err.problem.type, "urn:ietf:params:acme:error:rateLimited");
      assert.equal(err.problem.detail, "too many new orders recently");
      assert.equal(err.problem.retryAfterMs, 3_600_000);
      assert.equal(err.rateLimited, true);
      assert.equal(front.orders(), 1, "acme-client must not retry the 429 itself");
    } finally {
      front.close();
    }
  });
});
