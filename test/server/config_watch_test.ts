/**
 * `run --watch` and `watch: true` end to end, on the runtime that runs the tests: the router
 * runs as a subprocess, the test changes its config file the ways it changes in the field, waits
 * for the reload event on stderr (no sleeps), and proves the new config with a real request.
 *
 * - A Kubernetes ConfigMap update exactly as the kubelet makes it: `switchyard.yaml ->
 *   ..data/switchyard.yaml`, `..data -> ..<timestamp>`; a new timestamped directory, a new
 *   `..data_tmp` symlink renamed over `..data`, the old directory deleted. Single process and
 *   `workers: 2` (where the supervisor alone watches).
 * - A symlink into another directory: an edit of its target.
 * - A plain file: an edit in place, an editor's write-and-rename, an invalid edit (logged, the old
 *   config keeps serving), and a rewrite with the same text (no reload).
 *
 * That no reload happened is shown without waiting for nothing: the next change's reload must
 * be the very next reload event.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { WATCH_DEBOUNCE_MS } from "../../src/server/config_watch.ts";
import { httpBackend, type HttpTestServer } from "../helpers/http_backends.ts";
import { routerCommand, RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** GET / on the router with `host`; resolves with the status and the backend's name (if any). */
function get(port: number, host: string): Promise<{ status: number; backend: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: "/", headers: { host }, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => {
          const b = res.headers["x-backend"];
          resolve({ status: res.statusCode!, backend: typeof b === "string" ? b : null });
        });
        res.on("error", reject);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${host} timed out`)));
    req.on("error", reject);
  });
}

/** The router's JSON events on stderr. */
function events(r: RouterProcess): Record<string, unknown>[] {
  return r.stderrLines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

const isReloadEvent = (e: Record<string, unknown>) =>
  e.msg === "reloaded" || String(e.msg).startsWith("reload failed");

/**
 * Runs `change`, then resolves with the first reload event after those already logged: the
 * reload it caused (any reload it should not have caused would come first and fail the test).
 */
async function reloadAfter(
  r: RouterProcess,
  change: () => void,
): Promise<Record<string, unknown>> {
  const before = events(r).filter(isReloadEvent).length;
  change();
  return await r.waitFor(() => events(r).filter(isReloadEvent)[before], "a reload event");
}

/** The config: an http listener routing a.test to A and, with `withB`, b.test to B. */
function config(a: HttpTestServer, b: HttpTestServer, withB: boolean, extra = ""): string {
  return `${extra}
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: a.test, to: a }
${withB ? "      - { host: b.test, to: b }" : ""}
backends:
  a: { servers: ["127.0.0.1:${a.port}"] }
${withB ? `  b: { servers: ["127.0.0.1:${b.port}"] }` : ""}
`;
}

/**
 * A ConfigMap volume as the kubelet lays it out, and its atomic update. The file the router
 * reads is `dir/switchyard.yaml`.
 */
class ConfigMapVolume {
  readonly dir = mkdtempSync(join(tmpdir(), "switchyard-configmap-"));
  #current = "";
  #n = 0;

  constructor(text: string) {
    this.#current = this.#writeVersion(text);
    symlinkSync(this.#current, join(this.dir, "..data"));
    symlinkSync("..data/switchyard.yaml", join(this.dir, "switchyard.yaml"));
  }

  get file(): string {
    return join(this.dir, "switchyard.yaml");
  }

  #writeVersion(text: string): string {
    const name = `..2026_12_03_10_00_0${this.#n++}.${1000 + this.#n}`;
    mkdirSync(join(this.dir, name));
    writeFileSync(join(this.dir, name, "switchyard.yaml"), text);
    return name;
  }

  /** The kubelet's update: new directory, `..data_tmp` renamed over `..data`, old one deleted. */
  update(text: string): void {
    const old = this.#current;
    this.#current = this.#writeVersion(text);
    symlinkSync(this.#current, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    rmSync(join(this.dir, old), { recursive: true });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts `run -c file ...args` on a file the test laid out itself. */
async function startOn(file: string, args: string[]): Promise<RouterProcess> {
  const [cmd, argv] = routerCommand(["run", "-c", file, ...args]);
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const r = new RouterProcess(child, file);
  await r.listening();
  return r;
}

describe(`config watch (router on ${runtimeName})`, () => {
  let a: HttpTestServer;
  let b: HttpTestServer;

  before(async () => {
    a = await httpBackend("A");
    b = await httpBackend("B");
  });

  after(async () => {
    await a?.close();
    await b?.close();
  });

  for (const workers of [1, 2]) {
    test(`run --watch: a ConfigMap update through the kubelet's symlink swap, workers: ${workers}`, async () => {
      const volume = new ConfigMapVolume(config(a, b, false, `workers: ${workers}`));
      const r = await startOn(volume.file, ["--watch"]);
      try {
        const port = r.port("web");
        assert.equal((await get(port, "b.test")).status, 503);

        const ev = await reloadAfter(
          r,
          () => volume.update(config(a, b, true, `workers: ${workers}`)),
        );
        assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
        assert.equal(ev.file, volume.file);
        assert.deepEqual(await get(port, "b.test"), { status: 200, backend: "B" });
        assert.deepEqual(await get(port, "a.test"), { status: 200, backend: "A" });

        // One watch and one change for the whole instance: the supervisor's, never a worker's.
        const all = events(r);
        const watching = all.filter((e) => e.msg === "watching the config file");
        assert.equal(watching.length, 1, JSON.stringify(watching));
        assert.equal(watching[0].worker, undefined);
        const changed = all.filter((e) => String(e.msg).startsWith("config file changed"));
        assert.equal(changed.length, 1, JSON.stringify(changed));
        assert.equal(changed[0].worker, undefined);

        // And again: the watch survives the deletion of the directory it first resolved to.
        const again = await reloadAfter(
          r,
          () => volume.update(config(a, b, false, `workers: ${workers}`)),
        );
        assert.equal(again.msg, "reloaded", JSON.stringify(again));
        assert.equal((await get(port, "b.test")).status, 503);
      } finally {
        assert.equal(await r.stop(), 0);
        volume.remove();
      }
    });
  }

  test("run --watch on a symlink into another directory: an edit of the target reloads", async () => {
    const real = mkdtempSync(join(tmpdir(), "switchyard-target-"));
    const link = mkdtempSync(join(tmpdir(), "switchyard-link-"));
    const target = join(real, "router.yaml");
    writeFileSync(target, config(a, b, false));
    symlinkSync(target, join(link, "switchyard.yaml"));
    const r = await startOn(join(link, "switchyard.yaml"), ["--watch"]);
    try {
      const watching = events(r).find((e) => e.msg === "watching the config file");
      assert.deepEqual(watching?.directories, [link, real]);
      const ev = await reloadAfter(r, () => writeFileSync(target, config(a, b, true)));
      assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
      assert.deepEqual(await get(r.port("web"), "b.test"), { status: 200, backend: "B" });
    } finally {
      assert.equal(await r.stop(), 0);
      rmSync(real, { recursive: true });
      rmSync(link, { recursive: true });
    }
  });

  test("watch: true on a plain file: edit in place, write-and-rename, invalid edit, same text", async () => {
    const r = await startRouter(config(a, b, false, "watch: true"));
    const file = r.configFile;
    try {
      const port = r.port("web");
      assert.equal((await get(port, "b.test")).status, 503);

      // In place: same inode, new text.
      let ev = await reloadAfter(r, () => writeFileSync(file, config(a, b, true, "watch: true")));
      assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
      assert.deepEqual(await get(port, "b.test"), { status: 200, backend: "B" });

      // An editor's save: a new file renamed over the old one (a new inode).
      ev = await reloadAfter(r, () => {
        writeFileSync(`${file}.swp`, config(a, b, false, "watch: true"));
        renameSync(`${file}.swp`, file);
      });
      assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
      assert.equal((await get(port, "b.test")).status, 503);

      // Invalid: logged with the problem's FILE:LINE:COL, and the old config keeps serving.
      ev = await reloadAfter(r, () => writeFileSync(file, config(a, b, false, "watch: maybe")));
      assert.equal(ev.msg, "reload failed: the old config keeps serving", JSON.stringify(ev));
      assert.deepEqual(ev.problems, [
        `${file}:1:8: watch: expected true or false, got "maybe"`,
      ]);
      assert.deepEqual(await get(port, "a.test"), { status: 200, backend: "A" });

      // The same text written again (and a file beside it) reloads nothing: the next reload
      // event is the one the edit after them makes. Proving that nothing happens takes a
      // quiet spell longer than the debounce; a machine too slow for it only weakens the proof.
      writeFileSync(file, config(a, b, false, "watch: maybe"));
      writeFileSync(join(file, "..", "other.txt"), "x");
      await new Promise((resolve) => setTimeout(resolve, 5 * WATCH_DEBOUNCE_MS));
      ev = await reloadAfter(r, () => writeFileSync(file, config(a, b, true, "watch: true")));
      assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
      assert.deepEqual(await get(port, "b.test"), { status: 200, backend: "B" });

      // `watch: false` in a reload turns the watch off (SIGHUP still reloads).
      ev = await reloadAfter(r, () => writeFileSync(file, config(a, b, true, "watch: false")));
      assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
      assert.ok(events(r).some((e) => e.msg === "config watch stopped"));
    } finally {
      assert.equal(await r.stop(), 0);
    }
  });
});
