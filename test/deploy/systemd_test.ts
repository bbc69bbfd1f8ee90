/**
 * deploy/systemd: the unit and its transparent-mode drop-in, exactly as shipped.
 *
 * - `systemd-analyze verify` (Debian `systemd`) passes with no message at all (it exits 0 on
 *   unknown keys and bad values, which it only prints), in a root of its own (`--root`) that
 *   holds the unit at /etc/systemd/system, the host's unit library, the unit's ExecReload
 *   program and an executable /usr/local/bin/switchyard: so the unit is verified unchanged, with
 *   no systemd running (CI runs in a container) and nothing installed on the host.
 * - The router runs under the unit's sandbox as far as it can be rebuilt without systemd as
 *   PID 1: the unit's ExecStart command line, unchanged, in a private mount namespace where /
 *   is read-only (ProtectSystem=strict), /tmp and /home are empty (PrivateTmp, ProtectHome),
 *   /etc/switchyard holds the config (ConfigurationDirectory) and /var/lib/switchyard is the
 *   one writable folder, owned by the service's user with StateDirectoryMode
 *   (StateDirectory, the ACME storage); as a non-root uid from DynamicUser's range, with only
 *   the unit's ambient capabilities, no_new_privs, its UMask, WorkingDirectory and LimitNOFILE
 *   (capped at the container's hard limit). It binds a port below 1024, answers through it,
 *   reloads on the unit's ExecReload command and stops with exit 0 on KillSignal. Without the
 *   ambient capability the same start fails: that is what the capability is for. Not rebuilt
 *   here: the seccomp filter (SystemCallFilter, RestrictAddressFamilies, ...) and the other
 *   Protect* options, which need systemd itself.
 *
 * /usr/local/bin/switchyard is a script that runs src/main.ts on Bun (what `compile:bun`
 * builds into the single executable), so the test needs no build. Root only (mount namespaces,
 * setpriv); skipped with the reason otherwise.
 */

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { httpBackend, type HttpTestServer } from "../helpers/http_backends.ts";
import { RouterProcess } from "../helpers/router.ts";
import { run } from "../helpers/chroot.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const UNIT = join(ROOT, "deploy/systemd/switchyard.service");
const DROP_IN = join(ROOT, "deploy/systemd/transparent.conf");
/** The first uid DynamicUser hands out. */
const DYNAMIC_UID = 61184;
const BUN = join(ROOT, "node_modules/.bin/bun");
/** Where the sandbox binds this checkout (outside /tmp, /home and /root, which it hides). */
const SRC = "/mnt/switchyard-src";

/** A unit file's [Service] settings: every value of each key, in order. */
function serviceSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.startsWith("[")) {
      section = line;
      continue;
    }
    if (section !== "[Service]") continue;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

/** The one value of `key`; fails the test when it is absent or repeated. */
function one(settings: Map<string, string[]>, key: string): string {
  const v = settings.get(key);
  assert.ok(v !== undefined && v.length === 1, `the unit sets ${key} once (got ${v})`);
  return v[0];
}

const has = (cmd: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/** Writes an executable /usr/local/bin/switchyard stand-in under `dir`. */
function launcher(dir: string, root = ROOT): string {
  const file = join(dir, "switchyard");
  const bun = join(root, relative(ROOT, BUN));
  writeFileSync(file, `#!/bin/sh\nexec ${bun} ${join(root, "src/main.ts")} "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A free TCP port below 1024 on 127.0.0.1 (this test runs as root, so it can look). */
async function freeLowPort(): Promise<number> {
  for (let port = 1023; port > 100; port--) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error("no free port below 1024");
}

function get(port: number, path: string): Promise<{ status: number; backend: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => {
        const b = res.headers["x-backend"];
        resolve({ status: res.statusCode!, backend: typeof b === "string" ? b : null });
      });
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
  });
}

const unitText = readFileSync(UNIT, "utf8");
const service = serviceSettings(unitText);

describe("deploy/systemd/switchyard.service", () => {
  test("systemd-analyze verify passes, with no message, for the unit and with the drop-in", async (t) => {
    if (!has("systemd-analyze")) {
      t.skip("systemd-analyze not installed (Debian package systemd; .ci/run installs it)");
      return;
    }
    const root = mkdtempSync(join(tmpdir(), "switchyard-unit-root-"));
    try {
      const units = join(root, "etc/systemd/system");
      mkdirSync(units, { recursive: true });
      copyFileSync(UNIT, join(units, "switchyard.service"));
      // The targets every service depends on (sysinit.target, ...), as the host has them.
      const library = "/usr/lib/systemd/system";
      cpSync(library, join(root, library), { recursive: true });
      // The programs the unit names must exist and be executable in that root.
      const execStart = one(service, "ExecStart").split(" ")[0];
      assert.equal(execStart, "/usr/local/bin/switchyard");
      mkdirSync(join(root, "usr/local/bin"), { recursive: true });
      launcher(join(root, "usr/local/bin"));
      const kill = one(service, "ExecReload").split(" ")[0];
      mkdirSync(join(root, dirname(kill)), { recursive: true });
      copyFileSync(kill, join(root, kill));
      chmodSync(join(root, kill), 0o755);

      const verify = () =>
        run("systemd-analyze", ["verify", `--root=${root}`, "switchyard.service"]);
      let r = await verify();
      assert.deepEqual(r, { code: 0, stdout: "", stderr: "" });

      const dropIns = join(units, "switchyard.service.d");
      mkdirSync(dropIns);
      copyFileSync(DROP_IN, join(dropIns, "transparent.conf"));
      r = await verify();
      assert.deepEqual(r, { code: 0, stdout: "", stderr: "" });

      // The check has teeth: a misspelled key is a message (and still exit 0).
      writeFileSync(join(dropIns, "typo.conf"), "[Service]\nProtectSytem=strict\n");
      r = await verify();
      assert.match(r.stderr, /Unknown key 'ProtectSytem'/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("the settings #20 asks for", () => {
    assert.equal(
      one(service, "ExecStart"),
      "/usr/local/bin/switchyard run -c /etc/switchyard/switchyard.yaml",
    );
    assert.equal(one(service, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert.equal(one(service, "Restart"), "on-failure");
    assert.equal(one(service, "AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    assert.equal(one(service, "CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert.equal(one(service, "DynamicUser"), "yes");
    assert.equal(one(service, "StateDirectory"), "switchyard");
    assert.equal(one(service, "ProtectSystem"), "strict");
    assert.equal(one(service, "NoNewPrivileges"), "yes");
    // JIT runtimes need W+X memory: see the unit's comment.
    assert.equal(service.has("MemoryDenyWriteExecute"), false);
    // Longer than the default shutdown_timeout (30 s), so the drain finishes before a SIGKILL.
    assert.match(one(service, "TimeoutStopSec"), /^(3[1-9]|[4-9][0-9])s$/);
    // CAP_NET_ADMIN only in the transparent-mode drop-in.
    assert.doesNotMatch(unitText.replace(/^#.*$/gm, ""), /CAP_NET_ADMIN/);
    const dropIn = serviceSettings(readFileSync(DROP_IN, "utf8"));
    assert.equal(one(dropIn, "AmbientCapabilities"), "CAP_NET_BIND_SERVICE CAP_NET_ADMIN");
  });

  describe("the router under the unit's sandbox, rebuilt without systemd", () => {
    let backend: HttpTestServer;
    /** Where the config and state folders live on the host; bound into the namespace. */
    let work: string;
    let createdEtc = false;
    const etc = "/etc/switchyard";

    before(async () => {
      backend = await httpBackend("app");
      work = mkdtempSync(join(tmpdir(), "switchyard-unit-run-"));
      chmodSync(work, 0o755);
    });

    after(async () => {
      await backend?.close();
      rmSync(work, { recursive: true, force: true });
      if (createdEtc) rmdirSync(etc);
    });

    /**
     * Starts the unit's ExecStart as the unit would run it (see the module docs); `caps`
     * false leaves the ambient capability out.
     */
    function startUnit(config: string, caps: boolean): RouterProcess {
      const state = join(work, `state-${caps}`);
      const conf = join(work, `etc-${caps}`);
      const bin = join(work, `bin-${caps}`);
      for (const d of [state, conf, bin]) mkdirSync(d);
      writeFileSync(join(conf, "switchyard.yaml"), config);
      chmodSync(join(conf, "switchyard.yaml"), 0o644);
      chmodSync(conf, 0o755);
      // The checkout may itself be below /tmp (a CI clone), which PrivateTmp hides: the
      // launcher runs it from where the namespace binds it instead.
      launcher(bin, SRC);
      chownSync(state, DYNAMIC_UID, DYNAMIC_UID);
      chmodSync(state, Number.parseInt(one(service, "StateDirectoryMode"), 8));
      // A mount point for the config folder; made here only when the host has none.
      if (!existsSync(etc)) {
        mkdirSync(etc);
        createdEtc = true;
      }
      const stateDir = `/var/lib/${one(service, "StateDirectory")}`;
      assert.equal(one(service, "WorkingDirectory"), stateDir);
      assert.equal(one(service, "ConfigurationDirectory"), "switchyard");
      const capSet = one(service, "AmbientCapabilities").toLowerCase().split(" ")
        .map((c) => `+${c.replace(/^cap_/, "")}`).join(",");
      const hard = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
      const nofile = Math.min(Number(one(service, "LimitNOFILE")), Number(hard));
      const script = [
        `mount --bind -o ro ${conf} ${etc}`,
        // StateDirectory: /var/lib/switchyard, the only writable path below a read-only /.
        "mount -t tmpfs -o mode=0755 tmpfs /var/lib",
        `mkdir ${stateDir}`,
        `mount --bind ${state} ${stateDir}`,
        `mount -t tmpfs -o mode=0755 tmpfs ${dirname(SRC)}`,
        `mkdir ${SRC}`,
        `mount --bind -o ro ${ROOT} ${SRC}`,
        // PrivateTmp, ProtectHome (read-only empty folders).
        // The executable the unit names (bound before /tmp, where it is, goes away).
        `mount --bind -o ro ${bin} /usr/local/bin`,
        "mount -t tmpfs tmpfs /tmp",
        "mount -t tmpfs -o ro tmpfs /home",
        "mount -t tmpfs -o ro tmpfs /root",
        // ProtectSystem=strict: everything else read-only.
        "mount -o remount,bind,ro /",
        `cd ${one(service, "WorkingDirectory")}`,
        `umask ${one(service, "UMask")}`,
        `exec prlimit --nofile=${nofile}:${nofile} setpriv --reuid=${DYNAMIC_UID}` +
        ` --regid=${DYNAMIC_UID} --clear-groups` +
        (caps ? ` --inh-caps=-all,${capSet} --ambient-caps=-all,${capSet}` : "") +
        ` --bounding-set=-all,${capSet}` +
        (one(service, "NoNewPrivileges") === "yes" ? " --no-new-privs" : "") +
        ` -- env -i HOME=/ PATH=/usr/local/bin:/usr/bin:/bin ${one(service, "ExecStart")}`,
      ].join(" && ");
      // unshare without --fork execs: the router keeps this child's pid (MAINPID).
      const child = spawn("unshare", ["--mount", "sh", "-c", script], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      return new RouterProcess(child, join(conf, "switchyard.yaml"));
    }

    test("a non-root user binds a low port, with the ACME storage in the StateDirectory; serves, reloads, stops", async (t) => {
      if (process.getuid?.() !== 0 || !has("unshare") || !has("setpriv") || !has("prlimit")) {
        t.skip("needs root, unshare, setpriv and prlimit (util-linux)");
        return;
      }
      const port = await freeLowPort();
      const config = (extra = "") => `
admin: { listen: "127.0.0.1:0" }
# Checked writable at load: only the StateDirectory is.
acme: { email: ops@example.com, directory: "https://127.0.0.1:1/directory", storage: /var/lib/switchyard }
listeners:
  web:
    bind: "127.0.0.1:${port}"
    protocol: http
    routes:
      - { path_prefix: /app, to: "127.0.0.1:${backend.port}" }
${extra}
`;
      // Without the ambient capability a port below 1024 is refused: that is what it is for.
      const denied = startUnit(config(), false);
      assert.notEqual(await denied.exited, 0);
      assert.ok(
        denied.stderrLines.some((l) => l.includes(`cannot bind 127.0.0.1:${port}`)),
        denied.stderrLines.join("\n"),
      );

      const r = startUnit(config(), true);
      try {
        await r.listening();
        assert.deepEqual(await get(port, "/app"), { status: 200, backend: "app" });
        // The process runs as the unit's user.
        const uid = readFileSync(`/proc/${r.child.pid}/status`, "utf8").match(/^Uid:\s+(\d+)/m);
        assert.equal(uid?.[1], String(DYNAMIC_UID));

        // ExecReload, run as systemd runs it (MAINPID substituted): a new route answers.
        writeFileSync(
          r.configFile,
          config(`      - { path_prefix: /new, to: "127.0.0.1:${backend.port}" }`),
        );
        const before = r.stderrLines.length;
        const [kill, ...args] = one(service, "ExecReload").replace("$MAINPID", String(r.child.pid))
          .split(" ");
        execFileSync(kill, args);
        await r.waitFor(
          () => r.stderrLines.slice(before).some((l) => l.includes('"msg":"reloaded"')),
          "the reloaded event",
        );
        assert.deepEqual(await get(port, "/new"), { status: 200, backend: "app" });
      } finally {
        process.kill(r.child.pid!, one(service, "KillSignal") as "SIGTERM");
        assert.equal(await r.exited, 0);
      }
    });
  });
});
