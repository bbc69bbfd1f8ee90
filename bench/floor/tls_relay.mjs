/**
 * The least a TLS-terminating proxy on node:tls can do per request: decrypt, copy the bytes
 * to the backend and back, no HTTP parsing, no routing, no logging. Runs on Deno and Bun.
 * `duplex`: the TLSSocket runs over a JS Duplex fed from the accepted socket, as it must when
 * the ClientHello was read first (SNI routing, Switchyard's design); `native`: over the
 * accepted socket itself.
 *
 *   deno run -A bench/floor/tls_relay.mjs duplex|native LISTEN_PORT BACKEND_PORT CERT KEY
 *   bun bench/floor/tls_relay.mjs duplex|native LISTEN_PORT BACKEND_PORT CERT KEY
 */
import fs from "node:fs";
import net from "node:net";
import process from "node:process";
import { Duplex } from "node:stream";
import tls from "node:tls";

const [mode, listenPort, backendPort, cert, key] = process.argv.slice(2);
const secureContext = tls.createSecureContext({
  cert: fs.readFileSync(cert),
  key: fs.readFileSync(key),
});

/** A Duplex over `raw`, with backpressure both ways. */
function duplexOver(raw) {
  const d = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk, _encoding, done) {
      raw.write(chunk, done);
    },
    final(done) {
      raw.end();
      done();
    },
  });
  raw.on("data", (b) => {
    if (!d.push(b)) raw.pause();
  });
  raw.on("end", () => d.push(null));
  raw.on("error", () => d.destroy());
  return d;
}

net.createServer({ allowHalfOpen: true }, (raw) => {
  raw.setNoDelay(true);
  const client = new tls.TLSSocket(mode === "duplex" ? duplexOver(raw) : raw, {
    isServer: true,
    secureContext,
  });
  const server = net.connect({ host: "127.0.0.1", port: Number(backendPort), allowHalfOpen: true });
  server.setNoDelay(true);
  client.pipe(server);
  server.pipe(client);
  const closeAll = () => {
    client.destroy();
    server.destroy();
    raw.destroy();
  };
  for (const s of [client, server]) {
    s.on("error", closeAll);
    s.on("close", closeAll);
  }
}).listen(Number(listenPort), "127.0.0.1");

process.on("SIGTERM", () => process.exit(0));
