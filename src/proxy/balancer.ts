/**
 * Server selection for one backend: roundrobin (smooth weighted, as nginx does it),
 * leastconn, source (client address hash) and first. Servers marked down are skipped;
 * `exclude` lets a retry move on to a server not tried yet.
 *
 * State is per process: with several workers each keeps its own rotation (documented).
 *
 * @module
 */

import type { BackendConfig, ServerConfig } from "../config/types.ts";

/** Live state of one server. */
export class ServerState {
  /** false once health checks (or passive failures) mark it down. */
  up = true;
  /** Connections currently open to it and in use. */
  active = 0;
  /** Connections open to it and idle, kept for reuse (idle_pool.ts). */
  idle = 0;
  /** Connections made to it. */
  total = 0;
  /** Consecutive connect failures (passive health). */
  failures = 0;
  /** Consecutive failed health checks (active and passive). */
  checkFailures = 0;
  /** Consecutive passed health checks. */
  checkSuccesses = 0;
  /** Why the last check failed, for /status. */
  lastFailure: string | null = null;
  /** Smooth weighted round-robin accumulator. */
  current = 0;
  constructor(readonly config: ServerConfig) {}
}

function sameServer(a: ServerConfig, b: ServerConfig): boolean {
  return a.name === b.name && a.address.text === b.address.text && a.weight === b.weight;
}

/** Picks servers for one backend. */
export class Balancer {
  readonly servers: readonly ServerState[];
  /** Told about connects that failed for real traffic (the health checker counts them). */
  onFailure: ((s: ServerState, reason: string) => void) | null = null;
  /**
   * `previous`: the same backend under the config before a reload; servers whose settings are
   * unchanged keep their state (health, live connections), so a reload changes nothing for them.
   */
  constructor(readonly config: BackendConfig, previous?: Balancer) {
    this.servers = config.servers.map((s) => {
      const old = previous?.servers.find((o) => sameServer(o.config, s));
      return old ?? new ServerState(s);
    });
  }

  /** The family filter of the pick under way (pick is synchronous). */
  #family: 4 | 6 | null = null;

  /**
   * The next server, or null when every server is down or excluded. `clientBytes` feeds the
   * `source` algorithm (the client's address bytes). `family`: only servers of that address
   * family (or given by name) are eligible, for transparent sources (`source: usesrc`).
   */
  pick(
    clientBytes: Uint8Array | null,
    exclude: ReadonlySet<ServerState> | null,
    family: 4 | 6 | null = null,
  ): ServerState | null {
    this.#family = family;
    switch (this.config.balance) {
      case "roundrobin":
        return this.#roundRobin(exclude);
      case "leastconn":
        return this.#leastConn(exclude);
      case "source":
        return this.#source(clientBytes, exclude);
      case "first":
        return this.#first(exclude);
    }
  }

  #eligible(s: ServerState, exclude: ReadonlySet<ServerState> | null): boolean {
    const f = s.config.address.family;
    return s.up && s.config.weight > 0 && (exclude === null || !exclude.has(s)) &&
      (this.#family === null || f === 0 || f === this.#family);
  }

  #roundRobin(exclude: ReadonlySet<ServerState> | null): ServerState | null {
    let best: ServerState | null = null;
    let total = 0;
    for (const s of this.servers) {
      if (!this.#eligible(s, exclude)) continue;
      s.current += s.config.weight;
      total += s.config.weight;
      if (best === null || s.current > best.current) best = s;
    }
    if (best !== null) best.current -= total;
    return best;
  }

  #leastConn(exclude: ReadonlySet<ServerState> | null): ServerState | null {
    let best: ServerState | null = null;
    for (const s of this.servers) {
      if (!this.#eligible(s, exclude)) continue;
      // Compare active/weight without dividing: a.active * b.weight < b.active * a.weight.
      if (best === null || s.active * best.config.weight < best.active * s.config.weight) best = s;
    }
    return best;
  }

  #source(
    clientBytes: Uint8Array | null,
    exclude: ReadonlySet<ServerState> | null,
  ): ServerState | null {
    let total = 0;
    for (const s of this.servers) if (this.#eligible(s, exclude)) total += s.config.weight;
    if (total === 0) return null;
    // FNV-1a over the address: the same client lands on the same server while the set of
    // live servers stays the same.
    let h = 0x811c9dc5;
    if (clientBytes !== null) {
      for (let i = 0; i < clientBytes.length; i++) h = Math.imul(h ^ clientBytes[i], 0x01000193);
    }
    let slot = (h >>> 0) % total;
    for (const s of this.servers) {
      if (!this.#eligible(s, exclude)) continue;
      slot -= s.config.weight;
      if (slot < 0) return s;
    }
    return null;
  }

  #first(exclude: ReadonlySet<ServerState> | null): ServerState | null {
    for (const s of this.servers) if (this.#eligible(s, exclude)) return s;
    return null;
  }
}
