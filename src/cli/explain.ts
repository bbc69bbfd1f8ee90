/**
 * `explain -c FILE --listener NAME [--sni N] [--host N] [--alpn P] [--src IP]`: print the
 * route, backend and server a connection with those properties would get, or what an http
 * route answers instead (redirect, respond), then one indented line per action (access
 * control, rate limit, header edits, strip_prefix, the listener's response_headers).
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
import { describeActions, describeAnswer } from "./explain_actions.ts";

/** What `explain` is asked about. */
export interface ExplainArgs {
  file: string;
  listener?: string;
  sni?: string;
  host?: string;
  alpn?: string[];
  src?: string;
  /** The HTTP request path, for routes with `path_prefix`. */
  path?: string;
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
    ...(a.path === undefined ? {} : { path: a.path }),
    src,
    local: localAddresses.has(srcText),
  });
  const actions = describeActions(l, route, { text: srcText, ip: src });
  const answer = route === null ? null : describeAnswer(route);
  if (answer !== null) {
    process.stdout.write(
      [`listener ${l.name}: route #${route!.index} -> ${answer}`, ...actions, ""].join("\n"),
    );
    return 0;
  }
  if (backend === null) {
    process.stdout.write(
      [`listener ${l.name}: no route matches and there is no default`, ...actions, ""].join("\n"),
    );
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
  if (actions.length > 0) process.stdout.write(`${actions.join("\n")}\n`);
  return 0;
}
