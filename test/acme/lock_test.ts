/**
 * Lock files on real files in a temporary folder: one holder at a time, refresh and release
 * only while it is ours, takeover of an expired or abandoned lock by exactly one contender,
 * waiting for a release; and two processes racing for one lock many times, with holders that
 * "crash" (leave their lock to expire) among them.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { randomUUID } from "node:crypto";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, describe, test } from "node:test";
import { Lock, type LockHeld, tryLock, waitForUnlock } from "../../src/acme/lock.ts";
import { scriptCommand } from "../helpers/runtime.ts";

const ROOT = mkdtempSync(join(tmpdir(), "switchyard-acme-lock-"));
after(() => rmSync(ROOT, { recursive: true, force: true }));
const TTL = 60_000;

let folders = 0;
function storage(): string {
  return join(ROOT, `s${folders++}`);
}

function lockFile(s: string, name = "x"): string {
  return join(s, "locks", `${name}.lock`);
}

function take(r: Lock | LockHeld): Lock {
  assert.ok(r instanceof Lock, `held: ${JSON.stringify(r)}`);
  return r;
}

function held(r: Lock | LockHeld): LockHeld {
  assert.ok(!(r instanceof Lock), "took the lock");
  return r;
}

/** A lock file as another process would have written it, expiring at `expires`. */
function foreignLock(path: string, expires: Date, token = randomUUID()): string {
  const text = JSON.stringify({
    owner: "someone else",
    pid: 1,
    host: "elsewhere",
    token,
    expires: expires.toISOString(),
  });
  writeFileSync(path, text);
  return text;
}

const PAST = new Date(Date.now() - 1000);
const HOUR_AGO = (Date.now() - 3_600_000) / 1000;

describe("tryLock", () => {
  test("creates the lock file with who holds it; the next contender is told", async () => {
    const s = storage();
    const before = Date.now();
    const lock = take(await tryLock(s, "x", TTL, "order a.test"));
    assert.equal(lock.path, lockFile(s));
    assert.equal(statSync(join(s, "locks")).mode & 0o777, 0o700);
    const info = JSON.parse(readFileSync(lock.path, "utf8"));
    assert.equal(info.owner, "order a.test");
    assert.equal(info.pid, process.pid);
    assert.equal(info.host, hostname());
    assert.equal(new Date(info.expires).getTime(), lock.expires.getTime());
    assert.ok(lock.expires.getTime() >= before + TTL);

    const other = held(await tryLock(s, "x", TTL, "order a.test again"));
    assert.deepEqual(other.holder, {
      owner: "order a.test",
      pid: process.pid,
      host: hostname(),
      expires: lock.expires,
    });
    // Another name is another lock.
    take(await tryLock(s, "y", TTL, "order b.test"));
  });

  test("release frees it for the next; a second release does nothing", async () => {
    const s = storage();
    const lock = take(await tryLock(s, "x", TTL, "one"));
    assert.equal(await lock.release(), true);
    assert.deepEqual(readdirSync(join(s, "locks")), []);
    assert.equal(await lock.release(), false);
    const next = take(await tryLock(s, "x", TTL, "two"));
    assert.equal(await lock.release(), false);
    assert.ok(statSync(next.path).isFile());
  });

  test("refresh moves the expiry on while the lock is ours", async () => {
    const s = storage();
    const lock = take(await tryLock(s, "x", 1000, "one"));
    const first = lock.expires.getTime();
    assert.equal(await lock.refresh(TTL), true);
    assert.ok(lock.expires.getTime() >= first + TTL - 1000);
    const info = JSON.parse(readFileSync(lock.path, "utf8"));
    assert.equal(new Date(info.expires).getTime(), lock.expires.getTime());
    assert.ok(held(await tryLock(s, "x", TTL, "two")).holder);
    assert.deepEqual(readdirSync(join(s, "locks")), ["x.lock"]);
  });

  test("release and refresh leave someone else's lock alone", async () => {
    const s = storage();
    const lock = take(await tryLock(s, "x", TTL, "one"));
    // Taken over meanwhile (as if ours had expired): the file is now another holder's.
    const theirs = foreignLock(lock.path, new Date(Date.now() + TTL));
    assert.equal(await lock.release(), false);
    assert.equal(await lock.refresh(), false);
    assert.equal(readFileSync(lock.path, "utf8"), theirs);
  });

  test("an expired lock of ours is left for whoever takes it over", async () => {
    const s = storage();
    const lock = take(await tryLock(s, "x", TTL, "one"));
    const info = JSON.parse(readFileSync(lock.path, "utf8"));
    const expired = JSON.stringify({ ...info, expires: PAST.toISOString() });
    writeFileSync(lock.path, expired);
    assert.equal(await lock.refresh(), false);
    assert.equal(await lock.release(), false);
    assert.equal(readFileSync(lock.path, "utf8"), expired);
    take(await tryLock(s, "x", TTL, "two"));
  });

  test("an expired lock is taken over", async () => {
    const s = storage();
    mkdirSync(join(s, "locks"), { recursive: true });
    foreignLock(lockFile(s), PAST);
    const lock = take(await tryLock(s, "x", TTL, "mine"));
    assert.equal(JSON.parse(readFileSync(lock.path, "utf8")).owner, "mine");
    assert.deepEqual(readdirSync(join(s, "locks")), ["x.lock"]);
  });

  test("a file that is no lock holds for a ttl after its mtime, then is taken over", async () => {
    for (const text of ["", "garbage", '{"owner": "x"}', "[]", "null"]) {
      const s = storage();
      mkdirSync(join(s, "locks"), { recursive: true });
      writeFileSync(lockFile(s), text);
      assert.deepEqual(held(await tryLock(s, "x", TTL, "mine")), { held: true, holder: null });
      assert.equal(readFileSync(lockFile(s), "utf8"), text);
      utimesSync(lockFile(s), HOUR_AGO, HOUR_AGO);
      const lock = take(await tryLock(s, "x", TTL, "mine"));
      assert.equal(JSON.parse(readFileSync(lock.path, "utf8")).owner, "mine");
    }
  });

  test("of many contenders for one expired lock, exactly one wins", async () => {
    for (let round = 0; round < 50; round++) {
      const s = storage();
      mkdirSync(join(s, "locks"), { recursive: true });
      if (round % 2 === 0) foreignLock(lockFile(s), PAST);
      else {
        writeFileSync(lockFile(s), "");
        utimesSync(lockFile(s), HOUR_AGO, HOUR_AGO);
      }
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => tryLock(s, "x", TTL, `contender ${i}`)),
      );
      const winners = results.filter((r) => r instanceof Lock);
      assert.equal(winners.length, 1, `round ${round}`);
      const owner = JSON.parse(readFileSync(lockFile(s), "utf8")).owner;
      assert.equal(owner, (winners[0] as Lock).owner);
      assert.deepEqual(readdirSync(join(s, "locks")), ["x.lock"]);
    }
  });

  test("names and ttls that make no sense are refused by value", async () => {
    const s = storage();
    await assert.rejects(tryLock(s, "../x", TTL, "o"), /lock name "\.\.\/x" is not a plain/);
    await assert.rejects(tryLock(s, "", TTL, "o"), /lock name "" is not a plain file name/);
    await assert.rejects(tryLock(s, "x", 0, "o"), /positive number of ms, not 0/);
    await assert.rejects(tryLock(s, "x", NaN, "o"), /positive number of ms, not NaN/);
  });

  test("a storage that cannot hold locks is an error naming the folder", async () => {
    const s = storage();
    writeFileSync(s, "a file");
    await assert.rejects(tryLock(s, "x", TTL, "o"), /cannot create "[^"]*locks"/);
  });
});

/**
 * Starts `wait` and resolves once it has looked at the lock and decided to wait (it sets its
 * poll timer), so that what the test changes next happens while it waits.
 */
async function waiting(wait: () => Promise<void>): Promise<{ waited: Promise<void> }> {
  const realSetTimeout = globalThis.setTimeout;
  let polled!: () => void;
  const firstPoll = new Promise<void>((resolve) => polled = resolve);
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    polled();
    return realSetTimeout(fn, ms);
  }) as typeof setTimeout;
  try {
    const waited = wait();
    const first = await Promise.race([firstPoll.then(() => "poll"), waited.then(() => "done")]);
    assert.equal(first, "poll", "it did not wait");
    return { waited };
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
}

describe("waitForUnlock", () => {
  test("resolves at once when there is no lock, or it has expired", async () => {
    const s = storage();
    await waitForUnlock(s, "x", TTL, { pollMs: 60_000 });
    foreignLock(lockFile(s), PAST);
    await waitForUnlock(s, "x", TTL, { pollMs: 60_000 });
  });

  test("waits while the lock is held; resolves once the holder releases", async () => {
    const s = storage();
    const lock = take(await tryLock(s, "x", TTL, "one"));
    const { waited } = await waiting(() => waitForUnlock(s, "x", TTL, { pollMs: 5 }));
    assert.equal(await lock.release(), true);
    await waited;
  });

  test("waits while another contender breaks an expired lock", async () => {
    const s = storage();
    mkdirSync(join(s, "locks"), { recursive: true });
    const token = randomUUID();
    const text = foreignLock(lockFile(s), PAST, token);
    const claim = `${lockFile(s)}.break-t-${token}`;
    writeFileSync(claim, "");
    // tryLock leaves it to the one breaking it.
    const r = held(await tryLock(s, "x", TTL, "mine"));
    assert.equal(r.holder?.owner, "someone else");
    assert.equal(readFileSync(lockFile(s), "utf8"), text);

    const { waited } = await waiting(() => waitForUnlock(s, "x", TTL, { pollMs: 5 }));
    rmSync(lockFile(s));
    rmSync(claim);
    await waited;
  });

  test("a claim left by a crashed contender is stale after a while", async () => {
    const s = storage();
    mkdirSync(join(s, "locks"), { recursive: true });
    const token = randomUUID();
    foreignLock(lockFile(s), PAST, token);
    const claim = `${lockFile(s)}.break-t-${token}`;
    writeFileSync(claim, "");
    utimesSync(claim, HOUR_AGO, HOUR_AGO);
    await waitForUnlock(s, "x", TTL, { pollMs: 60_000 });
    take(await tryLock(s, "x", TTL, "mine"));
    assert.deepEqual(readdirSync(join(s, "locks")), ["x.lock"]);
  });

  test("stops with the signal's reason", async () => {
    const s = storage();
    take(await tryLock(s, "x", TTL, "one"));
    const ctl = new AbortController();
    const { waited } = await waiting(() =>
      waitForUnlock(s, "x", TTL, { pollMs: 60_000, signal: ctl.signal })
    );
    ctl.abort(new Error("shutting down"));
    await assert.rejects(waited, /shutting down/);
    await assert.rejects(
      waitForUnlock(s, "x", TTL, { pollMs: 5, signal: ctl.signal }),
      /shutting down/,
    );
  });
});

/**
 * The child of the race test: `contenders` loops in one process, each taking the lock
 * `rounds` times. Inside, it creates a marker file exclusively (a second holder would find it
 * there) and adds one to a counter by read and write (a second holder would lose counts). Some
 * holders then leave the lock as a crashed one would: expired, or empty with an old mtime.
 */
const CHILD = `
import { open, readFile, rename, unlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { Lock, tryLock, waitForUnlock } from ${
  JSON.stringify(
    new URL("../../src/acme/lock.ts", import.meta.url).href,
  )
};

const [storage, rounds, contenders, tag] = process.argv.slice(2);
const TTL = 60_000;

async function acquire(owner) {
  for (;;) {
    const r = await tryLock(storage, "race", TTL, owner);
    if (r instanceof Lock) return r;
    await waitForUnlock(storage, "race", TTL, { pollMs: 1 });
  }
}

async function contender(owner) {
  for (let i = 0; i < Number(rounds); i++) {
    const lock = await acquire(owner);
    const marker = join(storage, "inside");
    try {
      await (await open(marker, "wx")).close();
    } catch (err) {
      console.log("two holders: " + owner + " round " + i + ": " + err.message);
      process.exit(1);
    }
    const counter = join(storage, "counter");
    const n = Number(await readFile(counter, "utf8"));
    await writeFile(counter, String(n + 1));
    await unlink(marker);
    const tmp = lock.path + "." + owner.replace(/ /g, "-");
    if (i % 5 === 1) {
      const info = JSON.parse(await readFile(lock.path, "utf8"));
      await writeFile(tmp, JSON.stringify({ ...info, expires: new Date(0).toISOString() }));
      await rename(tmp, lock.path);
    } else if (i % 5 === 3) {
      await writeFile(tmp, "");
      await utimes(tmp, 1, 1);
      await rename(tmp, lock.path);
    } else if (!(await lock.release())) {
      console.log("lost the lock: " + owner + " round " + i);
      process.exit(1);
    }
  }
}

await Promise.all(Array.from({ length: Number(contenders) }, (_, k) => contender(tag + " " + k)));
console.log("done " + tag);
`;

/** Runs the child script; resolves with its exit code and output. */
function runChild(
  script: string,
  args: string[],
): Promise<{ code: number | null; out: string }> {
  const [cmd, argv] = scriptCommand(script, args);
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (t: string) => out += t);
  child.stderr.setEncoding("utf8").on("data", (t: string) => out += t);
  // A deadlock would otherwise hang the run: give up long after a healthy run ends.
  const guard = setTimeout(() => child.kill("SIGKILL"), 100_000);
  return new Promise((resolve) =>
    child.once("close", (code) => {
      clearTimeout(guard);
      resolve({ code, out });
    })
  );
}

test("two processes racing for one lock many times: one holder at a time", async () => {
  const s = storage();
  mkdirSync(s);
  writeFileSync(join(s, "counter"), "0");
  const script = join(ROOT, "race_child.ts");
  writeFileSync(script, CHILD);
  const rounds = 100;
  const contenders = 2;
  const results = await Promise.all(
    ["p1", "p2"].map((tag) => runChild(script, [s, String(rounds), String(contenders), tag])),
  );
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, `child ${i + 1}: ${r.out}`);
    assert.match(r.out, new RegExp(`done p${i + 1}`));
  }
  assert.equal(readFileSync(join(s, "counter"), "utf8"), String(2 * contenders * rounds));
  // No break claim left behind; the last holder released or left an expired lock.
  assert.deepEqual(readdirSync(join(s, "locks")).filter((f) => f !== "race.lock"), []);
});
