/**
 * `explain -c FILE --listener NAME [--sni N] [--host N] [--alpn P] [--src IP]`: print the
 * route, backend and server a connection with those properties would get.
 *
 * @module
 */

import process from "node:process";
import { parseIp } from "../net/ip.ts";
import { Balancer } from "../proxy/balancer.ts";
import { localAddresses } from "../proxy/local_addresses.ts";
import { sourceRoute } from "../proxy/transparent.ts";
import { compileRouter } from "../route/router.ts";
import { normalizeName } from "../route/name.ts";
import { EXIT_INVALID, loadOrReport } from "./config_arg.ts";

/** What `explain` is asked about. */
export interface ExplainArgs {
  file: string;
  listener?: string;
  sni?: string;
  host?: string;
  alpn?: string[];
  src?: string;
}

/** Runs `explain`; returns the exit code (0 matched, 1 nothing matches, 2 bad input). */
export function explain(a: ExplainArgs): number {
  const config = loadOrReport(a.file);
  if (config === null) return EXIT_INVALID;
  const l = a.listener === undefined ? undefined : config.listeners.get(a.listener);
  if (l === undefined) {
    const names = [...config.listeners.keys()].join(", ");
    process.stderr.write(
      `explain: --listener must name one of: ${names} (got "${a.listener ?? ""}")\n`,
    );
    return EXIT_INVALID;
  }
  const srcText = a.src ?? "127.0.0.1";
  const src = parseIp(srcText);
  if (src === null) {
    process.stderr.write(`explain: --src "${srcText}" is not an IP address\n`);
    return EXIT_INVALID;
  }
  const router = compileRouter(l);
  const { route, backend } = router.decide({
    sni: a.sni === undefined ? null : normalizeName(a.sni),
    host: a.host === undefined ? null : normalizeName(a.host),
    alpn: a.alpn ?? [],
    src,
    local: localAddresses.has(srcText),
  });
  if (backend === null) {
    process.stdout.write(`listener ${l.name}: no route matches and there is no default\n`);
    return 1;
  }
  const b = config.backends.get(backend)!;
  // A transparent `source:` can only reach a server of its own family.
  const family = sourceRoute(b.source, { host: srcText, port: 0, family: src.family })?.family;
  const server = new Balancer(b).pick(src.bytes, null, family ?? null);
  const how = route === null ? "default" : `route #${route.index}`;
  process.stdout.write(
    `listener ${l.name}: ${how} -> backend ${backend} -> server ${
      server?.config.name ?? "(none up)"
    }\n`,
  );
  return 0;
}
