/**
 * /status lists each certificate (names, source, file, not_after, next renewal, last error),
 * from a store as a single process or a supervisor passes it; without one it lists none.
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { statusBody } from "../../src/admin/app.ts";
import { renderMetrics } from "../../src/admin/metrics.ts";
import { parseConfig } from "../../src/config/load.ts";
import { Certificates } from "../../src/tls/certificates.ts";
import { EMPTY_SNAPSHOT, supervisedView } from "../../src/workers/snapshot.ts";
import { selfSigned } from "../helpers/certs.ts";

const { config } = parseConfig(
  `listeners:\n  t: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:9" }\n`,
  "<test>",
);
assert.ok(config !== null);
const head = { runtime: "test", started: new Date(0), readiness: "ready" as const };

describe("/status certificates", () => {
  test("file and ACME certificates, obtained or not, with their status", () => {
    const file = selfSigned(["file.test", "www.file.test"]);
    const acme = selfSigned(["app.test"]);
    const store = new Certificates({ event: () => {} });
    store.setFiles([{ cert: file.certFile, key: file.keyFile }]);
    store.put("app", { certPem: acme.cert, keyPem: acme.key });
    const renew = new Date("2030-01-01T00:00:00Z");
    store.setStatus("app", { nextRenewal: renew });
    store.setStatus("later", { names: ["later.test"], lastError: "connection refused" });
    store.acmeOrders.failed++;

    const view = supervisedView(config, [], EMPTY_SNAPSHOT, new Map(), { ok: 0, failed: 0 }, store);
    const body = statusBody(view, head) as { certificates: unknown[] };
    const notAfter = (pem: string) => new Date(new X509Certificate(pem).validTo).toISOString();
    assert.deepEqual(body.certificates, [
      {
        names: ["file.test", "www.file.test"],
        source: "file",
        file: file.certFile,
        not_after: notAfter(readFileSync(file.certFile, "utf8")),
        next_renewal: null,
        last_error: null,
      },
      {
        names: ["app.test"],
        source: "acme",
        file: null,
        not_after: notAfter(acme.cert),
        next_renewal: "2030-01-01T00:00:00.000Z",
        last_error: null,
      },
      {
        names: ["later.test"],
        source: "acme",
        file: null,
        not_after: null,
        next_renewal: null,
        last_error: "connection refused",
      },
    ]);
    const text = renderMetrics(view);
    assert.match(text, /\nswitchyard_certificate_expiry_seconds\{name="file.test"\} \d+\n/);
    assert.match(text, /\nswitchyard_certificate_expiry_seconds\{name="app.test"\} \d+\n/);
    assert.ok(!text.includes("later.test"), "no expiry for a certificate not obtained");
    assert.match(text, /\nswitchyard_acme_orders_total\{result="failed"\} 1\n/);
  });

  test("a supervisor without a store of its own lists none", () => {
    const view = supervisedView(config, [], EMPTY_SNAPSHOT, new Map(), { ok: 0, failed: 0 });
    assert.deepEqual((statusBody(view, head) as { certificates: unknown[] }).certificates, []);
  });
});
