/**
 * Health for a supervised instance: checked once, in the supervisor, on balancers of its own;
 * every up/down change goes to all workers, and the connects that failed for real traffic in
 * a worker (passive health) come back to be counted here.
 *
 * @module
 */

import type { Config } from "../config/types.ts";
import { HealthChecker } from "../health/checker.ts";
import type { Logger } from "../log/logger.ts";
import { Balancer } from "../proxy/balancer.ts";
import { runtime } from "../runtime/mod.ts";
import type { FromWorker, HealthEntry } from "./protocol.ts";

/** The supervisor's balancers and their checker. */
export class SharedHealth {
  #balancers: Map<string, Balancer>;
  readonly #checker: HealthChecker;

  /** `push` sends the whole table to every worker: after a change, and after a reload. */
  constructor(config: Config, log: Logger, readonly push: (servers: HealthEntry[]) => void) {
    this.#balancers = build(config, null);
    this.#checker = new HealthChecker(runtime, log);
  }

  /** The balancers, for /status and /metrics (server health comes from them alone). */
  get balancers(): ReadonlyMap<string, Balancer> {
    return this.#balancers;
  }

  /** Starts checking. */
  watch(): void {
    this.#checker.onChange = () => this.push(this.table());
    this.#checker.watch(this.#balancers);
  }

  /** Checks `config`'s backends from now on (state carries over by name) and pushes it. */
  update(config: Config): void {
    this.#balancers = build(config, this.#balancers);
    this.#checker.watch(this.#balancers);
    this.push(this.table());
  }

  stop(): void {
    this.#checker.stop();
  }

  /** Every server's state, as workers receive it. */
  table(): HealthEntry[] {
    const out: HealthEntry[] = [];
    for (const [backend, bal] of this.#balancers) {
      for (const s of bal.servers) {
        out.push({ backend, server: s.config.name, address: s.config.address.text, up: s.up });
      }
    }
    return out;
  }

  /** A worker's connect failed for real traffic: the checker counts it like its own. */
  failure(m: Extract<FromWorker, { t: "failure" }>): void {
    const bal = this.#balancers.get(m.backend);
    const s = bal?.servers.find((x) =>
      x.config.name === m.server && x.config.address.text === m.address
    );
    if (bal !== undefined && s !== undefined) bal.onFailure?.(s, m.reason);
  }
}

function build(config: Config, previous: Map<string, Balancer> | null): Map<string, Balancer> {
  const out = new Map<string, Balancer>();
  for (const [name, b] of config.backends) out.set(name, new Balancer(b, previous?.get(name)));
  return out;
}
