/**
 * Real test peers on 127.0.0.1 port 0, written with node:net / node:tls so that they run the
 * same under deno test and bun test and share no code with the router under test.
 */

import { createHash } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import { RawClient } from "./clients.ts";

/** A running test server. */
export interface TestServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function wrap(
  server: net.Server,
  port: number,
  counter: { n: number },
  sockets: Set<net.Socket>,
): TestServer {
  return {
    port,
    get accepted() {
      return counter.n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Tracks sockets so close() can end them; counts accepts. */
function tracked<T extends net.Server>(
  make: (onConn: (s: net.Socket) => void) => T,
  handle: (s: net.Socket) => void,
) {
  const counter = { n: 0 };
  const sockets = new Set<net.Socket>();
  const server = make((s) => {
    counter.n++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    handle(s);
  });
  return { server, counter, sockets };
}

/** Echoes every byte; after the client's FIN, finishes echoing and sends its own FIN. */
export async function echoServer(): Promise<TestServer> {
  const { server, counter, sockets } = tracked(
    (f) => net.createServer({ allowHalfOpen: true }, f),
    (s) => {
      s.pipe(s);
    },
  );
  return wrap(server, await listen(server), counter, sockets);
}

/** Reads until the client's FIN, then ends; it never speaks first. */
export async function quietSink(): Promise<TestServer> {
  const { server, counter, sockets } = tracked(
    (f) => net.createServer({ allowHalfOpen: true }, f),
    (s) => {
      s.on("data", () => {});
      s.on("end", () => s.end());
    },
  );
  return wrap(server, await listen(server), counter, sockets);
}

/**
 * Sends its name on connect, then reports what it received: after the client's FIN it
 * writes "<bytes> <sha256 hex>\n" and ends. Proves routing (the name) and exact delivery.
 */
export async function namedSink(
  name: string,
  onBytes?: (b: Uint8Array) => void,
): Promise<TestServer> {
  const { server, counter, sockets } = tracked(
    (f) => net.createServer({ allowHalfOpen: true }, f),
    (s) => {
      const h = createHash("sha256");
      let n = 0;
      s.write(`${name}\n`);
      s.on("data", (c: Uint8Array) => {
        h.update(c);
        n += c.length;
        onBytes?.(c);
      });
      s.on("end", () => s.end(`${n} ${h.digest("hex")}\n`));
    },
  );
  return wrap(server, await listen(server), counter, sockets);
}

/** Sends `banner` to every connection, then closes it. */
export async function bannerServer(banner: string): Promise<TestServer> {
  const { server, counter, sockets } = tracked(
    (f) => net.createServer(f),
    (s) => {
      s.end(banner);
    },
  );
  return wrap(server, await listen(server), counter, sockets);
}

/** What a TLS backend saw of one handshake. */
export interface TlsSeen {
  servername: string | false | null | undefined;
  alpn: string | false | null;
}

/**
 * An HTTPS server that answers every request with its own name as the body, and records the
 * SNI and ALPN of each handshake it completed.
 */
export async function namedTlsServer(
  name: string,
  cert: { cert: string; key: string },
  alpn: string[] = ["http/1.1"],
): Promise<TestServer & { seen: TlsSeen[] }> {
  const seen: TlsSeen[] = [];
  const { server, counter, sockets } = tracked(
    (f) => tls.createServer({ ...cert, ALPNProtocols: alpn }, f),
    (s) => {
      const t = s as tls.TLSSocket;
      seen.push({ servername: t.servername, alpn: t.alpnProtocol });
      let head = "";
      t.on("data", (c: Uint8Array) => {
        head += new TextDecoder().decode(c);
        if (!head.includes("\r\n\r\n")) return;
        const body = `${name}\n`;
        t.end(
          `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
    },
  );
  const port = await listen(server);
  return Object.assign(wrap(server, port, counter, sockets), { seen });
}

/** A client of a {@link namedSink} through the router, mid-transfer. */
export class SinkClient {
  readonly hash = createHash("sha256");
  sent = 0;
  private constructor(readonly c: RawClient, readonly name: string) {}

  /** Connects and reads the sink's greeting (its name). */
  static async open(port: number, localAddress?: string): Promise<SinkClient> {
    const c = await RawClient.connect(port, localAddress);
    await c.until(() => c.text.includes("\n") || c.ended || c.closed, "the sink's greeting");
    const nl = c.text.indexOf("\n");
    if (nl < 0) {
      c.destroy();
      throw new Error(`closed before the greeting (${c.error?.message ?? "no error"})`);
    }
    return new SinkClient(c, c.text.slice(0, nl));
  }

  async send(data: Uint8Array): Promise<void> {
    this.hash.update(data);
    this.sent += data.length;
    await this.c.write(data);
  }

  /** Sends FIN, waits for the sink's report, checks it is exactly what was sent. */
  async finish(): Promise<void> {
    const c = this.c;
    c.end();
    await c.until(() => c.ended || c.closed, "the sink's report");
    c.destroy();
    const want = `${this.name}\n${this.sent} ${this.hash.digest("hex")}\n`;
    if (c.text !== want) {
      throw new Error(
        `sink ${this.name} reported ${JSON.stringify(c.text)}, want ${JSON.stringify(want)} (${
          c.error?.message ?? "no socket error"
        })`,
      );
    }
  }
}
