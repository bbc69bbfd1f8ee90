/**
 * Active health checks: every server of a backend with `health_check` is probed every
 * interval (TCP connect, or an HTTP GET expecting a status), and marked down after `fall`
 * failures in a row, up again after `rise` successes. Passive failures (connects that fail for
 * real traffic, reported through `Balancer.onFailure`) count toward `fall` too. Changes are logged and show in /metrics and /status.
 *
 * @module
 */

import type { BackendConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import type { Runtime } from "../runtime/types.ts";
import { encodeProxyV1, encodeProxyV2 } from "../proxy_protocol/encode.ts";
import type { Balancer, ServerState } from "../proxy/balancer.ts";

/** Longest status line an HTTP check reads before giving up. */
const MAX_STATUS_LINE = 1024;

/** Runs one probe; resolves with null on success or the failure reason. */
async function probe(rt: Runtime, b: BackendConfig, s: ServerState): Promise<string | null> {
  const hc = b.healthCheck!;
  const { host, port } = s.config.address;
  let conn;
  try {
    conn = await rt.connect({ host, port, timeoutMs: hc.timeoutMs });
  } catch (err) {
    return (err as Error).message;
  }
  // The router's own connections announce themselves as LOCAL (no client behind them).
  if (b.proxyProtocol === "v1") conn.write(encodeProxyV1(null));
  if (b.proxyProtocol === "v2") conn.write(encodeProxyV2({ command: "local" }));
  if (hc.http === undefined) {
    conn.close();
    return null;
  }
  const http = hc.http;
  return await new Promise<string | null>((resolve) => {
    let text = "";
    const done = (r: string | null) => {
      clearTimeout(timer);
      conn.close();
      resolve(r);
    };
    const timer = setTimeout(() => done(`no HTTP answer within ${hc.timeoutMs} ms`), hc.timeoutMs);
    conn.start({
      data(chunk) {
        text += String.fromCharCode(...chunk.subarray(0, MAX_STATUS_LINE));
        const eol = text.indexOf("\r\n");
        if (eol < 0 && text.length < MAX_STATUS_LINE) return;
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
        if (m === null) done(`not an HTTP response: ${JSON.stringify(text.slice(0, 40))}`);
        else if (Number(m[1]) !== http.expect) done(`status ${m[1]}, expected ${http.expect}`);
        else done(null);
      },
      end: () => done("closed before answering"),
      drain() {},
      error: (err) => done(err.message),
    });
    conn.write(new TextEncoder().encode(
      `GET ${http.path} HTTP/1.1\r\nHost: ${
        http.host ?? host
      }\r\nUser-Agent: switchyard-health\r\n` +
        `Connection: close\r\n\r\n`,
    ));
  });
}

/** Health state transitions shared by active probes and passive failures. */
export class HealthChecker {
  #timers: ReturnType<typeof setInterval>[] = [];
  #inFlight = new Set<ServerState>();
  /** Told after every up/down change (a supervisor passes it on to its workers). */
  onChange: ((backend: BackendConfig, s: ServerState) => void) | null = null;

  constructor(readonly rt: Runtime, readonly log: Logger) {}

  /** Checks the servers of `backends` from now on (replacing what was checked before). */
  watch(backends: ReadonlyMap<string, Balancer>): void {
    this.stop();
    for (const bal of backends.values()) {
      const hc = bal.config.healthCheck;
      if (hc === null) {
        // A reload removed its health_check: nothing would ever mark a down server up again.
        for (const s of bal.servers) if (!s.up) this.#set(bal.config, s, true, "no health check");
        continue;
      }
      bal.onFailure = (s, reason) => this.#record(bal.config, s, reason);
      for (const s of bal.servers) {
        const run = () => this.#check(bal.config, s);
        run();
        this.#timers.push(setInterval(run, hc.intervalMs));
      }
    }
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  async #check(b: BackendConfig, s: ServerState): Promise<void> {
    if (this.#inFlight.has(s)) return;
    this.#inFlight.add(s);
    try {
      this.#record(b, s, await probe(this.rt, b, s));
    } finally {
      this.#inFlight.delete(s);
    }
  }

  #record(b: BackendConfig, s: ServerState, failure: string | null): void {
    const hc = b.healthCheck!;
    if (failure === null) {
      s.checkFailures = 0;
      s.checkSuccesses++;
      if (!s.up && s.checkSuccesses >= hc.rise) this.#set(b, s, true, "check passed");
      return;
    }
    s.checkSuccesses = 0;
    s.checkFailures++;
    s.lastFailure = failure;
    if (s.up && s.checkFailures >= hc.fall) this.#set(b, s, false, failure);
  }

  #set(b: BackendConfig, s: ServerState, up: boolean, reason: string): void {
    s.up = up;
    this.log.event(up ? "info" : "warn", up ? "server up" : "server down", {
      backend: b.name,
      server: s.config.name,
      reason,
    });
    this.onChange?.(b, s);
  }
}
