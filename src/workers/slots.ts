/**
 * Worker slots: one per worker position, whose number stays across restarts. The slots spawn
 * their workers (this program again, with SWITCHYARD_WORKER and an IPC channel), carry the
 * supervisor's messages and match answers to requests, keep what dead workers counted, and
 * restart a worker that died after a backoff: 100 ms doubling to 30 s, back to 100 ms once a
 * worker has lived 10 s.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import type { Logger } from "../log/logger.ts";
import { runtime } from "../runtime/mod.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { EMPTY_SNAPSHOT, retire, sumSnapshots, type WorkerSnapshot } from "./snapshot.ts";
import { WORKER_ENV } from "./spawn.ts";

/** First restart delay; it doubles with each death in a row. */
const RESTART_MIN_MS = 100;
/** Longest restart delay. */
const RESTART_MAX_MS = 30_000;
/** A worker that lived this long resets the backoff. */
const STABLE_MS = 10_000;
/** How long a scrape waits for a worker's snapshot. */
const SNAPSHOT_TIMEOUT_MS = 1000;
/** How long after a worker's exit its IPC channel gets to deliver what is left. */
const CLOSE_WAIT_MS = 200;

/**
 * waiting: a restart is scheduled; starting: spawned, not serving yet; ready: serving;
 * draining: told to finish and exit; stopped: gone for good.
 */
export type SlotState = "waiting" | "starting" | "ready" | "draining" | "stopped";

/** One worker position (its number stays across restarts). */
export interface Slot {
  readonly id: number;
  child: ChildProcess | null;
  pid: number | null;
  state: SlotState;
  /** Sent `start` (or `drain`) already: it reads messages. */
  admitted: boolean;
  /** The config generation its start or last reload carried. */
  gen: number;
  /** When it was spawned (ms). */
  since: number;
  restarts: number;
  /** Deaths in a row (backoff). */
  streak: number;
  /** Its last snapshot (this incarnation). */
  last: WorkerSnapshot | null;
  /** Connections its drain cut at shutdown_timeout. */
  left: number | null;
  /** Why it could not start. */
  error: string | null;
  /** Being scaled away: not restarted. */
  retiring: boolean;
  timer: ReturnType<typeof setTimeout> | null;
  pending: Map<number, (m: FromWorker | null) => void>;
}

/** What the supervisor hears from its workers. */
export interface SlotEvents {
  /** A message that answers no request. */
  message(slot: Slot, m: FromWorker): void;
  /** The worker is gone (or never started); `pid` is the one it had. */
  exited(slot: Slot, pid: number | null, code: number | null, signal: string | null): void;
}

/** Every worker slot, in worker-number order. */
export class Slots {
  readonly list: Slot[] = [];
  #restarts = 0;
  /** What dead workers counted. */
  #retired: WorkerSnapshot = EMPTY_SNAPSHOT;
  #seq = 0;

  constructor(
    /** The arguments this process was started with; workers get the same. */
    readonly argv: readonly string[],
    readonly log: Logger,
    readonly events: SlotEvents,
  ) {}

  /** Restarts so far, across slots. */
  get restarts(): number {
    return this.#restarts;
  }

  /** A new slot for worker `id`, on config generation `gen`, not spawned yet. */
  add(id: number, gen: number): Slot {
    const slot: Slot = {
      id,
      child: null,
      pid: null,
      state: "waiting",
      admitted: false,
      gen,
      since: Date.now(),
      restarts: 0,
      streak: 0,
      last: null,
      left: null,
      error: null,
      retiring: false,
      timer: null,
      pending: new Map(),
    };
    this.list.push(slot);
    this.list.sort((a, b) => a.id - b.id);
    return slot;
  }

  remove(slot: Slot): void {
    this.list.splice(this.list.indexOf(slot), 1);
  }

  /** Starts `slot`'s worker; it says `hello` once it reads messages. */
  spawn(slot: Slot): void {
    const [cmd, args] = runtime.selfCommand(this.argv);
    Object.assign(slot, {
      state: "starting",
      admitted: false,
      since: Date.now(),
      last: null,
      left: null,
      error: null,
    });
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        env: { ...process.env, [WORKER_ENV]: String(slot.id) },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
    } catch (err) {
      slot.error = `worker ${slot.id}: cannot start: ${(err as Error).message}`;
      this.#exited(slot, null, null);
      return;
    }
    slot.child = child;
    slot.pid = child.pid ?? null;
    child.on("message", (m) => {
      if (slot.child === child) this.#message(slot, m as FromWorker);
    });
    // The end is "close" (after the IPC channel delivered everything, such as the "stopped"
    // message with the worker's last counters); Deno does not always emit it, so "exit" is
    // taken as the end too after a short wait.
    let ended = false;
    const end = (code: number | null, signal: string | null) => {
      if (ended) return;
      ended = true;
      if (slot.child === child) this.#exited(slot, code, signal);
    };
    child.on("exit", (code, signal) => setTimeout(() => end(code, signal), CLOSE_WAIT_MS));
    child.on("close", (code, signal) => end(code, signal));
    child.on("error", (err) => {
      // A spawn that failed never exits; a failed send needs nothing (the exit follows).
      if (slot.child === child && child.pid === undefined) {
        slot.error = `worker ${slot.id}: cannot start: ${err.message}`;
        this.#exited(slot, null, null);
      }
    });
    this.log.event("info", "worker started", { worker: slot.id, pid: slot.pid });
  }

  /**
   * Schedules `slot`'s restart after its backoff (unless `cancelled()` says otherwise by
   * then); returns the delay.
   */
  restartLater(slot: Slot, cancelled: () => boolean): number {
    if (Date.now() - slot.since >= STABLE_MS) slot.streak = 0;
    const delay = Math.min(RESTART_MIN_MS * 2 ** slot.streak, RESTART_MAX_MS);
    slot.streak++;
    slot.state = "waiting";
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (cancelled()) return;
      slot.restarts++;
      this.#restarts++;
      this.spawn(slot);
    }, delay);
    return delay;
  }

  /** Cancels `slot`'s scheduled restart; whether there was one. */
  cancelRestart(slot: Slot): boolean {
    if (slot.timer === null) return false;
    clearTimeout(slot.timer);
    slot.timer = null;
    return true;
  }

  send(slot: Slot, m: ToWorker): void {
    try {
      slot.child?.send(m);
    } catch {
      // The channel closed: the exit handler deals with the worker.
    }
  }

  /** Sends `m` to every worker that reads messages. */
  broadcast(m: ToWorker): void {
    for (const s of this.list) if (s.admitted && s.child !== null) this.send(s, m);
  }

  /** Sends `make(seq)` and resolves with the answer, or null on timeout or exit. */
  request(
    slot: Slot,
    make: (seq: number) => ToWorker,
    timeoutMs: number,
  ): Promise<FromWorker | null> {
    if (slot.child === null || !slot.admitted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const seq = ++this.#seq;
      const timer = setTimeout(() => {
        slot.pending.delete(seq);
        resolve(null);
      }, timeoutMs);
      slot.pending.set(seq, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.send(slot, make(seq));
    });
  }

  /** Every worker's snapshot (fresh where it answers) plus what dead workers counted. */
  async gather(): Promise<WorkerSnapshot> {
    const live = this.list.filter((s) => s.child !== null && s.admitted);
    await Promise.all(live.map(async (s) => {
      const r = await this.request(s, (seq) => ({ t: "snapshot", seq }), SNAPSHOT_TIMEOUT_MS);
      if (r?.t === "snapshot" && s.child !== null) s.last = r.snapshot;
    }));
    const lasts = this.list.map((s) => s.last).filter((x) => x !== null);
    return sumSnapshots([this.#retired, ...lasts]);
  }

  #message(slot: Slot, m: FromWorker): void {
    if (m.t === "reloaded" || m.t === "snapshot" || m.t === "ack") {
      const waiter = slot.pending.get(m.seq);
      slot.pending.delete(m.seq);
      waiter?.(m);
      return;
    }
    this.events.message(slot, m);
  }

  #exited(slot: Slot, code: number | null, signal: string | null): void {
    const pid = slot.pid;
    slot.child = null;
    slot.pid = null;
    if (slot.last !== null) this.#retired = sumSnapshots([this.#retired, retire(slot.last)]);
    slot.last = null;
    for (const waiter of slot.pending.values()) waiter(null);
    slot.pending.clear();
    this.events.exited(slot, pid, code, signal);
  }
}
