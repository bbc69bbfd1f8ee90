/**
 * The ACME state on disk, on real files in a temporary folder: round trips, file modes, whole
 * writes (no temporary file left, a concurrent reader sees an old or a new whole), damaged
 * files reported by name and left as they were, and a changed list of names as nothing stored.
 */

import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  accountLockName,
  certificateLockName,
  directoryKey,
  loadAccount,
  loadBackoff,
  loadCertificate,
  saveAccount,
  saveBackoff,
  saveCertificate,
  writeFileAtomic,
} from "../../src/acme/storage.ts";
import { selfSigned } from "../helpers/certs.ts";

const LE = "https://acme-v02.api.letsencrypt.org/directory";
const STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
const NAMES = ["a.test", "b.test"];
const ROOT = mkdtempSync(join(tmpdir(), "switchyard-acme-storage-"));
after(() => rmSync(ROOT, { recursive: true, force: true }));

let folders = 0;
/** A fresh storage folder (not created yet: the code under test creates it). */
function storage(): string {
  return join(ROOT, `s${folders++}`);
}

const PAIR = selfSigned(NAMES);
const OTHER = selfSigned(NAMES);
const ONE_NAME = selfSigned(["a.test"]);
const ACCOUNT_KEY = selfSigned(["account.test"]).key;

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Every path under `dir`, folders included. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

/** Every file under `dir` with its bytes, to show that loading changed nothing. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const path of walk(dir)) {
    if (statSync(path).isFile()) files.set(path, readFileSync(path, "latin1"));
  }
  return files;
}

/** Paths under `dir` that look like a temporary file or folder. */
function leftovers(dir: string): string[] {
  return walk(dir).filter((p) => p.includes(".tmp-"));
}

describe("directory names", () => {
  test("host, port and path, file-name safe; staging is not production", () => {
    assert.equal(directoryKey(LE), "acme-v02.api.letsencrypt.org-directory");
    assert.equal(directoryKey(STAGING), "acme-staging-v02.api.letsencrypt.org-directory");
    assert.equal(directoryKey("https://localhost:14000/dir"), "localhost_14000-dir");
    assert.equal(directoryKey("https://[::1]:14000/a/b%20c"), "___1__14000-a-b_20c");
  });

  test("a directory that is no URL, or a name that is no DNS name, is refused by value", () => {
    assert.throws(() => directoryKey("letsencrypt"), /ACME directory "letsencrypt" is not a URL/);
    assert.throws(
      () => certificateLockName(LE, ["../etc"]),
      /"\.\.\/etc" is not a lower-case DNS name/,
    );
    assert.throws(() => certificateLockName(LE, []), /at least one name/);
  });

  test("lock names are per directory and name the account apart from any host", () => {
    assert.equal(certificateLockName(LE, NAMES), "a.test@acme-v02.api.letsencrypt.org-directory");
    assert.equal(accountLockName(LE), "_account@acme-v02.api.letsencrypt.org-directory");
    assert.notEqual(accountLockName(LE), accountLockName(STAGING));
    // A long name is shortened with a hash, so the lock's file names stay short enough.
    const label = "x".repeat(63);
    const long = [label, label, label, "test"].join(".");
    const name = certificateLockName(LE, [long]);
    assert.equal(name.length, 197);
    assert.match(name, /^x{63}\.x{63}\.x{52}-[0-9a-f]{16}$/);
    assert.notEqual(name, certificateLockName(STAGING, [long]));
  });
});

describe("account", () => {
  test("missing, then the key alone, then registered; key 0600 and folders 0700", async () => {
    const s = storage();
    const missing = await loadAccount(s, LE);
    assert.ok("missing" in missing);
    assert.match(missing.reason, /no account key in ".*acme-v02\.api\.letsencrypt\.org-directory"/);

    await saveAccount(s, LE, { keyPem: ACCOUNT_KEY, url: null });
    assert.deepEqual(await loadAccount(s, LE), {
      ok: { keyPem: ACCOUNT_KEY, url: null, contact: [] },
    });
    const dir = join(s, "acme", "acme-v02.api.letsencrypt.org-directory");
    const created = JSON.parse(readFileSync(join(dir, "account.json"), "utf8")).created;

    const url = "https://acme-v02.api.letsencrypt.org/acme/acct/1";
    await saveAccount(s, LE, { keyPem: ACCOUNT_KEY, url, contact: ["mailto:ops@a.test"] });
    assert.deepEqual(await loadAccount(s, LE), {
      ok: { keyPem: ACCOUNT_KEY, url, contact: ["mailto:ops@a.test"] },
    });
    const json = JSON.parse(readFileSync(join(dir, "account.json"), "utf8"));
    assert.deepEqual(json, { directory: LE, url, contact: ["mailto:ops@a.test"], created });

    assert.equal(mode(join(dir, "account.key")), 0o600);
    for (const d of [s, join(s, "acme"), dir]) assert.equal(mode(d), 0o700, d);
    assert.deepEqual(leftovers(s), []);
  });

  test("a staging account is not the production account", async () => {
    const s = storage();
    await saveAccount(s, STAGING, { keyPem: ACCOUNT_KEY, url: null, contact: [] });
    assert.ok("missing" in await loadAccount(s, LE));
    assert.ok("ok" in await loadAccount(s, STAGING));
  });

  test("the key is never replaced by another", async () => {
    const s = storage();
    await saveAccount(s, LE, { keyPem: ACCOUNT_KEY, url: null, contact: [] });
    const before = snapshot(s);
    await assert.rejects(
      saveAccount(s, LE, { keyPem: PAIR.key, url: null, contact: [] }),
      /"[^"]*account\.key" holds another account key; it is never replaced/,
    );
    assert.deepEqual(snapshot(s), before);
    await assert.rejects(
      saveAccount(s, LE, { keyPem: "nonsense", url: null, contact: [] }),
      /"the account key to save" is not a PEM private key/,
    );
  });

  test("damaged files: an error naming the file, and nothing changed", async () => {
    const cases: [string, string, RegExp][] = [
      ["account.key", "-----BEGIN PRIVATE KEY-----\ngarbage", /"[^"]*account\.key" is not a PEM/],
      ["account.json", '{"url": "https://x', /"[^"]*account\.json" is not account data/],
      ["account.json", '{"url": 5, "contact": []}', /account\.json" is not account data: url/],
      ["account.json", '{"url": null}', /account\.json" is not account data: contact/],
    ];
    for (const [file, text, error] of cases) {
      const s = storage();
      await saveAccount(s, LE, { keyPem: ACCOUNT_KEY, url: "https://x/acct/1", contact: [] });
      writeFileSync(join(s, "acme", directoryKey(LE), file), text);
      const before = snapshot(s);
      const r = await loadAccount(s, LE);
      assert.ok("error" in r, file);
      assert.match(r.error, error);
      assert.deepEqual(snapshot(s), before);
    }
  });

  test("account.json whose key is gone is an error, not a new account", async () => {
    const s = storage();
    await saveAccount(s, LE, { keyPem: ACCOUNT_KEY, url: "https://x/acct/1", contact: [] });
    rmSync(join(s, "acme", directoryKey(LE), "account.key"));
    const r = await loadAccount(s, LE);
    assert.ok("error" in r);
    assert.match(r.error, /account\.json" is there but its key "[^"]*account\.key" is missing/);
  });
});

describe("certificates", () => {
  test("round trip: numbered folders, key 0600, folders 0700, the newest loads", async () => {
    const s = storage();
    assert.deepEqual(await loadCertificate(s, LE, NAMES), {
      missing: true,
      reason: `no certificate stored in "${join(s, "certificates", directoryKey(LE), "a.test")}"`,
    });
    const issued = Date.parse("2026-01-02T03:04:05.000Z");
    const saved = await saveCertificate(
      s,
      LE,
      NAMES,
      { certPem: PAIR.cert, keyPem: PAIR.key },
      issued,
    );
    const parent = join(s, "certificates", directoryKey(LE), "a.test");
    assert.equal(saved.folder, join(parent, "1"));
    const loaded = await loadCertificate(s, LE, NAMES);
    assert.ok("ok" in loaded);
    assert.deepEqual(loaded.ok, saved);
    assert.equal(loaded.ok.certPem, PAIR.cert);
    assert.equal(loaded.ok.keyPem, PAIR.key);
    assert.equal(loaded.ok.issued, issued);
    assert.ok(loaded.ok.notAfter - loaded.ok.notBefore >= 86_400_000);

    const meta = JSON.parse(readFileSync(join(parent, "1", "meta.json"), "utf8"));
    assert.deepEqual(meta, {
      names: NAMES,
      directory: LE,
      not_before: new Date(saved.notBefore).toISOString(),
      not_after: new Date(saved.notAfter).toISOString(),
      issued: "2026-01-02T03:04:05.000Z",
    });
    assert.equal(mode(join(parent, "1", "key.pem")), 0o600);
    for (
      const d of [s, join(s, "certificates"), join(s, "certificates", directoryKey(LE)), parent]
    ) {
      assert.equal(mode(d), 0o700, d);
    }
    assert.equal(mode(join(parent, "1")), 0o700);

    const first = snapshot(s);
    await saveCertificate(s, LE, NAMES, { certPem: OTHER.cert, keyPem: OTHER.key });
    const newest = await loadCertificate(s, LE, NAMES);
    assert.ok("ok" in newest);
    assert.equal(newest.ok.certPem, OTHER.cert);
    assert.equal(newest.ok.folder, join(parent, "2"));
    // The first stays as it was.
    for (const [path, bytes] of first) assert.equal(readFileSync(path, "latin1"), bytes, path);
    assert.deepEqual(leftovers(s), []);
  });

  test("names are compared as a set; other names mean nothing stored for these", async () => {
    const s = storage();
    await saveCertificate(s, LE, NAMES, { certPem: PAIR.cert, keyPem: PAIR.key });
    assert.ok("ok" in await loadCertificate(s, LE, ["a.test", "b.test"]));
    for (const names of [["a.test"], ["a.test", "b.test", "c.test"], ["a.test", "c.test"]]) {
      const r = await loadCertificate(s, LE, names);
      assert.ok("missing" in r, names.join());
      assert.match(r.reason, new RegExp(`is for a\\.test, b\\.test, not ${names.join(", ")}`));
    }
    // Another first name is another folder.
    assert.ok("missing" in await loadCertificate(s, LE, ["b.test", "a.test"]));
    // Another directory is another folder.
    assert.ok("missing" in await loadCertificate(s, STAGING, NAMES));
  });

  test("what does not serve is refused before anything is written", async () => {
    const s = storage();
    const cases: [{ certPem: string; keyPem: string }, RegExp][] = [
      [{ certPem: PAIR.cert, keyPem: OTHER.key }, /key "its key" does not belong to/],
      [{ certPem: "nonsense", keyPem: PAIR.key }, /"the certificate obtained" is not a PEM/],
      [{ certPem: PAIR.cert, keyPem: "nonsense" }, /"its key" is not a PEM private key/],
      [
        { certPem: ONE_NAME.cert, keyPem: ONE_NAME.key },
        /the certificate obtained is for a\.test, not a\.test, b\.test/,
      ],
    ];
    for (const [pems, error] of cases) {
      await assert.rejects(saveCertificate(s, LE, NAMES, pems), error);
    }
    assert.ok("missing" in await loadCertificate(s, LE, NAMES));
  });

  test("damaged files: an error naming the file, nothing changed; the next save goes beside", async () => {
    const half = PAIR.cert.slice(0, PAIR.cert.length / 2);
    const cases: [string, string | null, RegExp][] = [
      ["cert.pem", "garbage", /"[^"]*1\/cert\.pem" is not a PEM certificate chain/],
      ["cert.pem", half, /"[^"]*1\/cert\.pem" is not a PEM certificate chain/],
      ["cert.pem", PAIR.cert + half, /"[^"]*1\/cert\.pem" is not a PEM certificate chain/],
      ["key.pem", "garbage", /"[^"]*1\/key\.pem" is not a PEM private key/],
      [
        "key.pem",
        OTHER.key,
        /key "[^"]*1\/key\.pem" does not belong to certificate "[^"]*cert\.pem"/,
      ],
      ["meta.json", "{", /"[^"]*1\/meta\.json" is not certificate metadata/],
      ["meta.json", '{"issued": "never"}', /meta\.json" is not certificate metadata: issued/],
      ["key.pem", null, /"[^"]*1\/key\.pem" is missing/],
    ];
    for (const [file, text, error] of cases) {
      const s = storage();
      const saved = await saveCertificate(s, LE, NAMES, { certPem: PAIR.cert, keyPem: PAIR.key });
      const path = join(saved.folder, file);
      if (text === null) rmSync(path);
      else writeFileSync(path, text);
      const before = snapshot(s);
      const r = await loadCertificate(s, LE, NAMES);
      assert.ok("error" in r, `${file}: ${JSON.stringify(r).slice(0, 200)}`);
      assert.match(r.error, error);
      assert.deepEqual(snapshot(s), before);

      await saveCertificate(s, LE, NAMES, { certPem: OTHER.cert, keyPem: OTHER.key });
      assert.ok("ok" in await loadCertificate(s, LE, NAMES));
      for (const [p, bytes] of before) assert.equal(readFileSync(p, "latin1"), bytes, p);
    }
  });

  test("a folder left half-written by a crash is not a certificate", async () => {
    const s = storage();
    await saveCertificate(s, LE, NAMES, { certPem: PAIR.cert, keyPem: PAIR.key });
    const parent = join(s, "certificates", directoryKey(LE), "a.test");
    mkdirSync(join(parent, ".tmp-crashed"));
    writeFileSync(join(parent, ".tmp-crashed", "cert.pem"), OTHER.cert);
    const r = await loadCertificate(s, LE, NAMES);
    assert.ok("ok" in r);
    assert.equal(r.ok.certPem, PAIR.cert);
    const next = await saveCertificate(s, LE, NAMES, { certPem: OTHER.cert, keyPem: OTHER.key });
    assert.equal(next.folder, join(parent, "2"));
  });

  test("a reader during saves always gets a whole pair, old or new", async () => {
    const s = storage();
    const pairs = [PAIR, OTHER];
    await saveCertificate(s, LE, NAMES, { certPem: PAIR.cert, keyPem: PAIR.key });
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 20; i++) {
        const p = pairs[i % 2];
        await saveCertificate(s, LE, NAMES, { certPem: p.cert, keyPem: p.key });
      }
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const r = await loadCertificate(s, LE, NAMES);
      assert.ok("ok" in r, JSON.stringify(r));
      const p = pairs.find((x) => x.cert === r.ok.certPem);
      assert.ok(p);
      assert.equal(r.ok.keyPem, p.key);
      reads++;
    }
    await writer;
    assert.ok(reads > 0);
    const parent = join(s, "certificates", directoryKey(LE), "a.test");
    assert.equal(readdirSync(parent).length, 21);
    assert.deepEqual(leftovers(s), []);
  });

  test("two savers at once take the next numbers, neither overwrites", async () => {
    const s = storage();
    const saved = await Promise.all(
      Array.from({ length: 8 }, (_, i) => {
        const p = [PAIR, OTHER][i % 2];
        return saveCertificate(s, LE, NAMES, { certPem: p.cert, keyPem: p.key });
      }),
    );
    const folders = saved.map((c) => c.folder).sort();
    assert.equal(new Set(folders).size, 8);
    for (const c of saved) {
      assert.equal(readFileSync(join(c.folder, "cert.pem"), "utf8"), c.certPem);
      assert.equal(readFileSync(join(c.folder, "key.pem"), "utf8"), c.keyPem);
    }
  });
});

describe("backoff", () => {
  const failed = {
    failures: 2,
    nextAttempt: Date.parse("2026-01-02T03:04:05.000Z"),
    lastError: "429",
  };

  test("recorded after failures, cleared after a success, per names and directory", async () => {
    const s = storage();
    const none = await loadBackoff(s, LE, NAMES);
    assert.ok("missing" in none);
    assert.match(none.reason, /no failed order recorded in "[^"]*a\.test\/backoff\.json"/);
    await saveBackoff(s, LE, NAMES, failed);
    assert.deepEqual(await loadBackoff(s, LE, NAMES), { ok: failed });
    const path = join(s, "certificates", directoryKey(LE), "a.test", "backoff.json");
    assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), {
      names: NAMES,
      failures: 2,
      next_attempt: "2026-01-02T03:04:05.000Z",
      last_error: "429",
    });
    // A certificate saved beside it is not disturbed by it, nor it by the certificate.
    await saveCertificate(s, LE, NAMES, { certPem: PAIR.cert, keyPem: PAIR.key });
    assert.ok("ok" in await loadCertificate(s, LE, NAMES));
    assert.ok("missing" in await loadBackoff(s, STAGING, NAMES));
    const other = await loadBackoff(s, LE, ["a.test"]);
    assert.ok("missing" in other);
    assert.match(other.reason, /is for a\.test, b\.test, not a\.test$/);

    await saveBackoff(s, LE, NAMES, null);
    assert.ok("missing" in await loadBackoff(s, LE, NAMES));
    await saveBackoff(s, LE, NAMES, null);
    assert.deepEqual(leftovers(s), []);
  });

  test("a damaged record is an error naming the file, left as it was", async () => {
    const cases: [string, RegExp][] = [
      ["{", /record: .*JSON/i],
      ['{"names": "a.test"}', /names is not a list of strings/],
      ['{"names": [], "failures": 0}', /failures is not a positive whole number/],
      ['{"names": [], "failures": 1, "next_attempt": "soon"}', /next_attempt is not a time/],
      [
        '{"names": [], "failures": 1, "next_attempt": "2026-01-01T00:00:00Z"}',
        /last_error is not a string/,
      ],
    ];
    for (const [text, error] of cases) {
      const s = storage();
      await saveBackoff(s, LE, NAMES, failed);
      const path = join(s, "certificates", directoryKey(LE), "a.test", "backoff.json");
      writeFileSync(path, text);
      const r = await loadBackoff(s, LE, NAMES);
      assert.ok("error" in r, text);
      assert.match(r.error, /^"[^"]*backoff\.json" is not a backoff record: /);
      assert.match(r.error, error);
      assert.equal(readFileSync(path, "utf8"), text);
    }
  });
});

describe("writeFileAtomic", () => {
  test("sets the mode at creation and leaves no temporary file", async () => {
    const s = storage();
    const path = join(s, "deep", "secret");
    await writeFileAtomic(path, "one", 0o600);
    assert.equal(readFileSync(path, "utf8"), "one");
    assert.equal(mode(path), 0o600);
    assert.equal(mode(join(s, "deep")), 0o700);
    await writeFileAtomic(path, "two", 0o600);
    assert.equal(readFileSync(path, "utf8"), "two");
    assert.deepEqual(readdirSync(join(s, "deep")), ["secret"]);
  });

  test("a concurrent reader sees the old contents or the new, whole", async () => {
    const path = join(storage(), "big");
    const texts = ["a".repeat(1 << 20), "b".repeat(1 << 20)];
    await writeFileAtomic(path, texts[0], 0o600);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 30; i++) await writeFileAtomic(path, texts[i % 2], 0o600);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const text = readFileSync(path, "utf8");
      assert.ok(text === texts[0] || text === texts[1], `a read of ${text.length} chars`);
      reads++;
      await new Promise((r) => setImmediate(r));
    }
    await writer;
    assert.ok(reads > 0);
  });

  test("a failed write says which file and leaves nothing behind", async () => {
    const s = storage();
    mkdirSync(s);
    writeFileSync(join(s, "file"), "x");
    await assert.rejects(
      writeFileAtomic(join(s, "file", "under"), "y", 0o600),
      /cannot create "[^"]*file"/,
    );
    mkdirSync(join(s, "dir"));
    await assert.rejects(writeFileAtomic(join(s, "dir"), "y", 0o600), /cannot write "[^"]*dir"/);
    assert.deepEqual(readdirSync(s).sort(), ["dir", "file"]);
  });
});
