/**
 * Starts Switchyard as a subprocess under the runtime that runs the tests (deno test → Deno,
 * bun test → Bun), on a config written to a temp file, and reads its logs.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { scriptCommand } from "./runtime.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = join(ROOT, "src/main.ts");

/** The command line that runs src/main.ts under this runtime. */
export function routerCommand(args: string[]): [string, string[]] {
  return scriptCommand(MAIN, args);
}

/** A running router. */
export class RouterProcess {
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  /** Bound ports per listener, from the "listening" event. */
  readonly ports = new Map<string, number[]>();
  readonly exited: Promise<number | null>;
  #waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess, readonly configFile: string) {
    this.exited = new Promise((resolve) =>
      child.on("exit", (code) => {
        this.#wake();
        resolve(code);
      })
    );
    this.#lines(child.stdout!, this.stdoutLines);
    this.#lines(child.stderr!, this.stderrLines);
  }

  #lines(stream: NodeJS.ReadableStream, into: string[]): void {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (s: string) => {
      const parts = (rest + s).split("\n");
      rest = parts.pop()!;
      into.push(...parts);
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `pred` holds (re-checked on every output line and on exit). */
  waitFor<T>(
    pred: () => T | undefined | null | false,
    what: string,
    timeoutMs = 10_000,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; stderr:\n${this.stderrLines.join("\n")}`));
      }, timeoutMs);
      const check = () => {
        const v = pred();
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else if (this.child.exitCode !== null) {
          clearTimeout(timer);
          reject(
            new Error(
              `router exited (${this.child.exitCode}) waiting for ${what}:\n${
                this.stderrLines.join("\n")
              }`,
            ),
          );
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  /** Access log records parsed from stdout. */
  get access(): Record<string, unknown>[] {
    return this.stdoutLines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  }

  /**
   * Waits for an access record matching `pred`, among those from index `since` on. A client
   * address alone does not single out a connection: the kernel reuses an ephemeral port for
   * another destination (another listener) at once, so a test that matches on the client
   * passes `since` = `access.length` taken before it connected.
   */
  waitForAccess(
    pred: (r: Record<string, unknown>) => boolean,
    what: string,
    since = 0,
  ): Promise<Record<string, unknown>> {
    return this.waitFor(() => this.access.slice(since).find(pred), what).catch((e: Error) => {
      const last = this.access.slice(since).slice(-5).map((r) => JSON.stringify(r));
      throw new Error(`${e.message}\nthe last access records:\n${last.join("\n")}`);
    });
  }

  /** The first bound port of `listener`. */
  port(listener: string): number {
    const p = this.ports.get(listener);
    if (!p) throw new Error(`listener ${listener} not bound`);
    return p[0];
  }

  /** Waits for the "listening" event and records each listener's bound ports from it. */
  async listening(timeoutMs = 10_000): Promise<void> {
    const ev = await this.waitFor(
      () => {
        for (const l of this.stderrLines) {
          if (!l.startsWith("{")) continue;
          const e = JSON.parse(l);
          if (e.msg === "listening") return e as { listeners: string[] };
        }
      },
      "the listening event",
      timeoutMs,
    );
    for (const entry of ev.listeners) {
      const [name, addr] = entry.split("=");
      const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
      this.ports.set(name, [...(this.ports.get(name) ?? []), port]);
    }
  }

  /** SIGTERM, then wait for exit. */
  async stop(): Promise<number | null> {
    // process.kill, not child.kill: Deno's child_process then reports the signal instead of
    // the exit code the process actually chose.
    if (this.child.exitCode === null) process.kill(this.child.pid!, "SIGTERM");
    return await this.exited;
  }
}

/**
 * Writes `yaml` to a temp file and starts `run -c` on it, without waiting for anything (a test
 * that acts during the start-up); {@link startRouter} waits until it listens.
 * `prefix`: a command that runs the router, e.g. `["prlimit", "--nofile=128"]`.
 */
export function spawnRouter(
  yaml: string,
  extraArgs: string[] = [],
  prefix: string[] = [],
): RouterProcess {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-test-"));
  const file = join(dir, "switchyard.yaml");
  writeFileSync(file, yaml);
  const [runtime, args] = routerCommand(["run", "-c", file, ...extraArgs]);
  const [cmd, ...argv] = [...prefix, runtime, ...args];
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  return new RouterProcess(child, file);
}

/** {@link spawnRouter}, resolving once the router listens. */
export async function startRouter(
  yaml: string,
  extraArgs: string[] = [],
  prefix: string[] = [],
): Promise<RouterProcess> {
  const r = spawnRouter(yaml, extraArgs, prefix);
  await r.listening();
  return r;
}
