/**
 * The container image without a container engine. Builds the single executable with the
 * `compile:bun` task of deno.json, reads the Dockerfile's final stage (USER, WORKDIR, ENV,
 * ENTRYPOINT, CMD, HEALTHCHECK), builds the rootfs with scripts/rootfs.sh (the script the
 * Dockerfile runs) and starts ENTRYPOINT + CMD chrooted into it, as USER, in WORKDIR, with /proc
 * mounted and /etc/hosts written, as a container runtime would.
 */

import { execFile } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** Runs a command; resolves with its exit code and output, never rejects on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** The `compile:bun` task's command line, split on spaces (it has no quoting). */
export function compileBunTask(): string[] {
  const json = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
  const task = json.tasks?.["compile:bun"];
  if (typeof task !== "string") throw new Error('deno.json has no "compile:bun" task');
  return task.trim().split(/\s+/);
}

/** Runs the `compile:bun` task with its --outfile replaced by `outfile`. */
export async function compileBun(outfile: string): Promise<void> {
  const argv = compileBunTask();
  const i = argv.indexOf("--outfile");
  if (i < 0 || i + 1 >= argv.length) throw new Error(`compile:bun has no --outfile: ${argv}`);
  argv[i + 1] = outfile;
  const r = await run(argv[0], argv.slice(1), { cwd: ROOT, timeoutMs: 280_000 });
  if (r.code !== 0) throw new Error(`compile:bun failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

/** Runs scripts/rootfs.sh BINARY ROOTFS. */
export async function buildRootfs(binary: string, rootfs: string): Promise<void> {
  const r = await run("sh", [join(ROOT, "scripts/rootfs.sh"), binary, rootfs]);
  if (r.code !== 0) throw new Error(`scripts/rootfs.sh failed (${r.code}):\n${r.stderr}`);
}

/** One Dockerfile instruction: keyword (upper case) and the rest of the line. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The Dockerfile's stages, each a list of instructions starting with its FROM. */
export function dockerfileStages(path: string = join(ROOT, "Dockerfile")): Instruction[][] {
  const lines = readFileSync(path, "utf8").split("\n");
  const instructions: Instruction[] = [];
  let pending = "";
  for (const raw of lines) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue; // a comment inside a continued instruction
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    instructions.push({ keyword: m[1].toUpperCase(), args: m[2] });
  }
  const stages: Instruction[][] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") stages.push([ins]);
    else if (stages.length > 0) stages.at(-1)!.push(ins);
  }
  return stages;
}

/** What the final stage says about running the image. */
export interface ImageSpec {
  readonly from: string;
  /** The COPY instructions' arguments. */
  readonly copies: string[];
  /** Every other instruction keyword in the final stage. */
  readonly keywords: string[];
  readonly uid: number;
  readonly gid: number;
  readonly workdir: string;
  readonly env: Record<string, string>;
  readonly expose: number[];
  readonly entrypoint: string[];
  readonly cmd: string[];
  /** The HEALTHCHECK's exec-form command, or null. */
  readonly healthcheck: string[] | null;
}

function execForm(args: string, what: string): string[] {
  const v = JSON.parse(args);
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new Error(`${what} must be an exec-form JSON array: ${args}`);
  }
  return v;
}

/** Reads the final stage of the Dockerfile. */
export function imageSpec(stages: Instruction[][] = dockerfileStages()): ImageSpec {
  const stage = stages.at(-1)!;
  const last = (k: string) => stage.findLast((i) => i.keyword === k)?.args;
  const user = last("USER") ?? "0";
  const [uid, gid = uid] = user.split(":");
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) throw new Error(`USER must be numeric: ${user}`);
  const env: Record<string, string> = {};
  for (const i of stage.filter((i) => i.keyword === "ENV")) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) {
      env[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
    }
  }
  const hc = last("HEALTHCHECK");
  const hcCmd = hc === undefined ? null : /\bCMD\s+(\[.*\])\s*$/.exec(hc);
  return {
    from: stage[0].args,
    copies: stage.filter((i) => i.keyword === "COPY").map((i) => i.args),
    keywords: stage.map((i) => i.keyword),
    uid: Number(uid),
    gid: Number(gid),
    workdir: last("WORKDIR") ?? "/",
    env,
    expose: stage.filter((i) => i.keyword === "EXPOSE").flatMap((i) =>
      i.args.split(/\s+/).map((p) => Number(p.split("/")[0]))
    ),
    entrypoint: execForm(last("ENTRYPOINT") ?? "[]", "ENTRYPOINT"),
    cmd: execForm(last("CMD") ?? "[]", "CMD"),
    healthcheck: hcCmd === null ? null : execForm(hcCmd[1], "HEALTHCHECK CMD"),
  };
}

/** One entry of a directory tree, path relative to its root with a leading "/". */
export interface TreeEntry {
  readonly path: string;
  readonly type: "file" | "dir" | "symlink";
  readonly mode: number;
  readonly size: number;
}

/** Every entry under `dir` (not following symlinks), sorted by path. */
export function listTree(dir: string, prefix = ""): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = `${prefix}/${name}`;
    const st = lstatSync(join(dir, rel));
    const type = st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : "file";
    out.push({ path: rel, type, mode: st.mode & 0o7777, size: st.size });
    if (type === "dir") out.push(...listTree(dir, rel));
  }
  return out;
}

/** Why this machine cannot run the image's rootfs (null: it can). */
export function chrootUnavailable(): string | null {
  if (process.platform !== "linux") return "the rootfs test needs Linux";
  if (process.getuid?.() !== 0) return "the rootfs test needs root (chroot, mount)";
  if (!existsSync("/usr/bin/unshare")) return "the rootfs test needs util-linux unshare";
  return null;
}

/** Docker's environment for a process in an image that sets no PATH, plus the image's ENV. */
export function containerEnv(spec: ImageSpec): Record<string, string> {
  return {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/",
    ...spec.env,
  };
}

/**
 * What a container runtime adds to an image at start: the /proc mount point and /etc/hosts
 * (with `hosts` as extra name → address entries, like `docker run --add-host`).
 */
export function addRuntimeFiles(rootfs: string, hosts: Record<string, string> = {}): void {
  mkdirSync(join(rootfs, "proc"), { recursive: true });
  const extra = Object.entries(hosts).map(([name, addr]) => `${addr}\t${name}\n`).join("");
  writeFileSync(join(rootfs, "etc/hosts"), `127.0.0.1\tlocalhost\n::1\tlocalhost\n${extra}`);
}

/**
 * The command line that runs `argv` (e.g. ENTRYPOINT + CMD) inside `rootfs` as the image would:
 * a private mount namespace with its own /proc, chrooted, in WORKDIR, as USER with no
 * supplementary groups. unshare execs the program, so the child's pid is the program's.
 */
export function containerCommand(
  rootfs: string,
  spec: ImageSpec,
  argv: string[],
): [string, string[]] {
  return ["/usr/bin/unshare", [
    "--mount",
    "--mount-proc=/proc",
    `--root=${rootfs}`,
    `--wd=${spec.workdir}`,
    `--setgid=${spec.gid}`,
    `--setuid=${spec.uid}`,
    ...argv,
  ]];
}
