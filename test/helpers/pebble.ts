/**
 * Pebble, Let's Encrypt's test ACME server, with pebble-challtestsrv as its DNS (every name
 * resolves to 127.0.0.1), for tests in which the router obtains real certificates. Pebble
 * validates HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort` of 127.0.0.1: the router's
 * listeners must be bound there.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
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
  } catch (err) {
    cts.kill();
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
