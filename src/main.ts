/**
 * Switchyard's command line: `run`, `check`, `explain`, `version`. Exit codes follow the
 * contract: 0 success, 1 failure (explain: nothing matches), 2 bad usage or invalid config.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { check } from "./cli/check.ts";
import { demo } from "./cli/demo.ts";
import { explain } from "./cli/explain.ts";
import { run } from "./cli/run.ts";
import { runtime } from "./runtime/mod.ts";
import { VERSION } from "./version.ts";

const USAGE = `Switchyard ${VERSION}: one port, many services.

Usage:
  switchyard run [-c FILE] [--log-format json|text]   serve (default FILE ./switchyard.yaml)
  switchyard demo                                     a router with built-in upstreams to try
  switchyard check -c FILE                            validate FILE (exit 0 valid, 2 invalid)
  switchyard explain -c FILE --listener NAME [--sni N] [--host N] [--alpn P] [--src IP]
                                                      show the route a connection would take
  switchyard version                                  version and runtime
  switchyard --help                                   this text
`;

const OPTIONS = {
  config: { type: "string", short: "c" },
  "log-format": { type: "string" },
  listener: { type: "string" },
  sni: { type: "string" },
  host: { type: "string" },
  alpn: { type: "string", multiple: true },
  src: { type: "string" },
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
    case "run":
      return await run(file, format);
    case "demo":
      return await demo(format);
    case "check":
      if (values.config === undefined) return usageError("check needs -c FILE");
      return check(file);
    case "explain":
      if (values.config === undefined) return usageError("explain needs -c FILE");
      return explain({ file, ...values });
    case "version":
      process.stdout.write(`switchyard ${VERSION} (${runtime.version})\n`);
      return 0;
    default:
      return usageError(`unknown command "${command}"`);
  }
}

process.exit(await main(process.argv.slice(2)));
