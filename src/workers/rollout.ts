/**
 * How a config reaches the workers, as text the supervisor validated. Workers must share each
 * port, so where the kernel picks one (port 0) one worker binds first and the others bind the
 * ports it got:
 * - start: the first worker admitted binds alone; the others wait until it is ready (or gone);
 * - reload: the first ready worker reloads first (a bind failure stops the reload before
 *   anything changed anywhere, and new port-0 listeners get its ports), then the others; a
 *   worker that cannot apply it is drained and restarted on the new config.
 *
 * @module
 */

import type { Config } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import type { ValidLoad } from "../server/file_reload.ts";
import type { AcmeState, FromWorker, HealthEntry, SocketEntry } from "./protocol.ts";
import type { Slot, Slots } from "./slots.ts";

/** How long a worker may take to apply a reload. */
const RELOAD_TIMEOUT_MS = 30_000;

/** Whether some bind of `config` lets the kernel pick the port. */
function hasPortZero(config: Config): boolean {
  return [...config.listeners.values()].some((l) => l.bind.some((b) => b.port === 0));
}

/** What a rollout needs of the supervisor. */
export interface RolloutHost {
  readonly file: string;
  readonly slots: Slots;
  readonly log: Logger;
  /** Whether the supervisor is draining: no worker starts or is restarted any more. */
  draining(): boolean;
  /** Every server's health, for a worker brought up to date. */
  health(): HealthEntry[];
  /** The ACME certificates and pending challenges, for a worker that starts. */
  acme(): AcmeState;
  /** A reload's config is now the instance's: health checks follow it. */
  committed(config: Config): void;
}

/** The config the workers serve, and its way to them. */
export class Rollout {
  /** The config the workers serve (or are being brought to). */
  config: Config;
  /** Its text, as read and validated once. */
  source: string;
  /** Bumped on every committed reload. */
  gen = 0;
  /** The sockets of the last worker that started or reloaded on `#portsGen`. */
  ports: readonly SocketEntry[] = [];
  #portsGen = -1;
  /** The worker binding alone to learn port-0 ports; others wait in `#held`. */
  #leader: Slot | null = null;
  #held: Slot[] = [];

  constructor(readonly host: RolloutHost, config: Config, source: string) {
    this.config = config;
    this.source = source;
  }

  /**
   * A worker that reads messages gets its config, or is held back while another worker learns
   * the ports, or (shutting down, or scaled away) gets a drain.
   */
  admit(slot: Slot): void {
    if (this.host.draining() || slot.retiring) {
      slot.admitted = true;
      slot.state = "draining";
      const signal = this.host.draining() ? "shutdown" : "scaled down";
      this.host.slots.send(slot, { t: "drain", signal });
      return;
    }
    if (this.#portsGen !== this.gen && hasPortZero(this.config)) {
      // Port-0 binds of this config have no port yet: one worker binds first, alone.
      if (this.#leader !== null && this.#leader !== slot) {
        if (!this.#held.includes(slot)) this.#held.push(slot);
        return;
      }
      this.#leader = slot;
    }
    slot.admitted = true;
    slot.gen = this.gen;
    this.host.slots.send(slot, {
      t: "start",
      file: this.host.file,
      source: this.source,
      ports: this.ports,
      health: this.host.health(),
      acme: this.host.acme(),
    });
  }

  /** The leader is done (ready or gone): admit the workers it held back. */
  #release(): void {
    this.#leader = null;
    const held = this.#held;
    this.#held = [];
    for (const s of held) if (s.child !== null) this.admit(s);
  }

  /** `slot` serves on `sockets`: the ports the others bind, when it has the current config. */
  ready(slot: Slot, sockets: readonly SocketEntry[]): void {
    if (slot.gen === this.gen) {
      this.ports = sockets;
      this.#portsGen = this.gen;
    }
    if (this.#leader === slot) this.#release();
  }

  /** `slot`'s worker is gone: it holds no one back. */
  gone(slot: Slot): void {
    this.#held = this.#held.filter((s) => s !== slot);
    if (this.#leader === slot) this.#release();
  }

  /**
   * Brings every ready worker to `loaded`, the first one first; rejects (nothing changed) when
   * that one cannot apply it.
   */
  async apply(loaded: ValidLoad): Promise<void> {
    const slots = this.host.slots;
    const leader = slots.list.find((s) => s.state === "ready" && !s.retiring);
    let sockets: readonly SocketEntry[] | null = null;
    if (leader !== undefined) {
      const r = await this.#reload(leader, loaded.source);
      if (r?.t !== "reloaded" || !r.ok) {
        throw new Error(r?.t === "reloaded" ? r.error : `worker ${leader.id} did not answer`);
      }
      sockets = r.sockets;
    }
    this.config = loaded.config;
    this.source = loaded.source;
    this.gen++;
    if (leader !== undefined) leader.gen = this.gen;
    if (sockets !== null) {
      this.ports = sockets;
      this.#portsGen = this.gen;
    }
    this.host.committed(loaded.config);
    const others = slots.list.filter((s) => s !== leader && s.state === "ready" && !s.retiring);
    await Promise.all(others.map((s) => this.sync(s)));
  }

  /** Brings a worker to the current config (a reload it missed); restarts it if it cannot. */
  async sync(slot: Slot): Promise<void> {
    const gen = this.gen;
    const r = await this.#reload(slot, this.source);
    const slots = this.host.slots;
    if (r?.t === "reloaded" && r.ok) {
      slot.gen = gen;
      slots.send(slot, { t: "health", servers: this.host.health() });
      return;
    }
    if (slot.child === null || this.host.draining()) return;
    // Drained (its live connections finish) and started again on the current config.
    this.host.log.event("error", "worker could not apply the config: restarting it", {
      worker: slot.id,
      error: r?.t === "reloaded" ? r.error : "no answer",
    });
    slot.state = "draining";
    slots.send(slot, { t: "drain", signal: "reload failed" });
  }

  #reload(slot: Slot, source: string): Promise<FromWorker | null> {
    return this.host.slots.request(slot, (seq) => ({
      t: "reload",
      seq,
      file: this.host.file,
      source,
      ports: this.ports,
    }), RELOAD_TIMEOUT_MS);
  }
}
