/**
 * What the ACME integration tests share: a backend, the router's config for a Pebble, waiting
 * for log events, the serial a fresh TLS connection is served, the stored certificate folders,
 * and a front on the port Pebble validates HTTP-01 on that forwards, holds or refuses.
 */

import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { events } from "./admin.ts";
import { exec } from "./clients.ts";
import type { Pebble } from "./pebble.ts";
import type { RouterProcess } from "./router.ts";

/** A backend answering with the Host it was asked for; `GET /slow` ends when `finishSlow()`. */
export interface Backend {
  readonly server: http.Server;
  readonly port: number;
  /** Ends the pending `/slow` responses. */
  finishSlow(): void;
  close(): void;
}

export async function startBackend(): Promise<Backend> {
  const slow: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === "/slow") {
      // Headers and a first chunk now, the end when the test says.
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("slow start\n");
      slow.push(res);
      return;
    }
    res.end(`backend saw ${req.headers.host}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as { port: number }).port,
    finishSlow: () => {
      for (const res of slow.splice(0)) res.end("slow end\n");
    },
    close: () => {
      server.closeAllConnections?.();
      server.close();
    },
  };
}

/** The router config: http on `httpPort`, tls on `tlsPort` terminating into it. */
export function acmeConfig(o: {
  pebble: Pebble | { directory: string; caFile: string };
  storage: string;
  names: readonly string[];
  httpPort: number;
  tlsPort: number;
  backend: number;
  challenges?: string;
  renewBefore?: string;
  admin?: number;
}): string {
  return `
${o.admin === undefined ? "" : `admin: { listen: "127.0.0.1:${o.admin}" }`}
acme:
  email: ops@acme.test
  directory: ${o.pebble.directory}
  ca: ${o.pebble.caFile}
  storage: ${o.storage}
  challenges: ${o.challenges ?? "[http-01]"}
${o.renewBefore === undefined ? "" : `  renew_before: ${o.renewBefore}`}
certificates:
  - acme: [${o.names.join(", ")}]
listeners:
  web:
    bind: "127.0.0.1:${o.httpPort}"
    protocol: http
    default: app
  secure:
    bind: "127.0.0.1:${o.tlsPort}"
    protocol: tls
    terminate: web
backends:
  app: { servers: ["127.0.0.1:${o.backend}"] }
`;
}

/** Waits for a log event matching `pred` (ACME orders take seconds, not milliseconds). */
export function event(
  router: RouterProcess,
  pred: (e: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  return router.waitFor(() => events(router).find(pred), what, timeoutMs);
}

/** The router's events whose msg is `msg`. */
export function logged(router: RouterProcess, msg: string): Record<string, unknown>[] {
  return events(router).filter((e) => e.msg === msg);
}

/** A temporary folder for storage, and Pebble's roots written to a file beside it. */
export async function acmeDirs(pebble: Pebble): Promise<{ storage: string; roots: string }> {
  const base = mkdtempSync(join(tmpdir(), "switchyard-acme-"));
  const roots = join(base, "pebble-roots.pem");
  writeFileSync(roots, await pebble.roots());
  return { storage: join(base, "storage"), roots };
}

/** The numbered folders stored for the certificate whose first name is `name`, in order. */
export function storedFolders(storage: string, name: string): string[] {
  const base = join(storage, "certificates");
  const [dir] = readdirSync(base);
  return readdirSync(join(base, dir, name)).filter((f) => /^\d+$/.test(f))
    .sort((a, b) => Number(a) - Number(b));
}

/** The folder of the certificate whose first name is `name`, or of its number `n` there. */
export function storedFolder(storage: string, name: string, n = ""): string {
  const base = join(storage, "certificates");
  const [dir] = readdirSync(base);
  return join(base, dir, name, n);
}

/**
 * The serial number of the certificate a new TLS connection to 127.0.0.1:`port` with SNI
 * `name` is served, after openssl verified it against `caFile` for that name.
 */
export async function servedSerial(name: string, port: number, caFile: string): Promise<string> {
  const r = await exec(
    "openssl",
    [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-servername",
      name,
      "-verify_hostname",
      name,
      "-verify_return_error",
      "-CAfile",
      caFile,
    ],
    10_000,
    "",
  );
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(r.stdout);
  if (r.code !== 0 || pem === null) {
    throw new Error(`openssl s_client to ${name}:${port} failed (${r.code}):\n${r.stderr}`);
  }
  const x = await exec("openssl", ["x509", "-noout", "-serial"], 10_000, pem[0]);
  const serial = /serial=([0-9A-F]+)/.exec(x.stdout);
  if (serial === null) throw new Error(`no serial in ${x.stdout} ${x.stderr}`);
  return serial[1];
}

/**
 * A front on the port Pebble validates HTTP-01 on, passing each connection to `target`
 * (the router's http listener), or holding it until released, or answering 404 itself.
 */
export class ValidationFront {
  readonly server: net.Server;
  mode: "forward" | "hold" | "refuse";
  /** Connections Pebble made, in every mode. */
  connections = 0;
  readonly #held: net.Socket[] = [];
  readonly #sockets = new Set<net.Socket>();
  #waiters: (() => void)[] = [];

  private constructor(readonly port: number, public target: number, mode: ValidationFront["mode"]) {
    this.mode = mode;
    this.server = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      socket.on("error", () => {});
      this.connections++;
      if (this.mode === "hold") this.#held.push(socket);
      else this.#serve(socket);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Listens on 127.0.0.1:`port`. */
  static async start(
    port: number,
    target: number,
    mode: ValidationFront["mode"] = "forward",
  ): Promise<ValidationFront> {
    const front = new ValidationFront(port, target, mode);
    await new Promise<void>((resolve, reject) => {
      front.server.once("error", reject);
      front.server.listen(port, "127.0.0.1", resolve);
    });
    return front;
  }

  #serve(socket: net.Socket): void {
    if (this.mode === "refuse") {
      socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    const up = net.connect(this.target, "127.0.0.1");
    up.on("error", () => socket.destroy());
    socket.pipe(up);
    up.pipe(socket);
  }

  /** Resolves once Pebble has connected `n` times in all. */
  seen(n = 1, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Pebble did not validate ${n} times in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const check = () => {
        if (this.connections >= n) {
          clearTimeout(timer);
          resolve();
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  /**
   * Answers 404 from now on, also on the connections already forwarded (Pebble's validation
   * client keeps them alive).
   */
  refuse(): void {
    this.mode = "refuse";
    for (const s of this.#sockets) s.destroy();
  }

  /** Forwards from now on, the held connections first. */
  release(): void {
    this.mode = "forward";
    for (const s of this.#held.splice(0)) this.#serve(s);
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
