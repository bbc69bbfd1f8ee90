/**
 * `tproxy-setup [--mark 1] [--table 100] [--loopback CIDR]... [--firewall iptables|nft]
 * [--apply]`: the kernel set-up transparent proxying needs (the seed's list), printed as shell
 * commands (those already in place commented out; exit 1 when any is missing or without
 * CAP_NET_ADMIN, so that it serves as a check), or with `--apply` run where missing and then
 * verified.
 *
 * - ip_nonlocal_bind (IPv4 and IPv6);
 * - netfilter: packets of a local transparent socket are marked (iptables mangle `-m socket`
 *   → DIVERT → MARK, or one nft `inet` table with `socket transparent 1`), with the IPv6 twin;
 * - policy routing: `ip rule fwmark MARK lookup TABLE`, `ip route add local 0.0.0.0/0 dev lo
 *   table TABLE`, and the IPv6 twins;
 * - `--loopback CIDR` (the same-host variant): an address of CIDR on lo, and `ip rule from CIDR
 *   lookup TABLE` so that replies from backends on that range come back to the proxy.
 *
 * Every step knows how to tell whether it is already in place, so `--apply` is idempotent, and
 * `check` reuses the same probes to warn about a missing set-up.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import type { Cidr, Config } from "../config/types.ts";
import { cidrContains, parseCidr } from "../net/cidr.ts";
import { formatIp, parseIp } from "../net/ip.ts";
import { interfaceOf } from "../proxy/transparent.ts";

/** Options of the command. */
export interface TproxyOptions {
  readonly mark: number;
  readonly table: number;
  readonly loopback: readonly Cidr[];
  /** null: iptables when installed, else nft. */
  readonly firewall: "iptables" | "nft" | null;
  readonly apply: boolean;
}

/** One command and how to tell that what it does is already in place. */
export interface Step {
  readonly argv: readonly string[];
  readonly present: () => boolean;
}

const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** The path of executable `name` on PATH or in the sbin folders, or null. */
export function findTool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(":").filter((d) => d !== ""), ...SBIN];
  for (const d of dirs) if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  return null;
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `argv` (the tool looked up like findTool), capturing its output. */
function run(argv: readonly string[]): Ran {
  const bin = findTool(argv[0]) ?? argv[0];
  const r = spawnSync(bin, argv.slice(1), { encoding: "utf8" });
  if (r.error) return { code: 127, stdout: "", stderr: r.error.message };
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function readProc(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

/** Whether this process has CAP_NET_ADMIN in its effective set (Linux /proc). */
export function hasNetAdmin(): boolean {
  const status = readProc("/proc/self/status") ?? "";
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (m === null) return false;
  return (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
}

/** Whether the kernel has IPv6 (it may be disabled at boot). */
export function hasIpv6(): boolean {
  return existsSync("/proc/sys/net/ipv6");
}

/** `argv` as a line to paste in a shell. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}

const hex = (n: number) => `0x${n.toString(16)}`;

function sysctlStep(family: 4 | 6): Step {
  const key = `net.ipv${family}.ip_nonlocal_bind`;
  return {
    argv: ["sysctl", "-w", `${key}=1`],
    present: () => readProc(`/proc/sys/net/ipv${family}/ip_nonlocal_bind`) === "1",
  };
}

function iptablesSteps(tool: "iptables" | "ip6tables", mark: number): Step[] {
  const rule = (verb: string, chain: string, spec: string[]) => [
    tool,
    "-t",
    "mangle",
    verb,
    chain,
    ...spec,
  ];
  const appended = (chain: string, spec: string[]): Step => ({
    argv: rule("-A", chain, spec),
    present: () => run(rule("-C", chain, spec)).code === 0,
  });
  return [
    {
      argv: [tool, "-t", "mangle", "-N", "DIVERT"],
      present: () => run([tool, "-t", "mangle", "-S", "DIVERT"]).code === 0,
    },
    appended("PREROUTING", ["-p", "tcp", "-m", "socket", "-j", "DIVERT"]),
    appended("DIVERT", ["-j", "MARK", "--set-mark", String(mark)]),
    appended("DIVERT", ["-j", "ACCEPT"]),
  ];
}

/** nft: one `inet` table (IPv4 and IPv6) with the socket match → mark rule. */
function nftSteps(mark: number): Step[] {
  const chain = () => run(["nft", "list", "chain", "inet", "switchyard", "divert"]);
  return [
    {
      argv: ["nft", "add", "table", "inet", "switchyard"],
      present: () => run(["nft", "list", "table", "inet", "switchyard"]).code === 0,
    },
    {
      argv: [
        "nft",
        "add",
        "chain",
        "inet",
        "switchyard",
        "divert",
        "{ type filter hook prerouting priority mangle; policy accept; }",
      ],
      present: () => chain().code === 0,
    },
    {
      argv: [
        ..."nft add rule inet switchyard divert meta l4proto tcp socket transparent 1".split(" "),
        ..."meta mark set".split(" "),
        String(mark),
        "accept",
        "comment",
        "switchyard-divert",
      ],
      present: () => {
        const r = chain();
        return r.code === 0 && r.stdout.includes(`switchyard-divert`);
      },
    },
  ];
}

/** `ip [-6] rule show` has a rule matching `re`. */
function hasRule(family: 4 | 6, re: RegExp): boolean {
  const r = run(["ip", family === 4 ? "-4" : "-6", "rule", "show"]);
  return r.code === 0 && r.stdout.split("\n").some((l) => re.test(l));
}

/** Table `table` routes everything locally through lo. */
function hasLocalDefault(family: 4 | 6, table: number): boolean {
  const r = run(["ip", family === 4 ? "-4" : "-6", "route", "show", "table", String(table)]);
  return r.code === 0 && /^local default dev lo\b/m.test(r.stdout);
}

function policySteps(family: 4 | 6, mark: number, table: number): Step[] {
  const ip = family === 4 ? ["ip"] : ["ip", "-6"];
  return [
    {
      argv: [...ip, "rule", "add", "fwmark", String(mark), "lookup", String(table)],
      present: () =>
        hasRule(family, new RegExp(`\\bfwmark ${hex(mark)}(/0xf+)? lookup ${table}\\b`)),
    },
    {
      argv: [
        ...ip,
        "route",
        "add",
        "local",
        family === 4 ? "0.0.0.0/0" : "::/0",
        "dev",
        "lo",
        "table",
        String(table),
      ],
      present: () => hasLocalDefault(family, table),
    },
  ];
}

/** The network's first host address: the address put on lo for `--loopback`. */
function firstHost(c: Cidr): string {
  const b = new Uint8Array(c.bytes);
  if (c.prefix < b.length * 8) b[b.length - 1] |= 1;
  return formatIp(b);
}

function loopbackSteps(c: Cidr, table: number): Step[] {
  const ip = c.family === 4 ? ["ip"] : ["ip", "-6"];
  const addr = `${firstHost(c)}/${c.prefix}`;
  const net = `${formatIp(c.bytes)}/${c.prefix}`;
  return [
    {
      argv: [...ip, "addr", "add", addr, "dev", "lo", "scope", "host"],
      present: () => {
        const r = run([...ip, "-o", "addr", "show", "dev", "lo"]);
        return r.code === 0 && r.stdout.includes(` ${addr} `);
      },
    },
    {
      argv: [...ip, "rule", "add", "from", net, "lookup", String(table)],
      present: () =>
        hasRule(c.family, new RegExp(`\\bfrom ${net.replaceAll(".", "\\.")} lookup ${table}\\b`)),
    },
  ];
}

/** Every step, in the order to apply them. */
export function setupSteps(o: TproxyOptions, firewall: "iptables" | "nft", v6: boolean): Step[] {
  const steps: Step[] = [sysctlStep(4)];
  if (v6) steps.push(sysctlStep(6));
  if (firewall === "nft") steps.push(...nftSteps(o.mark));
  else {
    steps.push(...iptablesSteps("iptables", o.mark));
    if (v6) steps.push(...iptablesSteps("ip6tables", o.mark));
  }
  steps.push(...policySteps(4, o.mark, o.table));
  if (v6) steps.push(...policySteps(6, o.mark, o.table));
  for (const c of o.loopback) if (c.family === 4 || v6) steps.push(...loopbackSteps(c, o.table));
  return steps;
}

/** iptables when installed (the seed's commands), else nft; null when neither is. */
export function detectFirewall(): "iptables" | "nft" | null {
  if (findTool("iptables") !== null) return "iptables";
  if (findTool("nft") !== null) return "nft";
  return null;
}

/** Parses the command's options; returns an error message for bad ones. */
export function parseTproxyOptions(values: {
  mark?: string;
  table?: string;
  loopback?: string[];
  firewall?: string;
  apply?: boolean;
}): TproxyOptions | string {
  const num = (name: string, text: string | undefined, dflt: number, max: number) => {
    if (text === undefined) return dflt;
    const n = /^(0x[0-9a-f]+|\d+)$/i.test(text) ? Number(text) : NaN;
    return Number.isInteger(n) && n >= 1 && n <= max ? n : `--${name} must be 1 to ${max}`;
  };
  const mark = num("mark", values.mark, 1, 0xffffffff);
  if (typeof mark === "string") return mark;
  const table = num("table", values.table, 100, 0xfffffffe);
  if (typeof table === "string") return table;
  if (table === 253 || table === 254 || table === 255) {
    return `--table ${table} is a reserved table (default, main, local)`;
  }
  const loopback: Cidr[] = [];
  for (const text of values.loopback ?? []) {
    const c = parseCidr(text);
    if (c === null) return `--loopback: "${text}" is not a CIDR such as 192.168.127.0/24`;
    loopback.push(c);
  }
  const fw = values.firewall;
  if (fw !== undefined && fw !== "iptables" && fw !== "nft") {
    return `--firewall must be iptables or nft (got "${fw}")`;
  }
  return { mark, table, loopback, firewall: fw ?? null, apply: values.apply ?? false };
}

/** Runs `tproxy-setup`; returns the exit code. */
export function tproxySetup(o: TproxyOptions): number {
  const out = (s: string) => process.stdout.write(s + "\n");
  const err = (s: string) => process.stderr.write(s + "\n");
  const firewall = o.firewall ?? detectFirewall();
  if (firewall === null) {
    err("switchyard: tproxy-setup: neither iptables nor nft is installed (apt install iptables)");
    return 1;
  }
  const v6 = hasIpv6();
  const steps = setupSteps(o, firewall, v6);
  const capable = hasNetAdmin();
  if (!o.apply) {
    // A check as well as a script: the steps already in place are commented out, so that the
    // output run as it is adds only what is missing, and the exit code says whether any is.
    out(
      `# Transparent proxying set-up (${firewall}); run as root, or: switchyard tproxy-setup --apply`,
    );
    let missing = 0;
    for (const s of steps) {
      if (s.present()) out(`# present: ${shellLine(s.argv)}`);
      else {
        missing++;
        out(shellLine(s.argv));
      }
    }
    if (!v6) out("# IPv6 is disabled in this kernel: its commands are left out");
    const count = `${missing} of ${steps.length} steps missing`;
    if (!capable) {
      // Without it the netfilter rules cannot even be read, let alone added.
      err(
        `switchyard: tproxy-setup: no CAP_NET_ADMIN (needed to read the netfilter rules and run ` +
          `these commands: run as root); ${count} or unreadable`,
      );
      return 1;
    }
    if (missing > 0) {
      err(`switchyard: tproxy-setup: ${count} (switchyard tproxy-setup --apply adds them)`);
      return 1;
    }
    out(`# every step is in place (${steps.length} of ${steps.length})`);
    return 0;
  }
  if (!capable) {
    err("switchyard: tproxy-setup --apply needs CAP_NET_ADMIN: run it as root");
    return 1;
  }
  let failed = false;
  for (const s of steps) {
    if (s.present()) {
      out(`present  ${shellLine(s.argv)}`);
      continue;
    }
    const r = run(s.argv);
    if (r.code !== 0) {
      err(`failed   ${shellLine(s.argv)}: ${(r.stderr || r.stdout).trim()}`);
      failed = true;
      break;
    }
    out(`applied  ${shellLine(s.argv)}`);
  }
  const missing = steps.filter((s) => !s.present());
  for (const s of missing) err(`missing  ${shellLine(s.argv)}`);
  if (failed || missing.length > 0) {
    err("switchyard: tproxy-setup: the set-up is not complete");
    return 1;
  }
  out("verified: transparent proxying set-up is in place");
  return 0;
}

/**
 * What `check` warns about for a config with `source: usesrc` backends or transparent
 * listeners: the parts of the set-up that are missing on this host (any mark and table: it
 * looks for an fwmark rule whose table routes locally). Empty when nothing is missing or the
 * config does not use transparency. Netfilter rules are read only with CAP_NET_ADMIN.
 */
export function missingTransparentSetup(config: Config): string[] {
  let v4 = false;
  let v6 = false;
  const loopbackAddresses: string[] = [];
  for (const b of config.backends.values()) {
    if (b.source === null) continue;
    for (const s of b.servers) {
      if (s.address.family !== 6) v4 = true;
      if (s.address.family !== 4) v6 = true;
    }
    if (b.source.address !== undefined) loopbackAddresses.push(b.source.address);
  }
  const inbound = [...config.listeners.values()].some((l) => l.transparent);
  if (!v4 && !v6 && !inbound) return [];
  if (inbound) v4 = true;
  v6 &&= hasIpv6();
  const missing: string[] = [];
  for (const family of [4, 6] as const) {
    if (family === 4 ? !v4 : !v6) continue;
    const rules = run(["ip", family === 4 ? "-4" : "-6", "rule", "show"]);
    if (rules.code !== 0) {
      missing.push(`cannot read the IPv${family} policy rules: ${rules.stderr.trim()}`);
      continue;
    }
    const tables = [...rules.stdout.matchAll(/\bfwmark \S+ lookup (\d+)\b/g)].map((m) =>
      Number(m[1])
    );
    if (tables.length === 0) {
      missing.push(`${family === 4 ? "ip" : "ip -6"} rule add fwmark 1 lookup 100`);
    }
    if (!tables.some((t) => hasLocalDefault(family, t))) {
      missing.push(
        `${family === 4 ? "ip" : "ip -6"} route add local ${
          family === 4 ? "0.0.0.0/0" : "::/0"
        } dev lo table ${tables[0] ?? 100}`,
      );
    }
  }
  if (hasNetAdmin()) {
    const ipt = findTool("iptables") === null
      ? ""
      : run(["iptables", "-t", "mangle", "-S"]).stdout + run(["ip6tables", "-t", "mangle", "-S"])
        .stdout;
    const nft = findTool("nft") === null ? "" : run(["nft", "list", "ruleset"]).stdout;
    if (!/-m socket\b/.test(ipt) && !/\bsocket transparent 1\b/.test(nft)) {
      missing.push("a netfilter rule marking packets of local sockets (-m socket → MARK)");
    }
  }
  // The loopback-alias variant: replies from backends on lo's extra range need a source rule.
  for (const address of loopbackAddresses) {
    if (interfaceOf(address) !== "lo") continue;
    const ip = parseIp(address)!;
    const rules = run(["ip", ip.family === 4 ? "-4" : "-6", "rule", "show"]).stdout;
    const covered = [...rules.matchAll(/\bfrom (\S+) lookup (\d+)\b/g)].some((m) => {
      const c = parseCidr(m[1]);
      return c !== null && cidrContains(c, ip) && hasLocalDefault(ip.family, Number(m[2]));
    });
    if (!covered) {
      missing.push(
        `${ip.family === 4 ? "ip" : "ip -6"} rule add from <the range of ${address} on lo> ` +
          `lookup 100 (tproxy-setup --loopback CIDR)`,
      );
    }
  }
  return missing;
}
