/**
 * TLS to a backend (`tls:` on a backend): the client side of a handshake over an already
 * connected `Conn`, with SNI and certificate verification as configured.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import tls from "node:tls";
import type { BackendTls } from "../config/types.ts";
import { parseIp } from "../net/ip.ts";
import type { Conn, Runtime } from "../runtime/types.ts";
import { after } from "../runtime/clock.ts";
import { ConnDuplex } from "./conn_duplex.ts";

/** CA bundles by config object: read once per config generation, again after a reload. */
const caFiles = new WeakMap<BackendTls, string>();

function caOf(cfg: BackendTls): string | undefined {
  if (cfg.ca === "system") return undefined;
  let pem = caFiles.get(cfg);
  if (pem === undefined) caFiles.set(cfg, pem = readFileSync(cfg.ca, "utf8"));
  return pem;
}

/**
 * Handshakes over `conn` as a client, sending `name` as SNI (none for an IP literal) and
 * verifying the certificate against it unless `verify: false`; `rt` wraps the decrypted stream.
 * `alpn` is the one protocol offered (an HTTP/2 backend must select h2).
 * Rejects with the reason.
 */
export function originateTls(
  rt: Runtime,
  conn: Conn,
  cfg: BackendTls,
  name: string,
  timeoutMs: number,
  alpn: "h2" | "http/1.1" = "http/1.1",
): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let ca: string | undefined;
    try {
      ca = caOf(cfg);
    } catch (err) {
      conn.close();
      reject(new Error(`cannot read ca "${cfg.ca}": ${(err as Error).message}`));
      return;
    }
    const socket = tls.connect({
      socket: new ConnDuplex(conn, null),
      servername: parseIp(name) === null ? name : undefined,
      host: name,
      ca,
      rejectUnauthorized: cfg.verify,
      ALPNProtocols: [alpn],
    });
    let settled = false;
    const fail = (why: string) => {
      // After the handshake, errors belong to the connection's owner.
      if (settled) return;
      settled = true;
      deadline.cancel();
      socket.destroy();
      reject(new Error(`TLS to backend as "${name}": ${why}`));
    };
    // On the coarse clock, as the terminating side's: a setTimeout per handshake costs more on
    // Deno.
    const deadline = after(timeoutMs, () => fail(`no handshake within ${timeoutMs} ms`));
    socket.once("secureConnect", () => {
      // HTTP/1.1 servers often select no protocol; an HTTP/2 one must say h2.
      if (alpn === "h2" && socket.alpnProtocol !== "h2") {
        fail(`the server did not select ALPN h2 (got ${JSON.stringify(socket.alpnProtocol)})`);
        return;
      }
      settled = true;
      deadline.cancel();
      resolve(rt.wrapStream(socket, conn.remote, conn.local));
    });
    // Kept for the socket's life: an 'error' without a listener would crash the process.
    socket.on("error", (err: Error) => fail(err.message));
  });
}
