/**
 * Real clients (curl, openssl) and raw sockets for integration tests.
 */

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";

/** The first port the kernel hands out as a connection's source port. */
function ephemeralLow(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "latin1").split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

/**
 * A port that was free on `host` a moment ago, below the ephemeral range. Not one bound to 0:
 * the kernel also gives those out as source ports, so another connection could take it before
 * its user binds it, or a connect to it while nothing listens could connect to itself (seen:
 * "admin: cannot listen on 127.0.0.1:32777" while a test polled that port every 2 ms).
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  // A machine whose ephemeral range starts low leaves no such ports: any free one then.
  const low = ephemeralLow();
  const top = low > 11000 && low <= 65536 ? low : 60000;
  for (;;) {
    const port = 10000 + Math.floor(Math.random() * (top - 10000));
    // Free now is not enough: a test often takes several ports before binding any of them.
    if (handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
    if (ok) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Ports freePort gave this process: never given twice. */
const handedOut = new Set<number>();

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function exec(
  cmd: string,
  args: string[],
  timeoutMs = 15_000,
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** curl to https://NAME:PORT/ through the router, trusting `caFile`. */
export function curlTls(name: string, port: number, caFile: string, extra: string[] = []) {
  return exec("curl", [
    "-sS",
    "--max-time",
    "10",
    "--resolve",
    `${name}:${port}:127.0.0.1`,
    "--cacert",
    caFile,
    ...extra,
    `https://${name}:${port}/`,
  ]);
}

/** A raw client socket with helpers to read everything and to watch for close. */
export class RawClient {
  readonly socket: net.Socket;
  readonly received: Uint8Array[] = [];
  ended = false;
  closed = false;
  error: Error | null = null;
  /** The local port (kept: a closed socket no longer reports it). */
  readonly port: number;
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.port = socket.localPort!;
    socket.on("data", (c: Uint8Array) => {
      this.received.push(c);
      this.#wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.#wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
    socket.on("error", (e) => {
      this.error = e;
      this.#wake();
    });
  }

  /** Connects to 127.0.0.1:port (optionally from a given local address). */
  static connect(port: number, localAddress?: string): Promise<RawClient> {
    return RawClient.connectTo("127.0.0.1", port, localAddress);
  }

  /** Connects to `host:port`, from `localAddress` when given. */
  static connectTo(host: string, port: number, localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port, localAddress, allowHalfOpen: true });
      s.once("connect", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `cond` holds, re-checked on every event. */
  until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          resolve();
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  get text(): string {
    return this.bytes.toString("latin1");
  }

  /** Waits until the other side closed (FIN, or a reset). */
  closedByPeer(what: string, timeoutMs?: number): Promise<void> {
    return this.until(() => this.ended || this.closed || this.error !== null, what, timeoutMs);
  }

  write(b: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(b, (e) => (e ? reject(e) : resolve()))
    );
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Connects to 127.0.0.1:port: "refused", or "accepted" (then closes at once). */
export function tryConnect(port: number): Promise<"refused" | "accepted"> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve("accepted");
    });
    s.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ECONNREFUSED") resolve("refused");
      else reject(e);
    });
  });
}
