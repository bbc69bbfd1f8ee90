/**
 * Certificates: selection by SNI (exact, one-label wildcard, first), ACME certificates put and
 * removed at runtime, setFiles keeping unchanged pairs, and the file poller reloading a renewed
 * pair, refusing a mismatched one (the old keeps serving) and following certbot's symlink swap.
 * Real certificate files, made with openssl in a temp folder; checks run through checkNow().
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { CertificateConfig } from "../../src/config/types.ts";
import { Certificates } from "../../src/tls/certificates.ts";
import { makePair } from "../helpers/certs.ts";

/** A fresh folder. */
function folder(): string {
  return mkdtempSync(join(tmpdir(), "switchyard-certificates-"));
}

/** A pair for `names` in a folder of its own. */
function pair(names: string[], days = 2): CertificateConfig {
  const dir = folder();
  const p = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  makePair(p.cert, p.key, names, days);
  return p;
}

/** PEM texts of a fresh pair, as the ACME manager would hold them. */
function pem(names: string[]): { certPem: string; keyPem: string } {
  const p = pair(names);
  return { certPem: readFileSync(p.cert, "utf8"), keyPem: readFileSync(p.key, "utf8") };
}

/** Replaces `link` by a symlink to `target` in one rename, as certbot does. */
function swapLink(link: string, target: string): void {
  const tmp = `${link}.new`;
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

class Events {
  readonly list: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  #waiters: (() => void)[] = [];
  event(level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}) {
    this.list.push({ level, msg, fields });
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  msgs(): string[] {
    return this.list.map((e) => e.msg);
  }
  /** Resolves at the first event named `msg` (logged already or to come). */
  next(msg: string): Promise<void> {
    return new Promise((resolve) => {
      const check = () =>
        this.list.some((e) => e.msg === msg) ? resolve() : this.#waiters.push(check);
      check();
    });
  }
}

describe("Certificates.select", () => {
  const a = pair(["a.test", "www.a.test"]);
  const wild = pair(["*.w.test"]);
  const wildA = pair(["*.a.test"]);
  const store = new Certificates(new Events());
  store.setFiles([a, wild, wildA]);
  const ctxA = store.select("a.test")!;
  const ctxWild = store.select("x.w.test")!;
  const ctxWildA = store.select("other.a.test")!;

  test("an exact name, then a wildcard, else the first certificate", () => {
    assert.ok(ctxA !== null && ctxWild !== null && ctxWildA !== null);
    assert.notEqual(ctxA, ctxWild);
    assert.notEqual(ctxWildA, ctxA);
    assert.equal(store.select("www.a.test"), ctxA, "an exact name beats the *.a.test wildcard");
    assert.equal(store.select("unknown.test"), ctxA, "an unknown name gets the first");
    assert.equal(store.select(null), ctxA, "no SNI gets the first");
  });

  test("a wildcard covers one label: not the bare domain, not two labels", () => {
    assert.equal(store.select("w.test"), ctxA);
    assert.equal(store.select("x.y.w.test"), ctxA);
  });

  test("an empty store has nothing, and says so", () => {
    const empty = new Certificates(new Events());
    assert.equal(empty.select("a.test"), null);
    assert.equal(empty.unavailable, "no certificate loaded to terminate with");
    assert.deepEqual(empty.list(), []);
  });
});

describe("Certificates.setFiles", () => {
  test("unchanged pairs keep their context; the order follows the config; removed pairs go", () => {
    const a = pair(["a.test"]);
    const b = pair(["b.test"]);
    const log = new Events();
    const store = new Certificates(log);
    store.setFiles([a, b]);
    const ctxA = store.select("a.test");
    const ctxB = store.select("b.test");
    store.setFiles([b, a]);
    assert.equal(store.select("a.test"), ctxA);
    assert.equal(store.select("b.test"), ctxB);
    assert.equal(store.select(null), ctxB, "b is first now");
    store.setFiles([b]);
    assert.equal(store.select("a.test"), ctxB);
    assert.deepEqual(store.list().map((c) => [c.names, c.source, c.file]), [
      [["b.test"], "file", b.cert],
    ]);
    assert.equal(log.list.length, 0, "nothing to say when pairs load");
  });

  test("a pair changed on disk loads again, logged; a bad one keeps the old serving", () => {
    const a = pair(["a.test"]);
    const log = new Events();
    const store = new Certificates(log);
    store.setFiles([a]);
    const before = store.select("a.test");
    makePair(a.cert, a.key, ["a.test", "new.a.test"], 30);
    store.setFiles([a]);
    const after = store.select("a.test");
    assert.notEqual(after, before);
    assert.equal(store.select("new.a.test"), after);
    assert.deepEqual(log.msgs(), ["certificate reloaded"]);
    // The key of another pair: refused, the renewed one stays.
    const other = pair(["other.test"]);
    execFileSync("cp", [other.key, a.key]);
    store.setFiles([a]);
    assert.equal(store.select("a.test"), after);
    assert.deepEqual(log.msgs(), [
      "certificate reloaded",
      "certificate not reloaded: the old one keeps serving",
    ]);
    assert.match(String(log.list[1].fields.error), /does not belong/);
    assert.match(String(store.list()[0].lastError), /does not belong/);
  });

  test("a pair that does not load is listed with its error and names none", () => {
    const dir = folder();
    const missing = { cert: join(dir, "none.pem"), key: join(dir, "none.key") };
    const log = new Events();
    const store = new Certificates(log);
    store.setFiles([missing]);
    assert.equal(store.select("a.test"), null);
    assert.deepEqual(log.msgs(), ["certificate not loaded"]);
    const [c] = store.list();
    assert.equal(c.notAfter, null);
    assert.match(String(c.lastError), /cannot read certificate/);
    assert.match(store.unavailable, /none\.pem: cannot read certificate/);
  });
});

describe("Certificates: ACME certificates at runtime", () => {
  test("put serves at once, put again replaces, remove stops serving", () => {
    const file = pair(["file.test"]);
    const store = new Certificates(new Events());
    store.setFiles([file]);
    const ctxFile = store.select("file.test");
    const first = store.put("app.test", { ...pem(["app.test", "www.app.test"]), source: "acme" });
    assert.deepEqual(first.names, ["app.test", "www.app.test"]);
    assert.equal(first.source, "acme");
    assert.equal(first.file, null);
    const ctx1 = store.select("www.app.test");
    assert.notEqual(ctx1, ctxFile);
    assert.equal(store.select("unknown.test"), ctxFile, "file certificates stay first");
    store.put("app.test", pem(["app.test", "www.app.test"]));
    const ctx2 = store.select("app.test");
    assert.notEqual(ctx2, ctx1, "the renewed certificate serves");
    assert.equal(store.list().length, 2);
    store.remove("app.test");
    assert.equal(store.select("app.test"), ctxFile);
    assert.equal(store.list().length, 1);
  });

  test("a file certificate wins a name it shares with an ACME one", () => {
    const file = pair(["same.test"]);
    const store = new Certificates(new Events());
    store.put("same", pem(["same.test"]));
    const acme = store.select("same.test");
    store.setFiles([file]);
    assert.notEqual(store.select("same.test"), acme);
    assert.deepEqual(store.list().map((c) => c.source), ["file", "acme"]);
  });

  test("a mismatched pair is refused and changes nothing", () => {
    const store = new Certificates(new Events());
    store.put("app", pem(["app.test"]));
    const before = store.select("app.test");
    const bad = { certPem: pem(["app.test"]).certPem, keyPem: pem(["x.test"]).keyPem };
    assert.throws(() => store.put("app", bad), /ACME certificate "app": .*does not belong/);
    assert.throws(() => store.put("app", { certPem: "junk", keyPem: bad.keyPem }), /not a PEM/);
    assert.equal(store.select("app.test"), before);
  });

  test("status before a certificate exists; the handshake failure says why", () => {
    const store = new Certificates(new Events());
    const renew = new Date("2030-01-01T00:00:00Z");
    store.setStatus("app", { names: ["app.test", "www.app.test"], nextRenewal: renew });
    assert.equal(store.select("app.test"), null);
    assert.equal(
      store.unavailable,
      "no certificate loaded to terminate with: app.test, www.app.test: not obtained from the ACME CA yet",
    );
    store.setStatus("app", { lastError: "urn:ietf:params:acme:error:rateLimited: too many" });
    assert.match(store.unavailable, /not obtained from the ACME CA yet \(urn:.*rateLimited/);
    assert.deepEqual(store.list(), [{
      names: ["app.test", "www.app.test"],
      source: "acme",
      file: null,
      notAfter: null,
      nextRenewal: renew,
      lastError: "urn:ietf:params:acme:error:rateLimited: too many",
    }]);
    const view = store.put("app", pem(["app.test", "www.app.test"]));
    assert.ok(view.notAfter !== null && view.notAfter.getTime() > Date.now());
    assert.equal(view.lastError, null, "a certificate clears the last error");
    assert.equal(view.nextRenewal, renew, "the renewal time is the manager's to change");
    assert.ok(store.select("app.test") !== null);
  });

  test("order counters start at zero for every result", () => {
    const store = new Certificates(new Events());
    store.acmeOrders.rate_limited++;
    assert.deepEqual(store.acmeOrders, { ok: 0, failed: 0, rate_limited: 1 });
  });
});

describe("Certificates: the file poller", () => {
  test("a renewed pair (files rewritten) is served after a check, and logged", async () => {
    const a = pair(["a.test"]);
    const log = new Events();
    const store = new Certificates(log);
    store.setFiles([a]);
    const before = store.select("a.test");
    await store.checkNow();
    assert.equal(store.select("a.test"), before, "unchanged files: nothing happens");
    makePair(a.cert, a.key, ["a.test", "b.test"], 30);
    await store.checkNow();
    assert.notEqual(store.select("a.test"), before);
    assert.equal(store.select("b.test"), store.select("a.test"));
    const ev = log.list.find((e) => e.msg === "certificate reloaded");
    assert.ok(ev !== undefined, JSON.stringify(log.list));
    assert.equal(ev.fields.file, a.cert);
    assert.deepEqual(ev.fields.names, ["a.test", "b.test"]);
    const notAfter = store.list()[0].notAfter!;
    assert.equal(ev.fields.not_after, notAfter.toISOString());
    assert.ok(notAfter.getTime() > Date.now() + 20 * 86400_000, "the 30-day certificate");
  });

  test("a mismatched pair is reported once it stays so, and the old one keeps serving", async () => {
    const a = pair(["a.test"]);
    const other = pair(["other.test"]);
    const log = new Events();
    const store = new Certificates(log);
    store.setFiles([a]);
    const before = store.select("a.test");
    execFileSync("cp", [other.key, a.key]);
    await store.checkNow();
    assert.equal(log.list.length, 0, "a pair caught halfway through a swap is looked at again");
    await store.checkNow();
    assert.deepEqual(log.msgs(), ["certificate not reloaded: the old one keeps serving"]);
    assert.equal(log.list[0].level, "warn");
    assert.equal(log.list[0].fields.file, a.cert);
    assert.match(String(log.list[0].fields.error), /does not belong to certificate/);
    assert.equal(store.select("a.test"), before);
    assert.match(String(store.list()[0].lastError), /does not belong/);
    await store.checkNow();
    assert.equal(log.list.length, 1, "reported once, not at every check");
    // Fixed: the good pair loads and the error clears.
    makePair(a.cert, a.key, ["a.test"]);
    await store.checkNow();
    assert.notEqual(store.select("a.test"), before);
    assert.equal(log.msgs().at(-1), "certificate reloaded");
    assert.equal(store.list()[0].lastError, null);
  });

  test("certbot's symlink swap, the certificate and the key one check apart", async () => {
    // live/ links into archive/, replaced by renames, as certbot renews.
    const dir = folder();
    mkdirSync(join(dir, "archive"));
    mkdirSync(join(dir, "live"));
    const archive = (f: string) => join(dir, "archive", f);
    makePair(archive("fullchain1.pem"), archive("privkey1.pem"), ["c.test"]);
    makePair(archive("fullchain2.pem"), archive("privkey2.pem"), ["c.test", "www.c.test"], 30);
    const live = { cert: join(dir, "live/fullchain.pem"), key: join(dir, "live/privkey.pem") };
    symlinkSync("../archive/fullchain1.pem", live.cert);
    symlinkSync("../archive/privkey1.pem", live.key);
    const log = new Events();
    const store = new Certificates(log);
    store.setFiles([live]);
    const before = store.select("c.test");
    swapLink(live.cert, "../archive/fullchain2.pem");
    await store.checkNow();
    assert.equal(store.select("c.test"), before, "the new certificate with the old key waits");
    swapLink(live.key, "../archive/privkey2.pem");
    await store.checkNow();
    assert.notEqual(store.select("c.test"), before);
    assert.ok(store.select("www.c.test") !== null);
    assert.deepEqual(log.msgs(), ["certificate reloaded"], "no error on the way");
    assert.equal(log.list[0].fields.file, live.cert);
  });

  test("a pair that never loaded loads once its files appear", async () => {
    const dir = folder();
    const p = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
    const log = new Events();
    const store = new Certificates(log);
    store.setFiles([p]);
    assert.equal(store.select("late.test"), null);
    makePair(p.cert, p.key, ["late.test"]);
    await store.checkNow();
    assert.ok(store.select("late.test") !== null);
    assert.deepEqual(log.msgs(), ["certificate not loaded", "certificate loaded"]);
  });

  test("started, it checks on its own every pollMs", async () => {
    const a = pair(["a.test"]);
    const log = new Events();
    const store = new Certificates(log, { pollMs: 10 });
    store.setFiles([a]);
    const before = store.select("a.test");
    store.start();
    try {
      makePair(a.cert, a.key, ["a.test"]);
      // The poller's timer is unref'd: this one keeps the test's event loop alive, and bounds it.
      let deadline: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        log.next("certificate reloaded"),
        new Promise((_, reject) => {
          deadline = setTimeout(() => reject(new Error("no reload within 10 s")), 10_000);
        }),
      ]);
      clearTimeout(deadline);
      assert.notEqual(store.select("a.test"), before);
    } finally {
      store.stop();
    }
  });
});
