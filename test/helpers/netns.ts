/**
 * Network namespaces for the transparent-proxy tests (root only): a client, a proxy and a
 * backend namespace joined by veth pairs, with addresses from the documentation ranges that
 * exist only inside them, and ways to run peers, the router and HAProxy in each.
 *
 *   client  eth0 198.51.100.2/25 2001:db8:1::2/64  (default route via the proxy)
 *   proxy   cl0  198.51.100.1/25 2001:db8:1::1/64
 *           be0  203.0.113.1/25  2001:db8:2::1/64
 *   backend eth0 203.0.113.2/25  2001:db8:2::2/64  (default route via the proxy)
 *
 * The proxy's netfilter and policy routing are left to the test (`tproxy-setup --apply`).
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { exec } from "./clients.ts";
import { HAPROXY_BIN, HaproxyProcess } from "./haproxy.ts";
import { routerCommand, RouterProcess } from "./router.ts";
import { scriptCommand } from "./runtime.ts";

const PEER = fileURLToPath(new URL("./ns_peer.ts", import.meta.url));

/** Whether this process may create namespaces (root). */
export const isRoot: boolean = typeof process.getuid === "function" && process.getuid() === 0;

/** Runs a command; throws with its stderr when it fails. */
export function sh(argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.error) throw new Error(`${argv.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs a command, ignoring failure (cleanup). */
function shQuiet(argv: string[]): void {
  spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
}

/** `argv` run inside namespace `ns`. */
export function inNs(ns: string, argv: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

/** The three namespaces of one test run. */
export class Topology {
  readonly client: string;
  readonly proxy: string;
  readonly backend: string;
  /** Extra namespaces made with `scratch()`. */
  readonly #extra: string[] = [];
  readonly #tag: string;

  /** `tag`: unique per run (e.g. the pid), short: interface names are at most 15 characters. */
  constructor(tag: string) {
    this.#tag = tag;
    this.client = `sy6-c-${tag}`;
    this.proxy = `sy6-p-${tag}`;
    this.backend = `sy6-b-${tag}`;
  }

  /** Creates the namespaces, links and addresses. */
  create(): void {
    const t = this.#tag;
    for (const ns of [this.client, this.proxy, this.backend]) {
      sh(["ip", "netns", "add", ns]);
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    // Created in the root namespace under unique names, moved at once, renamed inside.
    const pair = (a: string, aNs: string, aName: string, b: string, bNs: string, bName: string) => {
      sh(["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
      sh(["ip", "link", "set", a, "netns", aNs]);
      sh(["ip", "link", "set", b, "netns", bNs]);
      sh(["ip", "-n", aNs, "link", "set", a, "name", aName]);
      sh(["ip", "-n", bNs, "link", "set", b, "name", bName]);
      sh(["ip", "-n", aNs, "link", "set", aName, "up"]);
      sh(["ip", "-n", bNs, "link", "set", bName, "up"]);
    };
    pair(`sy6c${t}`, this.client, "eth0", `sy6pc${t}`, this.proxy, "cl0");
    pair(`sy6b${t}`, this.backend, "eth0", `sy6pb${t}`, this.proxy, "be0");
    const addr = (ns: string, dev: string, a: string) =>
      sh(["ip", "-n", ns, "addr", "add", a, "dev", dev, ...(a.includes(":") ? ["nodad"] : [])]);
    addr(this.client, "eth0", "198.51.100.2/25");
    addr(this.client, "eth0", "2001:db8:1::2/64");
    addr(this.proxy, "cl0", "198.51.100.1/25");
    addr(this.proxy, "cl0", "2001:db8:1::1/64");
    addr(this.proxy, "be0", "203.0.113.1/25");
    addr(this.proxy, "be0", "2001:db8:2::1/64");
    addr(this.backend, "eth0", "203.0.113.2/25");
    addr(this.backend, "eth0", "2001:db8:2::2/64");
    sh(["ip", "-n", this.client, "route", "add", "default", "via", "198.51.100.1"]);
    sh(["ip", "-n", this.client, "-6", "route", "add", "default", "via", "2001:db8:1::1"]);
    sh(["ip", "-n", this.backend, "route", "add", "default", "via", "203.0.113.1"]);
    sh(["ip", "-n", this.backend, "-6", "route", "add", "default", "via", "2001:db8:2::1"]);
  }

  /** A further empty namespace (lo up), removed with the others. */
  scratch(name: string): string {
    const ns = `sy6-${name}-${this.#tag}`;
    sh(["ip", "netns", "add", ns]);
    this.#extra.push(ns);
    sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /** Removes everything this run made (namespaces take their links with them). */
  destroy(): void {
    for (const ns of [this.client, this.proxy, this.backend, ...this.#extra]) {
      shQuiet(["ip", "netns", "del", ns]);
    }
    const t = this.#tag;
    for (const link of [`sy6c${t}`, `sy6pc${t}`, `sy6b${t}`, `sy6pb${t}`]) {
      shQuiet(["ip", "link", "del", link]);
    }
  }
}

/** The runtime that runs the tests, as one command line for `file` and `args`. */
function scriptArgv(file: string, args: string[]): string[] {
  const [cmd, rest] = scriptCommand(file, args);
  return [cmd, ...rest];
}

/** A running `ns_peer.ts serve`. */
export class Peer {
  constructor(readonly child: ChildProcess, readonly output: string[]) {}
  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      process.kill(this.child.pid!, "SIGKILL");
    });
  }
}

/** Starts `ns_peer.ts serve ADDRS` in `ns`; resolves once it listens. */
export function startPeer(ns: string, addrs: string[]): Promise<Peer> {
  const argv = inNs(ns, scriptArgv(PEER, ["serve", ...addrs]));
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`peer in ${ns} not ready:\n${output}`)),
      15_000,
    );
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (s: string) => output.push(s));
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (s: string) => {
      output.push(s);
      if (s.includes("ready")) {
        clearTimeout(timer);
        resolve(new Peer(child, output));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`peer in ${ns} exited (${code}):\n${output.join("")}`));
    });
  });
}

/** What a backend peer reports about one connection. */
export interface PeerInfo {
  readonly peer: string;
  readonly local: string;
  readonly first: string;
}

/** The result of one `ns_peer.ts connect`. */
export interface ClientResult {
  /** The client's own address as it saw it. */
  readonly local: string;
  /** What came back (latin1). */
  readonly response: string;
  readonly error?: string;
}

/** Connects from `ns` to `host:port`, optionally sending bytes; resolves with what came back. */
export async function connectFrom(
  ns: string,
  host: string,
  port: number,
  send?: { hex: string } | { file: string },
): Promise<ClientResult> {
  const extra = send === undefined
    ? []
    : "hex" in send
    ? ["--send-hex", send.hex]
    : ["--send-file", send.file];
  const argv = inNs(ns, scriptArgv(PEER, ["connect", host, String(port), ...extra]));
  const r = await exec(argv[0], argv.slice(1), 15_000);
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as ClientResult;
  } catch {
    return { local: "", response: "", error: `client exited ${r.code}: ${r.stdout}${r.stderr}` };
  }
}

/** The peer's JSON report inside `text` (a line, or an HTTP response body). */
export function peerInfo(text: string): PeerInfo {
  const start = text.indexOf("{");
  if (start < 0) throw new Error(`no peer report in ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(start).split("\n")[0]) as PeerInfo;
}

/** Resolves once something in `ns` listens on TCP `port` (polling `ss`). */
export async function waitListening(ns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = spawnSync("ip", inNs(ns, ["ss", "-Hltn", `sport = :${port}`]).slice(1), {
      encoding: "utf8",
    });
    if (r.status === 0 && r.stdout.trim() !== "") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on port ${port} in ${ns} after ${timeoutMs} ms`);
}

/** Starts HAProxy in `ns` on `sections`; resolves once `ports` listen there. */
export async function startHaproxyIn(
  ns: string,
  sections: string,
  ports: number[],
): Promise<HaproxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-haproxy-ns-"));
  const file = join(dir, "haproxy.cfg");
  const text = `global
  maxconn 256

defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s

${sections.trim()}
`;
  writeFileSync(file, text);
  const argv = inNs(ns, [HAPROXY_BIN, "-f", file, "-db"]);
  const child = spawn(argv[0], argv.slice(1), { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const hp = new HaproxyProcess(child, dir, text);
  try {
    for (const p of ports) {
      await Promise.race([
        waitListening(ns, p),
        hp.exited.then(() => {
          throw new Error(`haproxy exited:\n${hp.output.join("")}`);
        }),
      ]);
    }
  } catch (err) {
    await hp.stop();
    throw err;
  }
  return hp;
}

/** Writes `yaml` to a temp file and starts `run -c` on it in `ns`; resolves once it listens. */
export async function startRouterIn(ns: string, yaml: string): Promise<RouterProcess> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-ns-"));
  const file = join(dir, "switchyard.yaml");
  writeFileSync(file, yaml);
  const [cmd, args] = routerCommand(["run", "-c", file]);
  const argv = inNs(ns, [cmd, ...args]);
  const cwd = fileURLToPath(new URL("../../", import.meta.url));
  const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const r = new RouterProcess(child, file);
  await r.listening(20_000);
  return r;
}

/**
 * Runs src/main.ts with `args` in `ns` (null: the root namespace) under this runtime, after
 * `prefix` (e.g. setpriv); killed after `timeoutMs`.
 */
export function cliIn(
  ns: string | null,
  args: string[],
  prefix: string[] = [],
  timeoutMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, rest] = routerCommand(args);
  const argv = [...prefix, cmd, ...rest];
  const full = ns === null ? argv : inNs(ns, argv);
  return exec(full[0], full.slice(1), timeoutMs);
}
