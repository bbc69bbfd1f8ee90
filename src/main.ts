/**
 * Switchyard's command line: `run`, `check`, `explain`, `hash-password`, `version`. Exit codes
 * follow the contract: 0 success, 1 failure (explain: nothing matches), 2 bad usage or invalid
 * config.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { check } from "./cli/check.ts";
import { demo } from "./cli/demo.ts";
import { explain } from "./cli/explain.ts";
import { hashPassword } from "./cli/hash_password.ts";
import { healthcheck } from "./cli/healthcheck.ts";
import { run } from "./cli/run.ts";
import { parseTproxyOptions, tproxySetup } from "./cli/tproxy_setup.ts";
import { runtime } from "./runtime/mod.ts";
import { parseWorkersFlag } from "./workers/spawn.ts";
import { VERSION } from "./version.ts";

const USAGE = `Switchyard ${VERSION}: one port, many services.

Usage:
  switchyard run [-c FILE] [--log-format json|text]   serve (default FILE ./switchyard.yaml)
                 [--workers auto|N]                   N processes sharing every port
                 [--access-log on|off]                off: no access lines (events stay)
                 [--watch]                            reload when FILE changes (as SIGHUP)
  switchyard demo                                     a router with built-in upstreams to try
  switchyard check -c FILE                            validate FILE (exit 0 valid, 2 invalid)
  switchyard explain -c FILE --listener NAME [--sni N] [--host N] [--path P] [--alpn P] [--src IP]
                                                      show the route a connection would take
  switchyard tproxy-setup [--mark 1] [--table 100] [--loopback CIDR] [--firewall iptables|nft]
                          [--apply]                   print (or run and verify) the kernel
                                                      set-up transparent proxying needs
                                                      (exit 1 while any of it is missing)
  switchyard healthcheck [-c FILE] [--url URL]        GET /healthz of FILE's admin endpoint:
                                                      exit 0 on 200, 1 otherwise
  switchyard hash-password                            read a password (one line) on stdin,
                                                      print its bcrypt hash for auth.basic
  switchyard version                                  version and runtime
  switchyard --help                                   this text
`;

const OPTIONS = {
  // tproxy-setup
  mark: { type: "string" },
  table: { type: "string" },
  loopback: { type: "string", multiple: true },
  firewall: { type: "string" },
  apply: { type: "boolean" },
  config: { type: "string", short: "c" },
  "log-format": { type: "string" },
  "access-log": { type: "string" }, // run --access-log
  listener: { type: "string" },
  sni: { type: "string" },
  host: { type: "string" },
  path: { type: "string" },
  alpn: { type: "string", multiple: true },
  src: { type: "string" },
  url: { type: "string" },
  workers: { type: "string" }, // run --workers
  watch: { type: "boolean" }, // run --watch
  help: { type: "boolean", short: "h" },
} as const;

function usageError(msg: string): number {
  process.stderr.write(`switchyard: ${msg}\n\n${USAGE}`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...extra] = positionals;
  if (values.help || command === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === undefined) return usageError("missing command");
  if (extra.length > 0) return usageError(`unexpected argument "${extra[0]}"`);
  const file = values.config ?? "./switchyard.yaml";
  const format = values["log-format"] ?? "json";
  if (format !== "json" && format !== "text") {
    return usageError(`--log-format must be json or text (got "${format}")`);
  }
  switch (command) {
    case "run": {
      // --workers overrides the config's `workers:`.
      const w = values.workers === undefined ? null : parseWorkersFlag(values.workers);
      if (w !== null && "error" in w) return usageError(w.error);
      const access = values["access-log"] ?? "on";
      if (access !== "on" && access !== "off") {
        return usageError(`--access-log must be on or off (got "${access}")`);
      }
      return await run(file, format, w?.workers ?? null, access === "on", values.watch ?? false);
    }
    case "demo":
      return await demo(format);
    case "check":
      if (values.config === undefined) return usageError("check needs -c FILE");
      return check(file);
    case "explain":
      if (values.config === undefined) return usageError("explain needs -c FILE");
      return explain({ file, ...values });
    case "tproxy-setup": {
      const o = parseTproxyOptions(values);
      return typeof o === "string" ? usageError(o) : tproxySetup(o);
    }
    case "healthcheck":
      return await healthcheck(file, values.url);
    case "hash-password":
      return await hashPassword();
    case "version":
      process.stdout.write(`switchyard ${VERSION} (${runtime.version})\n`);
      return 0;
    default:
      return usageError(`unknown command "${command}"`);
  }
}

process.exit(await main(runtime.argv()));
