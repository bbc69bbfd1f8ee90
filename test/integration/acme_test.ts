/**
 * Automatic certificates against a real ACME server: Pebble (Let's Encrypt's test CA) validates
 * the router's answers to HTTP-01 and TLS-ALPN-01 over real sockets, and curl then reaches a
 * backend through the terminating listener with the certificate the router obtained.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { events } from "../helpers/admin.ts";
import { curlTls, freePort } from "../helpers/clients.ts";
import { type Pebble, startPebble } from "../helpers/pebble.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";

const NAMES = ["a.acme.test", "b.acme.test"];

/** A backend that answers with the Host it was asked for. */
async function hostEcho(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => res.end(`backend saw ${req.headers.host}\n`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port };
}

/** Waits for a log event matching `pred` (ACME orders take seconds, not milliseconds). */
function event(
  router: RouterProcess,
  pred: (e: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  return router.waitFor(() => events(router).find(pred), what, timeoutMs);
}

/** The router config: http on `httpPort` (HTTP-01), tls on `tlsPort` terminating into it. */
function routerConfig(o: {
  pebble: Pebble;
  storage: string;
  httpPort: number;
  tlsPort: number;
  backend: number;
  challenges: string;
}): string {
  return `
acme:
  email: ops@acme.test
  directory: ${o.pebble.directory}
  ca: ${o.pebble.caFile}
  storage: ${o.storage}
  challenges: ${o.challenges}
certificates:
  - acme: [${NAMES.join(", ")}]
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

/** The folders of stored certificates for NAMES (one per certificate obtained). */
function stored(storage: string): string[] {
  const base = join(storage, "certificates");
  const [dir] = readdirSync(base);
  return readdirSync(join(base, dir, NAMES[0])).filter((f) => /^\d+$/.test(f));
}

for (const challenge of ["http-01", "tls-alpn-01"]) {
  describe(`acme: ${challenge} only`, () => {
    let pebble: Pebble;
    let router: RouterProcess | undefined;
    let backend: { server: http.Server; port: number };
    let roots: string;
    let config: string;
    let tlsPort: number;
    const storage = mkdtempSync(join(tmpdir(), "switchyard-acme-"));

    before(async () => {
      backend = await hostEcho();
      const httpPort = await freePort();
      tlsPort = await freePort();
      pebble = await startPebble({ httpPort, tlsPort });
      config = routerConfig({
        pebble,
        storage,
        httpPort,
        tlsPort,
        backend: backend.port,
        challenges: `[${challenge}]`,
      });
      router = await startRouter(config);
      const rootsFile = join(storage, "..", `${challenge}-pebble-roots.pem`);
      writeFileSync(rootsFile, await pebble.roots());
      roots = rootsFile;
    });

    after(async () => {
      await router?.stop();
      backend?.server.close();
      await pebble?.close();
    });

    test("obtains one certificate for both names; curl trusts it for each", async () => {
      const obtained = await event(router!, (e) => e.msg === "certificate obtained", "an order");
      assert.deepEqual(obtained.names, NAMES);
      for (const name of NAMES) {
        const r = await curlTls(name, tlsPort, roots);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `backend saw ${name}:${tlsPort}\n`);
      }
    });

    test("a restart loads the certificate from storage and orders nothing", async () => {
      await router!.stop();
      router = await startRouter(config);
      const loaded = await event(
        router,
        (e) => e.msg === "certificate loaded" || e.msg === "certificate obtained",
        "the stored certificate",
      );
      assert.equal(loaded.msg, "certificate loaded");
      const r = await curlTls(NAMES[1], tlsPort, roots);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!events(router).some((e) => e.msg === "certificate obtained"));
      assert.deepEqual(stored(storage), ["1"]);
    });
  });
}
