/**
 * A real HAProxy (2.x, `haproxy -f CFG -db`) as a test peer, on a config written to a temp dir
 * and on ports picked here, so the PROXY protocol can be checked against the reference
 * implementation rather than against our own codec.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./clients.ts";

/** Where Debian's package installs HAProxy, else the first `haproxy` on PATH. */
export const HAPROXY_BIN: string = existsSync("/usr/sbin/haproxy")
  ? "/usr/sbin/haproxy"
  : "haproxy";

/** The global and defaults sections every test config starts with: short timeouts, no logs. */
const PREAMBLE = `global
  maxconn 256

defaults
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  timeout http-request 5s
`;

/** A running HAProxy. */
export class HaproxyProcess {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  /** Set when the process could not be started (e.g. ENOENT). */
  spawnError: Error | null = null;

  constructor(readonly child: ChildProcess, readonly dir: string, readonly configText: string) {
    this.exited = new Promise((resolve) => {
      child.on("exit", (code) => resolve(code));
      child.on("error", (err) => {
        this.spawnError = err;
        resolve(null);
      });
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding("utf8");
      stream.on("data", (s: string) => this.output.push(s));
    }
  }

  /** SIGTERM (HAProxy's hard stop), then wait for the exit; removes the temp dir. */
  async stop(): Promise<void> {
    if (
      this.spawnError === null && this.child.exitCode === null && this.child.signalCode === null
    ) {
      this.child.kill("SIGTERM");
    }
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves once `host:port` accepts a TCP connection (the probe is closed at once). */
function probe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => {
      s.destroy();
      resolve(false);
    });
  });
}

/**
 * Writes the preamble plus `sections` (frontends, backends, listens) to a temp file, starts
 * `haproxy -f FILE -db`, and resolves once it accepts connections: on a frontend of its own
 * that rejects every connection (so that no probe reaches a backend, or an `accept-proxy`
 * frontend without a header), then on each address in `listening`. HAProxy binds every
 * listener before it serves any. Rejects with HAProxy's output if it exits first or is not
 * listening within `timeoutMs`.
 */
export async function startHaproxy(
  sections: string,
  listening: { host: string; port: number }[] = [],
  timeoutMs = 10_000,
): Promise<HaproxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-haproxy-"));
  const file = join(dir, "haproxy.cfg");
  const ready = { host: "127.0.0.1", port: await freePort("127.0.0.1") };
  const text = `${PREAMBLE}
frontend switchyard_test_ready
  mode tcp
  bind ${ready.host}:${ready.port}
  tcp-request connection reject

${sections.trim()}
`;
  writeFileSync(file, text);
  const child = spawn(HAPROXY_BIN, ["-f", file, "-db"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const hp = new HaproxyProcess(child, dir, text);
  let exitedEarly = false;
  hp.exited.then(() => (exitedEarly = true));
  const deadline = Date.now() + timeoutMs;
  const fail = (why: string) =>
    new Error(`haproxy ${why}:\n${hp.output.join("")}\nconfig:\n${text}`);
  for (const { host, port } of [ready, ...listening]) {
    // Poll by connecting: HAProxy prints nothing when it is ready.
    while (true) {
      const ok = await Promise.race([probe(host, port), hp.exited.then(() => false)]);
      if (ok && !exitedEarly) break;
      if (exitedEarly) {
        await hp.stop();
        const why = hp.spawnError?.message ?? `exited (${child.exitCode})`;
        throw fail(`${why} before listening on ${host}:${port}`);
      }
      if (Date.now() > deadline) {
        await hp.stop();
        throw fail(`was not listening on ${host}:${port} within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return hp;
}
