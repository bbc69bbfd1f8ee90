/**
 * Failed orders against a real ACME server, and damaged storage: what the log says (the CA's
 * problem `type` and `detail`, `failures`, `retry_in_ms`, `serving`), the backoff kept on disk
 * so that a restarted router does not order again, the old certificate serving meanwhile,
 * damaged files named and left as they are, and storage that fails without stopping the router.
 */

import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  acmeConfig,
  acmeDirs,
  type Backend,
  event,
  logged,
  servedSerial,
  startBackend,
  storedFolder,
  storedFolders,
  ValidationFront,
} from "../helpers/acme.ts";
import { scrape } from "../helpers/admin.ts";
import { curlTls, exec, freePort } from "../helpers/clients.ts";
import { type Pebble, rateLimitingFront, startPebble } from "../helpers/pebble.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";

const FAILED = "certificate order failed";
const WAITS = "certificate order waits for its backoff";
const MINUTE = 60_000;

/** The first event that is an order's outcome or a backoff wait. */
function outcome(router: RouterProcess): Promise<Record<string, unknown>> {
  const msgs = [FAILED, WAITS, "certificate obtained", "certificate renewed"];
  return event(router, (e) => msgs.includes(String(e.msg)), "an order's outcome");
}

/** The backoff record stored for the certificate whose first name is `name`. */
function backoffRecord(storage: string, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(storedFolder(storage, name), "backoff.json"), "utf8"));
}

describe("acme failures", () => {
  let backend: Backend;

  before(async () => {
    backend = await startBackend();
  });

  after(() => backend?.close());

  test("Pebble validating on another port: the problem logged, backoff kept across a restart", async () => {
    const names = ["a.wrongport.test", "b.wrongport.test"];
    const [httpPort, tlsPort, elsewhere] = [await freePort(), await freePort(), await freePort()];
    // Pebble connects to a port nobody listens on.
    const pebble = await startPebble({ httpPort: elsewhere, tlsPort: await freePort() });
    const { storage } = await acmeDirs(pebble);
    const config = acmeConfig({
      pebble,
      storage,
      names,
      httpPort,
      tlsPort,
      backend: backend.port,
    });
    let router = await startRouter(config);
    try {
      const failed = await outcome(router);
      assert.equal(failed.msg, FAILED, JSON.stringify(failed));
      assert.equal(failed.level, "error");
      assert.deepEqual(failed.names, names);
      assert.equal(failed.type, "urn:ietf:params:acme:error:connection");
      assert.match(String(failed.detail), /refused/i);
      assert.equal(failed.failures, 1);
      assert.equal(failed.retry_in_ms, MINUTE);
      assert.equal(failed.serving, null);
      const stored = backoffRecord(storage, names[0]);
      assert.equal(stored.failures, 1);
      const nextAttempt = Date.parse(String(stored.next_attempt));
      assert.ok(
        Math.abs(nextAttempt - (Date.now() + MINUTE)) < 10_000,
        String(stored.next_attempt),
      );

      // A restart (a crash loop) does not order again before the backoff's time.
      await router.stop();
      router = await startRouter(config);
      const waits = await outcome(router);
      assert.equal(waits.msg, WAITS, JSON.stringify(waits));
      assert.equal(Date.parse(String(waits.retry_at)), nextAttempt);
      assert.match(String(waits.last_error), /connection/);
      assert.equal(logged(router, FAILED).length, 0);
      assert.deepEqual(backoffRecord(storage, names[0]), stored, "the record is left as it was");
    } finally {
      await router.stop();
      await pebble.close();
    }
  });

  test("every nonce rejected (PEBBLE_WFE_NONCEREJECT=100): badNonce, after acme-client's retries", async () => {
    const names = ["nonce.acme.test"];
    const [httpPort, tlsPort] = [await freePort(), await freePort()];
    const pebble = await startPebble({
      httpPort,
      tlsPort,
      env: { PEBBLE_WFE_NONCEREJECT: "100" },
    });
    const { storage } = await acmeDirs(pebble);
    const router = await startRouter(acmeConfig({
      pebble,
      storage,
      names,
      httpPort,
      tlsPort,
      backend: backend.port,
    }));
    try {
      const failed = await outcome(router);
      assert.equal(failed.msg, FAILED, JSON.stringify(failed));
      assert.equal(failed.type, "urn:ietf:params:acme:error:badNonce");
      assert.equal(failed.status, 400);
      assert.ok(String(failed.detail).length > 0);
      assert.equal(failed.failures, 1);
      assert.equal(failed.retry_in_ms, MINUTE);
      assert.equal(backoffRecord(storage, names[0]).failures, 1);
    } finally {
      await router.stop();
      await pebble.close();
    }
  });

  test("a 429 rateLimited answer: its Retry-After (an hour) is the backoff, counted as rate_limited", async () => {
    const names = ["limited.acme.test"];
    const [httpPort, tlsPort, admin] = [await freePort(), await freePort(), await freePort()];
    const pebble = await startPebble({ httpPort, tlsPort });
    const front = await rateLimitingFront(pebble);
    const { storage } = await acmeDirs(pebble);
    const caFile = join(storage, "..", "front-and-pebble.pem");
    writeFileSync(caFile, `${front.ca}\n${readFileSync(pebble.caFile, "utf8")}`);
    const router = await startRouter(acmeConfig({
      pebble: { directory: front.directory, caFile },
      storage,
      names,
      httpPort,
      tlsPort,
      backend: backend.port,
      admin,
    }));
    try {
      const failed = await outcome(router);
      assert.equal(failed.msg, FAILED, JSON.stringify(failed));
      assert.equal(failed.type, "urn:ietf:params:acme:error:rateLimited");
      assert.equal(failed.status, 429);
      assert.equal(failed.detail, "too many new orders recently");
      assert.equal(failed.retry_in_ms, 60 * MINUTE);
      assert.equal(front.orders(), 1);
      const m = await scrape(admin);
      assert.equal(m.n("switchyard_acme_orders_total", { result: "rate_limited" }), 1);
      assert.equal(m.n("switchyard_acme_orders_total", { result: "failed" }), 0);
    } finally {
      await router.stop();
      front.close();
      await pebble.close();
    }
  });

  test("a storage where no lock can be taken: an error naming it, the router serves on", async () => {
    const names = ["nolock.acme.test"];
    const [httpPort, tlsPort] = [await freePort(), await freePort()];
    const pebble = await startPebble({ httpPort, tlsPort });
    const { storage } = await acmeDirs(pebble);
    // A file where the locks folder should be.
    mkdirSync(storage, { mode: 0o700 });
    writeFileSync(join(storage, "locks"), "not a folder\n");
    const router = await startRouter(acmeConfig({
      pebble,
      storage,
      names,
      httpPort,
      tlsPort,
      backend: backend.port,
    }));
    try {
      const e = await event(router, (e) => e.level === "error", "the storage error");
      assert.equal(e.msg, "certificate check failed", JSON.stringify(e));
      assert.ok(String(e.error).includes(join(storage, "locks")), JSON.stringify(e));
      assert.equal(e.retry_in_ms, MINUTE);
      const plain = await exec("curl", ["-sS", `http://127.0.0.1:${httpPort}/`]);
      assert.equal(plain.stdout, `backend saw 127.0.0.1:${httpPort}\n`, plain.stderr);
      assert.equal(router.child.exitCode, null);
      assert.equal(logged(router, "certificate obtained").length, 0);
      assert.equal(logged(router, FAILED).length, 0, "nothing was ordered");
    } finally {
      await router.stop();
      await pebble.close();
    }
  });

  test("a renewal that fails leaves the old certificate serving, and says until when", async () => {
    const names = ["a.stale.test", "b.stale.test"];
    const [httpPort, tlsPort, validation] = [await freePort(), await freePort(), await freePort()];
    // Pebble validates through a front that the test turns against the router.
    const front = await ValidationFront.start(validation, httpPort);
    // Every order validates: Pebble reuses a valid authorization half of the time by default.
    const pebble = await startPebble({
      httpPort: validation,
      tlsPort,
      validitySeconds: 30,
      env: { PEBBLE_AUTHZREUSE: "0" },
    });
    const { storage, roots } = await acmeDirs(pebble);
    const router = await startRouter(acmeConfig({
      pebble,
      storage,
      names,
      httpPort,
      tlsPort,
      backend: backend.port,
      renewBefore: "25s",
    }));
    try {
      const obtained = await outcome(router);
      assert.equal(obtained.msg, "certificate obtained", JSON.stringify(obtained));
      const serial = await servedSerial(names[0], tlsPort, roots);
      front.refuse();
      const failed = await event(router, (e) => e.msg === FAILED, "the renewal to fail");
      assert.equal(failed.type, "urn:ietf:params:acme:error:unauthorized");
      assert.equal(failed.serving, obtained.not_after);
      assert.equal(failed.failures, 1);
      assert.equal(failed.retry_in_ms, MINUTE);
      assert.equal(logged(router, "certificate renewed").length, 0);
      // Still the old certificate, for both names.
      assert.equal(await servedSerial(names[0], tlsPort, roots), serial);
      for (const name of names) {
        const r = await curlTls(name, tlsPort, roots);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `backend saw ${name}:${tlsPort}\n`);
      }
      assert.deepEqual(storedFolders(storage, names[0]), ["1"]);
    } finally {
      await router.stop();
      await front.close();
      await pebble.close();
    }
  });
});

describe("acme: damaged files in storage", () => {
  const names = ["a.damaged.test", "b.damaged.test"];
  let pebble: Pebble;
  let backend: Backend;
  let storage: string;
  let roots: string;
  let config: string;
  let httpPort: number;
  let tlsPort: number;

  /** Runs `f` on a router started on `config`, and stops it whatever happens. */
  async function withRouter(f: (router: RouterProcess) => Promise<void>): Promise<void> {
    const router = await startRouter(config);
    try {
      await f(router);
    } finally {
      await router.stop();
    }
  }

  before(async () => {
    backend = await startBackend();
    [httpPort, tlsPort] = [await freePort(), await freePort()];
    pebble = await startPebble({ httpPort, tlsPort });
    ({ storage, roots } = await acmeDirs(pebble));
    config = acmeConfig({ pebble, storage, names, httpPort, tlsPort, backend: backend.port });
    await withRouter(async (router) => {
      assert.equal((await outcome(router)).msg, "certificate obtained");
    });
  });

  after(async () => {
    backend?.close();
    await pebble?.close();
  });

  /** Every file of stored folder `n`, by name, as bytes. */
  function snapshot(n: string): Record<string, string> {
    const folder = storedFolder(storage, names[0], n);
    const out: Record<string, string> = {};
    for (const f of ["cert.pem", "key.pem", "meta.json"]) {
      out[f] = readFileSync(join(folder, f), "latin1");
    }
    return out;
  }

  test("a truncated cert.pem: named, left as it is; a new certificate in the next folder", async () => {
    const certFile = join(storedFolder(storage, names[0], "1"), "cert.pem");
    truncateSync(certFile, Math.floor(readFileSync(certFile).length / 2));
    const before = snapshot("1");
    await withRouter(async (router) => {
      const damaged = await event(
        router,
        (e) => e.msg === "stored certificate not loaded",
        "the damaged file reported",
      );
      assert.equal(damaged.level, "error");
      assert.ok(String(damaged.error).includes(certFile), String(damaged.error));
      // The router serves everything else meanwhile.
      const plain = await exec("curl", ["-sS", `http://127.0.0.1:${httpPort}/`]);
      assert.equal(plain.stdout, `backend saw 127.0.0.1:${httpPort}\n`, plain.stderr);
      const obtained = await outcome(router);
      assert.equal(obtained.msg, "certificate obtained", JSON.stringify(obtained));
      assert.equal(obtained.folder, storedFolder(storage, names[0], "2"));
      const r = await curlTls(names[1], tlsPort, roots);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(logged(router, "stored certificate not loaded").length, 1, "reported once");
    });
    assert.deepEqual(storedFolders(storage, names[0]), ["1", "2"]);
    assert.deepEqual(snapshot("1"), before, "the damaged folder is left byte for byte");
  });

  test("a restart after that loads the new certificate and orders nothing", async () => {
    await withRouter(async (router) => {
      const first = await event(
        router,
        (e) => e.msg === "certificate loaded" || String(e.msg).startsWith("certificate o"),
        "the stored certificate",
      );
      assert.equal(first.msg, "certificate loaded", JSON.stringify(first));
      assert.equal(first.folder, storedFolder(storage, names[0], "2"));
      assert.equal(logged(router, "stored certificate not loaded").length, 0);
    });
  });

  test("garbage in key.pem and in account.key: named, the order fails and backs off, no loop", async () => {
    const keyFile = join(storedFolder(storage, names[0], "2"), "key.pem");
    const accountKey = join(storage, "acme", readdirSync(join(storage, "acme"))[0], "account.key");
    writeFileSync(keyFile, "not a key\n");
    writeFileSync(accountKey, "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n");
    const before = { folder: snapshot("2"), account: readFileSync(accountKey, "latin1") };
    await withRouter(async (router) => {
      const damaged = await event(
        router,
        (e) => e.msg === "stored certificate not loaded",
        "the damaged key reported",
      );
      assert.ok(String(damaged.error).includes(keyFile), String(damaged.error));
      const failed = await outcome(router);
      assert.equal(failed.msg, FAILED, JSON.stringify(failed));
      assert.ok(String(failed.detail).includes(accountKey), String(failed.detail));
      assert.equal(failed.retry_in_ms, MINUTE);
    });
    // Restarted, it waits for the backoff rather than order again.
    await withRouter(async (router) => {
      const waits = await outcome(router);
      assert.equal(waits.msg, WAITS, JSON.stringify(waits));
      assert.equal(logged(router, FAILED).length, 0);
    });
    assert.deepEqual(storedFolders(storage, names[0]), ["1", "2"]);
    assert.deepEqual(snapshot("2"), before.folder);
    assert.equal(readFileSync(accountKey, "latin1"), before.account);
  });
});
