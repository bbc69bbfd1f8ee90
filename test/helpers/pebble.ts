/**
 * Pebble, Let's Encrypt's test ACME server, with pebble-challtestsrv as its DNS (every name
 * resolves to 127.0.0.1), for tests in which the router obtains real certificates. Pebble
 * validates HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort` of 127.0.0.1: the router's
 * listeners must be bound there.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { selfSigned } from "./certs.ts";
import { freePort } from "./clients.ts";

/** Options for {@link startPebble}. */
export interface PebbleOptions {
  /** Where Pebble validates HTTP-01 (the router's http listener). */
  readonly httpPort: number;
  /** Where Pebble validates TLS-ALPN-01 (the router's tls listener). */
  readonly tlsPort: number;
  /** Lifetime of issued certificates, in seconds (Pebble's default: 5 years). */
  readonly validitySeconds?: number;
  /** Extra environment, e.g. PEBBLE_WFE_NONCEREJECT. */
  readonly env?: Record<string, string>;
}

/** A running Pebble. */
export interface Pebble {
  /** The directory URL. */
  readonly directory: string;
  /** PEM file of the CA that signed Pebble's own HTTPS certificate (acme `ca:`). */
  readonly caFile: string;
  /** The root that issued certificates chain to (for curl --cacert), PEM text. */
  roots(): Promise<string>;
  /** Pebble's output so far (for failure messages). */
  readonly output: string[];
  close(): Promise<void>;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: "ignore" });
}

/** A CA and a certificate for 127.0.0.1/localhost signed by it, for Pebble's own HTTPS. */
function pebbleTls(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  const cert = join(dir, "wfe.pem");
  const key = join(dir, "wfe.key");
  const csr = join(dir, "wfe.csr");
  const ext = join(dir, "ext.cnf");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=pebble test CA"]
    .concat(["-keyout", caKey, "-out", ca]));
  openssl(["req", ...ec, "-subj", "/CN=localhost", "-keyout", key, "-out", csr]);
  writeFileSync(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial"]
    .concat(["-days", "2", "-extfile", ext, "-out", cert]));
  return { ca, cert, key };
}

/** Resolves once `child` printed a line matching `re`; rejects if it exits first. */
function waitForLine(child: ChildProcess, output: string[], re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (output.some((l) => re.test(l))) {
        resolve();
        return true;
      }
      return false;
    };
    const onData = (s: Buffer | string) => {
      output.push(...String(s).split("\n").filter((l) => l !== ""));
      if (check()) {
        child.stdout?.off("data", onData);
        child.stderr?.off("data", onData);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      if (!check()) reject(new Error(`exited (${code}) before ${re}:\n${output.join("\n")}`));
    });
  });
}

/**
 * Resolves once 127.0.0.1:`port` accepts a connection. Pebble says nothing once it does, so
 * this tries again after each refusal (for at most 5 s).
 */
async function listening(port: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Pebble does not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts pebble-challtestsrv and Pebble; resolves once Pebble serves its directory. */
export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-pebble-"));
  const tlsFiles = pebbleTls(dir);
  const [dnsPort, listenPort, mgmtPort, ctsMgmt] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const config = join(dir, "pebble.json");
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listenPort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: tlsFiles.cert,
        privateKey: tlsFiles.key,
        httpPort: opts.httpPort,
        tlsPort: opts.tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(opts.validitySeconds === undefined
          ? {}
          : { certificateValidityPeriod: opts.validitySeconds }),
      },
    }),
  );
  const output: string[] = [];
  const cts = spawn("pebble-challtestsrv", [
    "-defaultIPv4",
    "127.0.0.1",
    "-defaultIPv6",
    "",
    "-dns01",
    `127.0.0.1:${dnsPort}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
    "-management",
    `127.0.0.1:${ctsMgmt}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  const ctsOutput: string[] = [];
  await waitForLine(cts, ctsOutput, /Starting management server/);
  const pebble = spawn("pebble", ["-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", ...opts.env },
  });
  try {
    await waitForLine(pebble, output, /ACME directory available at/);
    // Pebble logs that line just before it listens, and listens for management on the side.
    await Promise.all([listening(listenPort), listening(mgmtPort)]);
  } catch (err) {
    cts.kill();
    pebble.kill();
    throw err;
  }
  const stop = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  return {
    directory: `https://127.0.0.1:${listenPort}/dir`,
    caFile: tlsFiles.ca,
    output,
    roots: () =>
      new Promise<string>((resolve, reject) => {
        const ca = readFileSync(tlsFiles.ca, "utf8");
        https.get(`https://127.0.0.1:${mgmtPort}/roots/0`, { ca }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (s: string) => (body += s));
          res.on("end", () => resolve(body));
        }).on("error", reject);
      }),
    close: async () => {
      await Promise.all([stop(pebble), stop(cts)]);
    },
  };
}

/**
 * An HTTPS front for Pebble: it serves Pebble's directory with the new-order URL pointing at
 * itself, and answers new orders as Let's Encrypt does when a limit is hit.
 */
export async function rateLimitingFront(pebble: Pebble): Promise<{
  directory: string;
  ca: string;
  orders: () => number;
  close: () => void;
}> {
  const cert = selfSigned(["127.0.0.1", "localhost"]);
  const target = new URL(pebble.directory);
  const pebbleCa = readFileSync(pebble.caFile, "utf8");
  let orders = 0;
  let self = "";
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/order-plz") {
        orders++;
        res.writeHead(429, {
          "Content-Type": "application/problem+json",
          "Retry-After": "3600",
          "Replay-Nonce": "front-nonce",
        });
        res.end(JSON.stringify({
          type: "urn:ietf:params:acme:error:rateLimited",
          detail: "too many new orders recently",
          status: 429,
        }));
        return;
      }
      const up = https.request({
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: target.host },
        ca: pebbleCa,
      }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on("data", (c: Buffer) => body.push(c));
        upRes.on("end", () => {
          let text = Buffer.concat(body).toString("utf8");
          // Only new orders come here: a signed request's URL must be the one it is sent to.
          if (req.url === target.pathname) {
            text = text.replace(`${target.origin}/order-plz`, `${self}/order-plz`);
          }
          const headers = { ...upRes.headers };
          delete headers["content-length"];
          res.writeHead(upRes.statusCode ?? 502, headers);
          res.end(text);
        });
      });
      up.on("error", () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // localhost: the test certificate names DNS names only, not IP addresses.
  self = `https://localhost:${(server.address() as { port: number }).port}`;
  return {
    directory: `${self}${target.pathname}`,
    ca: cert.cert,
    orders: () => orders,
    close: () => server.close(),
  };
}
