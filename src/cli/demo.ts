/**
 * `demo`: the router on an embedded config, with two built-in HTTP upstreams and one TLS
 * upstream on loopback, and the curl lines that show Host routing and SNI routing.
 *
 * @module
 */

import process from "node:process";
import tls from "node:tls";
import type net from "node:net";
import { formatProblem, parseConfig } from "../config/load.ts";
import { type LogFormat, Logger } from "../log/logger.ts";
import { runtime } from "../runtime/mod.ts";
import { DEMO_CERT, DEMO_KEY } from "./demo_cert.ts";
import { serve } from "./run.ts";

/** Where the demo listens; fixed so that the printed curl lines work as they are. */
const WEB = 8080;
const SECURE = 8443;
const ADMIN = 9901;

/** An HTTP upstream that says who it is and what Host it was asked for. */
async function httpUpstream(name: string): Promise<number> {
  const server = await runtime.serveHttp({ host: "127.0.0.1", port: 0 }, (req) => {
    const host = req.headers.get("host");
    const xff = req.headers.get("x-forwarded-for");
    return new Response(`Hello from upstream ${name} (Host: ${host}, X-Forwarded-For: ${xff})\n`);
  });
  return server.addr.port;
}

/** A TLS upstream: the router passes its bytes through, so curl sees this certificate. */
function tlsUpstream(): Promise<number> {
  return new Promise((resolve) => {
    const server = tls.createServer({ cert: DEMO_CERT, key: DEMO_KEY }, (s) => {
      s.on("error", () => {});
      s.once("data", () => {
        const body = "Hello over TLS from the upstream itself: the router never decrypted this\n";
        s.end(
          `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
    });
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function demoConfig(one: number, two: number, secure: number): string {
  return `
admin:
  listen: 127.0.0.1:${ADMIN}
defaults:
  shutdown_timeout: 2s
listeners:
  web:
    bind: "127.0.0.1:${WEB}"
    protocol: http
    forwarded: [x-forwarded-for, x-forwarded-proto]
    routes:
      - { host: one.localhost, to: one }
      - { host: two.localhost, to: two }
    default: one
  secure:
    bind: "127.0.0.1:${SECURE}"
    protocol: tls
    routes:
      - { sni: secure.localhost, to: secure }
backends:
  one: { servers: ["127.0.0.1:${one}"] }
  two: { servers: ["127.0.0.1:${two}"] }
  secure: { servers: ["127.0.0.1:${secure}"] }
`;
}

const TRY = `
Switchyard demo is running (Ctrl-C to stop). Try:

  # Host routing: the same port, two upstreams
  curl -H 'Host: one.localhost' http://127.0.0.1:${WEB}/
  curl -H 'Host: two.localhost' http://127.0.0.1:${WEB}/

  # SNI routing: TLS passed through untouched (the upstream's own certificate)
  curl -k --resolve secure.localhost:${SECURE}:127.0.0.1 https://secure.localhost:${SECURE}/

  # What the router saw
  curl http://127.0.0.1:${ADMIN}/status
  curl http://127.0.0.1:${ADMIN}/metrics
`;

/** Runs the demo until Ctrl-C; resolves with the exit code. */
export async function demo(format: LogFormat): Promise<number> {
  const [one, two, secure] = await Promise.all([
    httpUpstream("one"),
    httpUpstream("two"),
    tlsUpstream(),
  ]);
  const { config, problems } = parseConfig(demoConfig(one, two, secure), "<demo>");
  for (const p of problems) process.stderr.write(formatProblem(p) + "\n");
  if (config === null) return 1;
  return await serve(config, new Logger(format), {
    reloadFile: null,
    onReady: () => process.stderr.write(TRY),
  });
}
