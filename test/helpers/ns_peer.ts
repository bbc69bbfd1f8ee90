/**
 * A test peer run inside a network namespace (`ip netns exec NS <runtime> ns_peer.ts ...`),
 * since the test process itself stays in the root namespace. Not a test file.
 *
 * serve ADDR:PORT...   Listen on each address; print "ready" once all listen. Every connection
 *                      gets one JSON object {peer, local, first}: `peer` is the address the
 *                      connection came from (what transparency is about), `first` the first
 *                      bytes received (latin1). An HTTP request gets it as a 200 response body;
 *                      anything else as a line. A silent client gets it after 300 ms.
 * connect HOST PORT [--send-hex HEX | --send-file FILE]
 *                      Connect, send, read to the end; print {local, response} (exit 0), or
 *                      {error} (exit 1).
 */

import { readFileSync } from "node:fs";
import net from "node:net";
import process from "node:process";

const SILENCE_MS = 300;
const CLIENT_TIMEOUT_MS = 8000;

function hostPort(host: string | undefined, port: number | undefined): string {
  const h = host ?? "?";
  return h.includes(":") ? `[${h}]:${port}` : `${h}:${port}`;
}

function parseAddr(text: string): { host: string; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (m === null) throw new Error(`bad address ${text}`);
  return { host: m[1], port: Number(m[2]) };
}

function serve(addrs: string[]): void {
  let pending = addrs.length;
  for (const text of addrs) {
    const { host, port } = parseAddr(text);
    const server = net.createServer((sock) => {
      const chunks: Uint8Array[] = [];
      let done = false;
      const info = () => ({
        peer: hostPort(sock.remoteAddress, sock.remotePort),
        local: hostPort(sock.localAddress, sock.localPort),
        first: Buffer.concat(chunks).toString("latin1").slice(0, 600),
      });
      const reply = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const i = info();
        if (/^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/.test(i.first)) {
          const body = JSON.stringify(i);
          sock.end(
            `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${
              Buffer.byteLength(body)
            }\r\nconnection: close\r\n\r\n${body}`,
          );
        } else sock.end(JSON.stringify(i) + "\n");
      };
      const timer = setTimeout(reply, SILENCE_MS);
      sock.on("data", (c: Uint8Array) => {
        chunks.push(c);
        const text = Buffer.concat(chunks).toString("latin1");
        // An HTTP head is answered once complete; anything else on its first bytes.
        if (/^[A-Z]+ /.test(text) && !text.includes("\r\n\r\n")) return;
        reply();
      });
      sock.on("error", () => {});
    });
    server.on("error", (err) => {
      process.stderr.write(`listen ${text}: ${err.message}\n`);
      process.exit(1);
    });
    server.listen({ host, port }, () => {
      if (--pending === 0) process.stdout.write("ready\n");
    });
  }
}

function connect(args: string[]): void {
  const [host, portText, flag, value] = args;
  let payload: Uint8Array | null = null;
  if (flag === "--send-hex") payload = Buffer.from(value, "hex");
  else if (flag === "--send-file") payload = readFileSync(value);
  const chunks: Uint8Array[] = [];
  let local = "";
  const fail = (msg: string) => {
    process.stdout.write(JSON.stringify({ error: msg, local }) + "\n");
    process.exit(1);
  };
  const timer = setTimeout(() => fail("timed out"), CLIENT_TIMEOUT_MS);
  const sock = net.connect({ host, port: Number(portText) }, () => {
    local = hostPort(sock.localAddress, sock.localPort);
    if (payload !== null) sock.write(payload);
  });
  sock.on("data", (c: Uint8Array) => chunks.push(c));
  sock.on("error", (err) => fail(err.message));
  sock.on("close", () => {
    clearTimeout(timer);
    const response = Buffer.concat(chunks).toString("latin1");
    process.stdout.write(JSON.stringify({ local, response }) + "\n");
    process.exit(0);
  });
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === "serve") serve(rest);
else if (mode === "connect") connect(rest);
else {
  process.stderr.write("usage: ns_peer.ts serve ADDR:PORT... | connect HOST PORT [...]\n");
  process.exit(2);
}
