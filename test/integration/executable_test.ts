/**
 * The single executable and its scratch image. `compile:bun` (the deno.json task, run as it is
 * written, into a temp dir) must give one file that runs from a directory with no node_modules
 * anywhere above it, its embedded demo included. The image's rootfs (scripts/rootfs.sh, which the
 * Dockerfile runs) must hold the binary, the libraries ldd names, the CA bundle and three /etc
 * files, nothing else; chrooted into it as the Dockerfile's USER, with its ENTRYPOINT and CMD, the
 * router serves /healthz and /readyz, routes a TCP connection to a backend named in /etc/hosts,
 * verifies a TLS backend against the bundle, and exits 0 on SIGTERM. Prints the binary size and
 * the start-up time to /readyz.
 *
 * Docker itself is not needed: the rootfs is exactly what `COPY --from=build /rootfs/ /` puts in
 * the empty image, and the test checks that the Dockerfile still says so.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { namedSink, namedTlsServer, type TestServer, type TlsSeen } from "../helpers/backends.ts";
import { selfSigned } from "../helpers/certs.ts";
import {
  addRuntimeFiles,
  buildRootfs,
  chrootUnavailable,
  compileBun,
  compileBunTask,
  containerCommand,
  containerEnv,
  dockerfileStages,
  type ImageSpec,
  imageSpec,
  type Instruction,
  listTree,
  ROOT,
  run,
  type TreeEntry,
} from "../helpers/chroot.ts";
import { curlTls, freePort, RawClient } from "../helpers/clients.ts";
import { startPebble } from "../helpers/pebble.ts";
import { RouterProcess } from "../helpers/router.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** GET http://127.0.0.1:port/path, optionally with a Host header; a fresh connection each time. */
function get(
  port: number,
  path: string,
  host?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port, path, headers: host ? { host } : {}, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (s: string) => body += s);
        res.on("end", () => resolve({ status: res.statusCode!, body }));
        res.on("error", reject);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
  });
}

function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** The files `ldd` says `binary` loads (with the loader), as scripts/rootfs.sh should copy them. */
async function lddFiles(binary: string): Promise<string[]> {
  const r = await run("ldd", [binary]);
  assert.equal(r.code, 0, r.stderr);
  const files: string[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
    if (m) files.push(m[1]);
  }
  return files;
}

/** A named field of /proc/PID/status, e.g. "Uid" → "65532\t65532\t65532\t65532". */
function procStatus(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) =>
    l.startsWith(`${field}:`)
  );
  return line?.slice(field.length + 1).trim() ?? "";
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---------------------------------------------------------------------------------------------

describe("the single executable (bun build --compile) and its scratch image", () => {
  let work: string;
  let binary: string;
  let rootfs: string;
  /** The rootfs as scripts/rootfs.sh left it, before any run added runtime files. */
  let built: TreeEntry[];
  let stages: Instruction[][];
  let spec: ImageSpec;
  /** The config file inside the rootfs: CMD's `-c`. */
  let configInRoot: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "switchyard-exe-"));
    binary = join(work, "switchyard");
    await compileBun(binary);
    rootfs = join(work, "rootfs");
    await buildRootfs(binary, rootfs);
    built = listTree(rootfs);
    stages = dockerfileStages();
    spec = imageSpec(stages);
    const c = spec.cmd.indexOf("-c");
    assert.ok(c >= 0 && spec.cmd[c + 1]?.startsWith("/"), `CMD gives -c /path: ${spec.cmd}`);
    configInRoot = join(rootfs, spec.cmd[c + 1]);
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Writes `yaml` where CMD reads it and starts ENTRYPOINT + CMD in the rootfs. */
  async function startInRootfs(yaml: string): Promise<RouterProcess> {
    writeFileSync(configInRoot, yaml);
    chmodSync(configInRoot, 0o644);
    const [cmd, args] = containerCommand(rootfs, spec, [...spec.entrypoint, ...spec.cmd]);
    const child = spawn(cmd, args, { env: containerEnv(spec), stdio: ["ignore", "pipe", "pipe"] });
    const r = new RouterProcess(child, configInRoot);
    await r.listening();
    return r;
  }

  test("compile:bun gives one file that runs from a directory with no node_modules", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-bin-"));
    try {
      const exe = join(dir, "switchyard");
      copyFileSync(binary, exe);
      chmodSync(exe, 0o755);
      for (let d = dir;; d = dirname(d)) {
        assert.ok(!existsSync(join(d, "node_modules")), `no node_modules in ${d}`);
        if (d === dirname(d)) break;
      }
      const env = { PATH: "/usr/bin:/bin" };
      const v = await run("./switchyard", ["version"], { cwd: dir, env });
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /^switchyard \S+ \(bun \d+\.\d+\.\d+\)\n$/);
      // The YAML parser and the config model are inside too.
      const c = await run("./switchyard", ["check", "-c", join(ROOT, "routes/example.yaml")], {
        cwd: dir,
        env,
      });
      assert.equal(c.code, 0, c.stdout + c.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the binary's demo serves its embedded config and upstreams, from a bare directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-demo-"));
    try {
      copyFileSync(binary, join(dir, "switchyard"));
      chmodSync(join(dir, "switchyard"), 0o755);
      const child = spawn("./switchyard", ["demo"], {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let err = "";
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on("data", (b) => {
          err += b;
          if (err.includes("curl http://127.0.0.1:9901/metrics")) resolve();
        });
        child.on("exit", () => reject(new Error(`demo exited early:\n${err}`)));
      });
      const one = await get(8080, "/", "one.localhost");
      assert.match(one.body, /^Hello from upstream one/);
      assert.equal((await get(9901, "/readyz")).status, 200);
      process.kill(child.pid!, "SIGINT");
      assert.equal(await exited, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the binary obtains a certificate from an ACME CA (Pebble) over TLS-ALPN-01, from a bare directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-acme-bin-"));
    const backend = http.createServer((req, res) => res.end(`acme backend ${req.headers.host}\n`));
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble({ httpPort, tlsPort });
    let router: RouterProcess | null = null;
    try {
      copyFileSync(binary, join(dir, "switchyard"));
      chmodSync(join(dir, "switchyard"), 0o755);
      writeFileSync(
        join(dir, "switchyard.yaml"),
        `
acme:
  directory: ${pebble.directory}
  ca: ${pebble.caFile}
  challenges: [tls-alpn-01]
certificates:
  - acme: [bin.acme.test]
listeners:
  web: { bind: "127.0.0.1:${httpPort}", protocol: http, default: app }
  secure: { bind: "127.0.0.1:${tlsPort}", protocol: tls, terminate: web }
backends:
  app: { servers: ["127.0.0.1:${(backend.address() as { port: number }).port}"] }
`,
      );
      const child = spawn("./switchyard", ["run", "-c", "switchyard.yaml"], {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      router = new RouterProcess(child, join(dir, "switchyard.yaml"));
      await router.listening();
      await router.waitFor(
        () => router!.stderrLines.find((l) => l.includes('"msg":"certificate obtained"')),
        "the certificate",
        60_000,
      );
      const roots = join(dir, "pebble-roots.pem");
      writeFileSync(roots, await pebble.roots());
      const r = await curlTls("bin.acme.test", tlsPort, roots);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `acme backend bin.acme.test:${tlsPort}\n`);
      // storage defaults to ./switchyard-data beside the config file.
      assert.ok(existsSync(join(dir, "switchyard-data", "certificates")));
    } finally {
      await router?.stop();
      backend.close();
      await pebble.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the Dockerfile builds with compile:bun and scripts/rootfs.sh into an empty image", () => {
    assert.ok(stages.length >= 2, "a build stage and the final stage");
    const build = stages.find((s) => /\bAS\s+build\s*$/i.test(s[0].args));
    assert.ok(build, "a stage named build");
    const runs = build.filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n");
    assert.match(runs, /deno task compile:bun\b/, "the image's binary is the compile:bun task's");
    assert.match(runs, /scripts\/rootfs\.sh \.\/switchyard \/rootfs\b/);
    assert.match(compileBunTask().join(" "), /--outfile switchyard\b/);
    // Everything the build stage copies from the context passes .dockerignore.
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) =>
      l.trim()
    );
    for (const c of build.filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from"))) {
      for (const src of c.args.split(/\s+/).slice(0, -1)) {
        assert.ok(ignore.includes(`!${src}`), `.dockerignore lets ${src} in`);
        assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
      }
    }

    assert.equal(spec.from, "scratch");
    assert.deepEqual(
      spec.copies,
      ["--from=build /rootfs/ /"],
      "the final stage copies the rootfs only",
    );
    const allowed = ["FROM", "COPY", "USER", "WORKDIR", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL"];
    for (const k of spec.keywords) {
      assert.ok([...allowed, "ENTRYPOINT", "CMD", "ENV", "LABEL"].includes(k), `final stage: ${k}`);
    }
    assert.notEqual(spec.uid, 0, "the image does not run as root");
    assert.deepEqual(spec.entrypoint, ["/switchyard"]);
    assert.equal(spec.cmd[0], "run");
    for (const p of [80, 443, 9901]) assert.ok(spec.expose.includes(p), `EXPOSE ${p}`);
    assert.ok(spec.healthcheck, "a HEALTHCHECK");
    assert.equal(spec.healthcheck[0], "/switchyard", "the HEALTHCHECK uses the binary itself");
    // The USER exists in the rootfs, and the WORKDIR is there.
    const passwd = readFileSync(join(rootfs, "etc/passwd"), "utf8");
    assert.match(passwd, new RegExp(`^\\w+:x:${spec.uid}:${spec.gid}:`, "m"));
    assert.ok(statSync(join(rootfs, spec.workdir)).isDirectory(), `WORKDIR ${spec.workdir}`);
  });

  test("the rootfs holds the binary, its libraries, the CA bundle and /etc files: nothing else", async () => {
    const libs = await lddFiles(binary);
    assert.ok(libs.some((l) => /\/ld-linux/.test(l)), `the loader is among ${libs}`);
    const files = [
      "/switchyard",
      ...libs,
      "/etc/ssl/certs/ca-certificates.crt",
      "/etc/passwd",
      "/etc/group",
      "/etc/nsswitch.conf",
    ].sort();
    const emptyDirs = ["/etc/switchyard"];
    assert.deepEqual(built.filter((e) => e.type === "file").map((e) => e.path).sort(), files);
    assert.deepEqual(built.filter((e) => e.type === "symlink"), [], "no symlinks");
    for (const d of built.filter((e) => e.type === "dir")) {
      const needed = emptyDirs.includes(d.path) || files.some((f) => f.startsWith(`${d.path}/`));
      assert.ok(needed, `directory ${d.path} holds something the router needs`);
      assert.equal(d.mode, 0o755, `${d.path} is 0755`);
    }
    const exe = built.find((e) => e.path === "/switchyard")!;
    assert.equal(exe.mode, 0o755);
    assert.equal(exe.size, statSync(binary).size);
    for (const f of built.filter((e) => e.type === "file")) {
      assert.ok((f.mode & 0o444) === 0o444, `${f.path} is readable by the image's user`);
      assert.equal(f.mode & 0o022, 0, `${f.path} is not writable by the image's user`);
    }
    const total = built.reduce((n, e) => n + (e.type === "file" ? e.size : 0), 0);
    console.log(
      `rootfs (${mib(total)}):\n` +
        built.map((e) =>
          `  ${e.type === "dir" ? "d" : "-"}${e.mode.toString(8)} ${
            String(e.type === "dir" ? "" : e.size).padStart(10)
          } ${e.path}`
        ).join("\n"),
    );
  });

  describe("chrooted into the rootfs as the image's user", () => {
    let sink: TestServer;
    let good: TestServer & { seen: TlsSeen[] };
    let bad: TestServer & { seen: TlsSeen[] };

    before(async () => {
      const unavailable = chrootUnavailable();
      if (unavailable) return;
      const goodCert = selfSigned(["good.test"]);
      const badCert = selfSigned(["bad.test"]);
      sink = await namedSink("sink");
      good = await namedTlsServer("good-backend", goodCert);
      bad = await namedTlsServer("bad-backend", badCert);
      // What an operator who trusts a private CA does: a bundle with it in, at the same path.
      appendFileSync(join(rootfs, "etc/ssl/certs/ca-certificates.crt"), `\n${goodCert.cert}`);
      addRuntimeFiles(rootfs, { "backend.test": "127.0.0.1" });
    });

    after(async () => {
      await sink?.close();
      await good?.close();
      await bad?.close();
    });

    test("serves /healthz and /readyz, routes TCP by name and TLS verified by the bundle, exits 0 on SIGTERM", async (t) => {
      const unavailable = chrootUnavailable();
      if (unavailable) return t.skip(unavailable);
      const admin = await freePort();
      const router = await startInRootfs(`
admin:
  listen: 127.0.0.1:${admin}
defaults:
  shutdown_timeout: 2s
listeners:
  tcp:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: sink
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: good.test, to: good }
      - { host: bad.test, to: bad }
backends:
  sink: { servers: ["backend.test:${sink.port}"] }
  good: { servers: ["backend.test:${good.port}"], tls: true }
  bad: { servers: ["backend.test:${bad.port}"], tls: true }
`);
      try {
        const pid = router.child.pid!;
        assert.match(procStatus(pid, "Uid"), new RegExp(`^(${spec.uid}\\s+){3}${spec.uid}$`));
        assert.match(procStatus(pid, "Gid"), new RegExp(`^(${spec.gid}\\s+){3}${spec.gid}$`));
        assert.equal(procStatus(pid, "Groups"), "", "no supplementary groups");
        assert.equal(readFileSync(`/proc/${pid}/root/switchyard`).length, statSync(binary).size);

        const healthz = await get(admin, "/healthz");
        assert.equal(healthz.status, 200, healthz.body);
        assert.equal((await get(admin, "/readyz")).status, 200);

        // TCP to a backend named in /etc/hosts: the sink names itself, then counts and hashes.
        const payload = new Uint8Array(256 * 1024).map((_, i) => (i * 7919) >>> 3);
        const c = await RawClient.connect(router.port("tcp"));
        await c.until(() => c.text.startsWith("sink\n"), "the sink's name");
        await c.write(payload);
        c.end();
        await c.until(() => c.ended, "the sink's report");
        assert.equal(c.text, `sink\n${payload.length} ${sha256(payload)}\n`);
        c.destroy();

        // TLS to the backend, verified against /etc/ssl/certs/ca-certificates.crt (ca: system).
        const ok = await get(router.port("web"), "/", "good.test");
        assert.equal(ok.status, 200, ok.body);
        assert.equal(ok.body, "good-backend\n");
        assert.equal(good.seen.at(-1)?.servername, "good.test");
        // A certificate the bundle does not vouch for is refused.
        const refused = await get(router.port("web"), "/", "bad.test");
        assert.equal(refused.status, 502);
        const rec = await router.waitForAccess(
          (x) => x.host === "bad.test" && x.status === 502,
          "the 502 log line",
        );
        assert.match(String(rec.reason), /TLS to backend/);
      } finally {
        assert.equal(await router.stop(), 0, router.stderrLines.join("\n"));
      }
      assert.ok(router.stderrLines.some((l) => l.includes('"msg":"stopped"')));
      // The mount namespace went with the process: no /proc left mounted in the rootfs.
      assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(rootfs));
    });

    test("HEALTHCHECK: the binary probes /healthz itself", async (t) => {
      const unavailable = chrootUnavailable();
      if (unavailable) return t.skip(unavailable);
      const help = await run(binary, ["--help"]);
      if (!/\bhealthcheck\b/.test(help.stdout)) {
        // Printed too: deno test reports a node:test t.skip() as "ok".
        console.log("skipped: the binary has no healthcheck command yet (src/main.ts)");
        return t.skip("the binary has no healthcheck command yet (src/main.ts)");
      }
      const admin = await freePort();
      const router = await startInRootfs(`
admin:
  listen: 127.0.0.1:${admin}
listeners:
  tcp: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:9" }
`);
      const [cmd, args] = containerCommand(rootfs, spec, spec.healthcheck!);
      try {
        const up = await run(cmd, args, { env: containerEnv(spec), timeoutMs: 10_000 });
        assert.equal(up.code, 0, up.stdout + up.stderr);
      } finally {
        assert.equal(await router.stop(), 0);
      }
      const down = await run(cmd, args, { env: containerEnv(spec), timeoutMs: 10_000 });
      assert.equal(down.code, 1, down.stdout + down.stderr);
    });

    test("start-up time to /readyz, memory and binary size", async (t) => {
      const unavailable = chrootUnavailable();
      if (unavailable) return t.skip(unavailable);
      const runs = 5;
      const ready: number[] = [];
      const listening: number[] = [];
      const rss: number[] = [];
      for (let i = 0; i < runs; i++) {
        const admin = await freePort();
        writeFileSync(
          configInRoot,
          `admin:\n  listen: 127.0.0.1:${admin}\nlisteners:\n  web: { bind: "127.0.0.1:0", protocol: http, default: "127.0.0.1:9" }\n  tcp: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:9" }\n`,
        );
        const [cmd, args] = containerCommand(rootfs, spec, [...spec.entrypoint, ...spec.cmd]);
        const t0 = performance.now();
        const child = spawn(cmd, args, {
          env: containerEnv(spec),
          stdio: ["ignore", "pipe", "pipe"],
        });
        const router = new RouterProcess(child, configInRoot);
        const listened = router.listening().then(() => performance.now() - t0);
        try {
          for (;;) {
            if (child.exitCode !== null) {
              assert.fail(`exited early:\n${router.stderrLines.join("\n")}`);
            }
            const r = await get(admin, "/readyz").catch(() => null);
            if (r?.status === 200) break;
            if (performance.now() - t0 > 10_000) assert.fail("not ready within 10 s");
            await new Promise((res) => setTimeout(res, 2));
          }
          ready.push(performance.now() - t0);
          listening.push(await listened);
          rss.push(Number(procStatus(child.pid!, "VmRSS").split(/\s+/)[0]) * 1024);
        } finally {
          assert.equal(await router.stop(), 0);
        }
      }
      const size = statSync(binary).size;
      const ms = (xs: number[]) =>
        `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${
          Math.max(...xs).toFixed(0)
        })`;
      console.log(
        [
          `binary: ${mib(size)} (${size} bytes)`,
          `start-up in the rootfs, spawn to first 200 from /readyz, ${runs} runs: ${ms(ready)}`,
          `spawn to the "listening" event: ${ms(listening)}`,
          `RSS once ready: ${mib(median(rss))} (median)`,
        ].join("\n"),
      );
      assert.ok(median(ready) < 5_000, "ready within 5 s");
    });
  });
});
