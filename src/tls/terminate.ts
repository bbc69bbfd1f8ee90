/**
 * TLS termination on a connection whose ClientHello was already read by the sniffer: the
 * bytes are replayed into node:tls through a ConnDuplex (Deno and Bun cannot start TLS on a
 * socket that has been read from), and the decrypted stream comes back as a `Conn`.
 *
 * @module
 */

import tls from "node:tls";
import type { Conn, Runtime } from "../runtime/types.ts";
import { after } from "../runtime/clock.ts";
import { ConnDuplex } from "./conn_duplex.ts";

/**
 * Runs the server side of a handshake over `client` (with `hello` already read from it).
 * Calls `done` once: with the decrypted connection and the ALPN protocol chosen (h2 or
 * http/1.1, null when the client offered none), or with why the handshake failed (the
 * client is closed then). `alpn` is what is offered, in order of preference; `timeoutMs`
 * bounds the handshake; `rt` wraps the decrypted stream.
 */
export function terminateTls(
  rt: Runtime,
  client: Conn,
  hello: Uint8Array,
  secureContext: tls.SecureContext,
  timeoutMs: number,
  alpn: readonly string[],
  done: (r: { conn: Conn; alpn: string | null } | { error: string }) => void,
): void {
  const socket = new tls.TLSSocket(new ConnDuplex(client, hello), {
    isServer: true,
    secureContext,
    ALPNProtocols: [...alpn],
  });
  let settled = false;
  const settle = (r: { conn: Conn; alpn: string | null } | { error: string }) => {
    if (settled) return;
    settled = true;
    deadline.cancel();
    if ("error" in r) socket.destroy();
    done(r);
  };
  // On the coarse clock: a setTimeout per handshake costs more on Deno.
  const deadline = after(
    timeoutMs,
    () => settle({ error: `TLS handshake not done within ${timeoutMs} ms` }),
  );
  socket.once(
    "secure",
    () =>
      settle({
        conn: rt.wrapStream(socket, client.remote, client.local),
        alpn: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : null,
      }),
  );
  // Kept for the socket's life: an 'error' without a listener would crash the process.
  socket.on("error", (err: Error) => settle({ error: `TLS handshake: ${err.message}` }));
  socket.once("close", () => settle({ error: "closed during the TLS handshake" }));
}
