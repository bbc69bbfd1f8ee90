/**
 * `workers: N` (N > 1): a small supervisor process that starts N workers (this same program,
 * `run` with SWITCHYARD_WORKER=i, over an IPC channel), each binding every listener with
 * SO_REUSEPORT so that the kernel spreads new connections across them.
 *
 * The supervisor owns everything that must be one per instance:
 * - the admin endpoint: /metrics and /status ask every worker for a snapshot and sum counters
 *   and gauges; server health comes from the supervisor's checker alone; /readyz is 200 only
 *   while every worker is ready;
 * - health checks (run once, here): every up/down change is pushed to all workers, and the
 *   workers report connects that failed for real traffic (passive health) back to it;
 * - SIGHUP: the file is read and validated once; the first ready worker reloads first (it binds
 *   any new port-0 listener and so decides its port), then the others reload with those ports;
 *   a worker that cannot apply it is drained and restarted on the new config; a SIGHUP during
 *   a reload or the start-up gets a reload after it (several such signals, one reload);
 * - SIGTERM/SIGINT: every worker drains (as a single process does), then the supervisor exits 0;
 * - restarts: a worker that dies is started again after a backoff (100 ms doubling to 30 s,
 *   back to 100 ms once a worker has lived 10 s); the others keep serving meanwhile.
 *
 * Port 0 binds: workers must share one port, so the first worker binds alone and reports its
 * ports; the others bind the same ones. The "listening" event comes once, from the supervisor,
 * with those ports and the admin address.
 *
 * State that stays per worker, and what it means:
 * - roundrobin: each worker keeps its own rotation. Over many connections the split follows
 *   the weights; over a few it need not (two workers may each send their first connection to
 *   the same server).
 * - leastconn: each worker counts only its own connections to each server, so it balances its
 *   own share; across the instance the balance is approximate. /status and /metrics show the
 *   summed counts.
 * - source: the hash depends only on the client address and the servers that are up, and
 *   health is one state pushed to every worker, so a client gets the same server whichever
 *   worker accepts it (except while a health change is on its way to the workers).
 * - max_connections applies per worker: the instance as a whole takes up to N times as many.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { adminApp, type AdminSource, type Readiness, statusBody } from "../admin/app.ts";
import { renderMetrics } from "../admin/metrics.ts";
import type { InstanceView } from "../admin/view.ts";
import { formatProblem, loadConfigFile, parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { HealthChecker } from "../health/checker.ts";
import type { LogFormat, Logger } from "../log/logger.ts";
import { hostPort } from "../net/endpoint.ts";
import { Balancer } from "../proxy/balancer.ts";
import { runtime } from "../runtime/mod.ts";
import type { HttpServer } from "../runtime/types.ts";
import { coalesced } from "../server/coalesce.ts";
import type { FromWorker, HealthEntry, SocketEntry, ToWorker } from "./protocol.ts";
import {
  EMPTY_SNAPSHOT,
  retire,
  sumSnapshots,
  supervisedView,
  type WorkerSnapshot,
} from "./snapshot.ts";
import { resolveWorkers, WORKER_ENV } from "./spawn.ts";

/** First restart delay; it doubles with each death in a row. */
const RESTART_MIN_MS = 100;
/** Longest restart delay. */
const RESTART_MAX_MS = 30_000;
/** A worker that lived this long resets the backoff. */
const STABLE_MS = 10_000;
/** How long a scrape waits for a worker's snapshot. */
const SNAPSHOT_TIMEOUT_MS = 1000;
/** How often snapshots are taken anyway, so a worker's counters outlive it. */
const SNAPSHOT_POLL_MS = 5000;
/** How long a worker may take to apply a reload. */
const RELOAD_TIMEOUT_MS = 30_000;
/** How long after a worker's exit its IPC channel gets to deliver what is left. */
const CLOSE_WAIT_MS = 200;
/** After shutdown_timeout, how long a draining worker gets before SIGKILL. */
const KILL_GRACE_MS = 5000;

/**
 * waiting: a restart is scheduled; starting: spawned, not serving yet; ready: serving;
 * draining: told to finish and exit; stopped: gone for good.
 */
type SlotState = "waiting" | "starting" | "ready" | "draining" | "stopped";

/** One worker position (its number stays across restarts). */
interface Slot {
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

/** Whether some bind of `config` lets the kernel pick the port. */
function hasPortZero(config: Config): boolean {
  return [...config.listeners.values()].some((l) => l.bind.some((b) => b.port === 0));
}

/** Options for {@link supervise}. */
export interface SuperviseOptions {
  readonly file: string;
  /** The config text, as read and validated once. */
  readonly source: string;
  readonly config: Config;
  readonly format: LogFormat;
  readonly log: Logger;
  /** `--workers`; null: the config's `workers` decides (and a reload may change it). */
  readonly workers: number | "auto" | null;
  /** The arguments this process was started with; workers get the same. */
  readonly argv: readonly string[];
}

/** Runs the supervisor until SIGTERM/SIGINT; resolves with the exit code. */
export async function supervise(opts: SuperviseOptions): Promise<number> {
  return await new Supervisor(opts).run();
}

class Supervisor implements AdminSource {
  readonly #opts: SuperviseOptions;
  readonly #log: Logger;
  #config: Config;
  #source: string;
  /** Bumped on every committed reload. */
  #gen = 0;
  /** The sockets of the last worker that started or reloaded on `#portsGen`. */
  #ports: readonly SocketEntry[] = [];
  #portsGen = -1;
  /** The worker binding alone to learn port-0 ports; others wait in `#held`. */
  #leader: Slot | null = null;
  #held: Slot[] = [];
  #balancers: Map<string, Balancer>;
  readonly #health: HealthChecker;
  readonly #slots: Slot[] = [];
  /** What dead workers counted. */
  #retired: WorkerSnapshot = EMPTY_SNAPSHOT;
  readonly #reloads = { ok: 0, failed: 0 };
  #restarts = 0;
  #starting = true;
  #startedUp: () => void = () => {};
  /** Resolves once the first start of the workers has ended (ready or failed). */
  readonly #startup = new Promise<void>((resolve) => (this.#startedUp = resolve));
  #startWaiter: ((failure: string | null) => void) | null = null;
  #draining = false;
  /** Drain messages went out (the last exit then finishes). */
  #drainSent = false;
  #exitCode = 0;
  #quiet = false;
  #admin: HttpServer | null = null;
  #seq = 0;
  #poll: ReturnType<typeof setInterval> | null = null;
  #killTimer: ReturnType<typeof setTimeout> | null = null;
  #finished: (code: number) => void = () => {};
  readonly #started = new Date();

  constructor(opts: SuperviseOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#config = opts.config;
    this.#source = opts.source;
    this.#balancers = this.#buildBalancers(opts.config, null);
    this.#health = new HealthChecker(runtime, opts.log);
  }

  async run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.#finished = resolve));
    process.on("SIGHUP", () => {
      // Logged as it comes: the reload it asks for may have to wait for one still running
      // (up to RELOAD_TIMEOUT_MS per worker) or for the start-up.
      this.#log.event("info", "reload requested", { signal: "SIGHUP" });
      void this.#reload();
    });
    process.on("SIGTERM", () => this.#stop("SIGTERM"));
    process.on("SIGINT", () => this.#stop("SIGINT"));

    const admin = this.#config.admin;
    if (admin !== null) {
      try {
        // Bun.serve throws synchronously: .then makes that a rejection too.
        this.#admin = await Promise.resolve().then(() =>
          runtime.serveHttp(
            { host: admin.listen.host, port: admin.listen.port },
            adminApp(this).fetch,
          )
        );
      } catch (err) {
        this.#log.event(
          "error",
          `admin: cannot listen on ${admin.listen.text}: ${(err as Error).message}`,
        );
        this.#log.flush();
        return 1;
      }
    }
    this.#health.onChange = () => this.#pushHealth();
    this.#health.watch(this.#balancers);

    const failure = await new Promise<string | null>((resolve) => {
      this.#startWaiter = resolve;
      for (let id = 1; id <= this.#target(); id++) this.#spawn(this.#newSlot(id));
    });
    this.#starting = false;
    this.#startedUp();
    if (failure !== null && !this.#draining) {
      this.#log.event("error", failure);
      this.#exitCode = 1;
      this.#quiet = true;
      this.#stop("start failed");
      return await done;
    }
    if (!this.#draining) {
      this.#log.event("info", "listening", {
        runtime: runtime.version,
        workers: this.#slots.length,
        pids: this.#slots.map((s) => s.pid),
        listeners: this.#binds().map((b) => `${b.listener}=${b.addr}`),
        admin: this.#admin === null ? null : hostPort(this.#admin.addr.host, this.#admin.addr.port),
      });
      this.#poll = setInterval(() => void this.#gather(), SNAPSHOT_POLL_MS);
    }
    return await done;
  }

  // --- workers ---------------------------------------------------------------------------------

  #target(): number {
    return resolveWorkers(this.#opts.workers ?? this.#config.workers);
  }

  #newSlot(id: number): Slot {
    const slot: Slot = {
      id,
      child: null,
      pid: null,
      state: "waiting",
      admitted: false,
      gen: this.#gen,
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
    this.#slots.push(slot);
    this.#slots.sort((a, b) => a.id - b.id);
    return slot;
  }

  #spawn(slot: Slot): void {
    const [cmd, args] = runtime.selfCommand(this.#opts.argv);
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
    // "close", not "exit": it comes after the IPC channel has delivered everything (the
    // "stopped" message with the worker's last counters).
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
    this.#log.event("info", "worker started", { worker: slot.id, pid: slot.pid });
  }

  #send(slot: Slot, m: ToWorker): void {
    try {
      slot.child?.send(m);
    } catch {
      // The channel closed: the exit handler deals with the worker.
    }
  }

  /** Sends `make(seq)` and resolves with the answer, or null on timeout or exit. */
  #request(
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
      this.#send(slot, make(seq));
    });
  }

  /** A worker that listens for messages gets its config (or a drain). */
  #admit(slot: Slot): void {
    if (this.#draining || slot.retiring) {
      slot.admitted = true;
      slot.state = "draining";
      this.#send(slot, { t: "drain", signal: this.#draining ? "shutdown" : "scaled down" });
      return;
    }
    if (this.#portsGen !== this.#gen && hasPortZero(this.#config)) {
      // Port-0 binds of this config have no port yet: one worker binds first, alone.
      if (this.#leader !== null && this.#leader !== slot) {
        if (!this.#held.includes(slot)) this.#held.push(slot);
        return;
      }
      this.#leader = slot;
    }
    slot.admitted = true;
    slot.gen = this.#gen;
    this.#send(slot, {
      t: "start",
      file: this.#opts.file,
      source: this.#source,
      ports: this.#ports,
      health: this.#healthTable(),
    });
  }

  /** The leader is done (ready or gone): admit the workers it held back. */
  #release(): void {
    this.#leader = null;
    const held = this.#held;
    this.#held = [];
    for (const s of held) if (s.child !== null) this.#admit(s);
  }

  #message(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case "hello":
        this.#admit(slot);
        break;
      case "ready":
        if (slot.state === "starting") slot.state = "ready";
        if (slot.gen === this.#gen) {
          this.#ports = m.sockets;
          this.#portsGen = this.#gen;
        }
        if (this.#leader === slot) this.#release();
        this.#send(slot, { t: "health", servers: this.#healthTable() });
        // A reload happened while it started: bring it up to date.
        if (slot.gen !== this.#gen && !this.#draining) void this.#sync(slot);
        this.#checkStartup();
        break;
      case "failed":
        slot.error = m.error;
        break;
      case "reloaded":
      case "snapshot": {
        const waiter = slot.pending.get(m.seq);
        slot.pending.delete(m.seq);
        waiter?.(m);
        break;
      }
      case "failure": {
        const bal = this.#balancers.get(m.backend);
        const s = bal?.servers.find((x) =>
          x.config.name === m.server && x.config.address.text === m.address
        );
        if (bal !== undefined && s !== undefined) bal.onFailure?.(s, m.reason);
        break;
      }
      case "stopped":
        slot.left = m.left;
        slot.last = m.snapshot;
        break;
    }
  }

  #exited(slot: Slot, code: number | null, signal: string | null): void {
    const pid = slot.pid;
    slot.child = null;
    slot.pid = null;
    if (slot.last !== null) this.#retired = sumSnapshots([this.#retired, retire(slot.last)]);
    slot.last = null;
    for (const waiter of slot.pending.values()) waiter(null);
    slot.pending.clear();
    this.#held = this.#held.filter((s) => s !== slot);
    if (this.#leader === slot) this.#release();

    if (this.#starting && !this.#draining) {
      slot.error ??= `worker ${slot.id} exited (${signal ?? code}) before it was ready`;
      slot.state = "stopped";
      this.#checkStartup();
      return;
    }
    if (this.#draining || slot.retiring) {
      slot.state = "stopped";
      if (slot.retiring && !this.#draining) {
        this.#slots.splice(this.#slots.indexOf(slot), 1);
        this.#log.event("info", "worker retired", { worker: slot.id, pid });
      }
      this.#checkStopped();
      return;
    }
    if (Date.now() - slot.since >= STABLE_MS) slot.streak = 0;
    const delay = Math.min(RESTART_MIN_MS * 2 ** slot.streak, RESTART_MAX_MS);
    slot.streak++;
    slot.state = "waiting";
    this.#log.event("warn", "worker exited; restarting it", {
      worker: slot.id,
      pid,
      code,
      signal,
      error: slot.error ?? undefined,
      restart_in_ms: delay,
    });
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (this.#draining || slot.retiring) return;
      slot.restarts++;
      this.#restarts++;
      this.#spawn(slot);
    }, delay);
  }

  #checkStartup(): void {
    if (this.#startWaiter === null) return;
    const failed = this.#slots.find((s) => s.error !== null && s.state !== "ready");
    const resolve = this.#startWaiter;
    if (this.#draining) resolve("draining");
    else if (failed !== undefined) resolve(failed.error);
    else if (this.#slots.every((s) => s.state === "ready")) resolve(null);
    else return;
    this.#startWaiter = null;
  }

  /** Brings a worker to the current config (a reload it missed); restarts it if it cannot. */
  async #sync(slot: Slot): Promise<boolean> {
    const gen = this.#gen;
    const r = await this.#request(slot, (seq) => ({
      t: "reload",
      seq,
      file: this.#opts.file,
      source: this.#source,
      ports: this.#ports,
    }), RELOAD_TIMEOUT_MS);
    if (r?.t === "reloaded" && r.ok) {
      slot.gen = gen;
      this.#send(slot, { t: "health", servers: this.#healthTable() });
      return true;
    }
    if (slot.child === null || this.#draining) return false;
    // Drained (its live connections finish) and started again on the current config.
    this.#log.event("error", "worker could not apply the config: restarting it", {
      worker: slot.id,
      error: r?.t === "reloaded" ? r.error : "no answer",
    });
    slot.state = "draining";
    this.#send(slot, { t: "drain", signal: "reload failed" });
    return false;
  }

  /** Starts or retires workers to match the target count (after a reload). */
  #scale(): void {
    const target = this.#target();
    const serving = this.#slots.filter((s) => !s.retiring);
    if (serving.length === target) return;
    this.#log.event("info", "workers", { from: serving.length, to: target });
    if (serving.length < target) {
      const used = new Set(serving.map((s) => s.id));
      let need = target - serving.length;
      for (let id = 1; need > 0; id++) {
        if (used.has(id)) continue;
        // A retiring worker still draining keeps its number until it is gone.
        if (this.#slots.some((s) => s.id === id)) continue;
        this.#spawn(this.#newSlot(id));
        need--;
      }
      return;
    }
    for (const s of serving.slice(target)) {
      s.retiring = true;
      if (s.timer !== null) {
        clearTimeout(s.timer);
        s.timer = null;
        this.#slots.splice(this.#slots.indexOf(s), 1);
      } else if (s.admitted) {
        s.state = "draining";
        this.#send(s, { t: "drain", signal: "scaled down" });
      }
      // Not admitted yet: its hello gets the drain.
    }
  }

  // --- health ----------------------------------------------------------------------------------

  #buildBalancers(config: Config, previous: Map<string, Balancer> | null): Map<string, Balancer> {
    const out = new Map<string, Balancer>();
    for (const [name, b] of config.backends) {
      out.set(name, new Balancer(b, previous?.get(name)));
    }
    return out;
  }

  #healthTable(): HealthEntry[] {
    const out: HealthEntry[] = [];
    for (const [backend, bal] of this.#balancers) {
      for (const s of bal.servers) {
        out.push({ backend, server: s.config.name, address: s.config.address.text, up: s.up });
      }
    }
    return out;
  }

  #pushHealth(): void {
    const servers = this.#healthTable();
    for (const s of this.#slots) {
      if (s.admitted && s.child !== null) this.#send(s, { t: "health", servers });
    }
  }

  // --- reload ----------------------------------------------------------------------------------

  /**
   * SIGHUP. A signal during a reload runs one more after it (the file may have changed after
   * that reload read it); one during the start-up, once the workers are up (they started on the
   * file as it was before the edit). While draining it does nothing.
   */
  readonly #reload = coalesced(async () => {
    await this.#startup;
    if (!this.#draining) await this.#reloadOnce();
  });

  #reloadFailed(fields: Record<string, unknown>): void {
    this.#reloads.failed++;
    this.#log.event("error", "reload failed: the old config keeps serving", fields);
  }

  async #reloadOnce(): Promise<void> {
    const file = this.#opts.file;
    let source: string;
    try {
      source = readFileSync(file, "utf8");
    } catch {
      this.#reloadFailed({ problems: loadConfigFile(file).problems.map(formatProblem) });
      return;
    }
    const { config, problems } = parseConfig(source, file, { checkFiles: true });
    if (config === null) {
      this.#reloadFailed({ problems: problems.map(formatProblem) });
      return;
    }
    // The first ready worker binds first: a bind failure stops the reload before anything
    // changed anywhere, and new port-0 listeners get the port it got.
    const leader = this.#slots.find((s) => s.state === "ready" && !s.retiring);
    let sockets: readonly SocketEntry[] | null = null;
    if (leader !== undefined) {
      const r = await this.#request(leader, (seq) => ({
        t: "reload",
        seq,
        file,
        source,
        ports: this.#ports,
      }), RELOAD_TIMEOUT_MS);
      if (r?.t !== "reloaded" || !r.ok) {
        this.#reloadFailed({
          error: r?.t === "reloaded" ? r.error : `worker ${leader.id} did not answer`,
        });
        return;
      }
      sockets = r.sockets;
    }
    this.#config = config;
    this.#source = source;
    this.#gen++;
    if (leader !== undefined) leader.gen = this.#gen;
    if (sockets !== null) {
      this.#ports = sockets;
      this.#portsGen = this.#gen;
    }
    this.#balancers = this.#buildBalancers(config, this.#balancers);
    this.#health.watch(this.#balancers);
    this.#pushHealth();
    const others = this.#slots.filter((s) => s !== leader && s.state === "ready" && !s.retiring);
    await Promise.all(others.map((s) => this.#sync(s)));
    this.#reloads.ok++;
    this.#log.event("info", "reloaded", { file, listeners: config.listeners.size });
    this.#scale();
  }

  // --- shutdown --------------------------------------------------------------------------------

  #stop(signal: string): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#health.stop();
    if (this.#poll !== null) clearInterval(this.#poll);
    for (const s of this.#slots) {
      if (s.timer !== null) {
        clearTimeout(s.timer);
        s.timer = null;
      }
      if (s.child === null) s.state = "stopped";
    }
    this.#checkStartup();
    void (async () => {
      // Counted before the drain goes out: the connections open at the signal.
      const total = await this.#gather();
      if (!this.#quiet) {
        const active = total.listeners.reduce((n, [, c]) => n + c.active, 0);
        this.#log.event("info", "draining", { signal, active });
      }
      for (const s of this.#slots) {
        if (s.child === null) continue;
        s.state = "draining";
        if (s.admitted) this.#send(s, { t: "drain", signal });
      }
      this.#drainSent = true;
      const grace = this.#config.defaults.shutdownTimeoutMs + KILL_GRACE_MS;
      this.#killTimer = setTimeout(() => {
        for (const s of this.#slots) {
          if (s.child === null) continue;
          this.#log.event("warn", "worker did not stop in time: killing it", {
            worker: s.id,
            pid: s.pid,
          });
          s.child.kill("SIGKILL");
        }
      }, grace);
      this.#checkStopped();
    })();
  }

  #checkStopped(): void {
    if (!this.#drainSent || this.#slots.some((s) => s.child !== null)) return;
    this.#drainSent = false;
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    if (!this.#quiet) {
      const left = this.#slots.reduce((n, s) => n + (s.left ?? 0), 0);
      this.#log.event("info", "stopped", { left });
    }
    this.#log.flush();
    const close = this.#admin?.close() ?? Promise.resolve();
    void close.finally(() => this.#finished(this.#exitCode));
  }

  // --- admin -----------------------------------------------------------------------------------

  /** Every worker's snapshot (fresh where it answers) plus what dead workers counted. */
  async #gather(): Promise<WorkerSnapshot> {
    const live = this.#slots.filter((s) => s.child !== null && s.admitted);
    await Promise.all(live.map(async (s) => {
      const r = await this.#request(s, (seq) => ({ t: "snapshot", seq }), SNAPSHOT_TIMEOUT_MS);
      if (r?.t === "snapshot" && s.child !== null) s.last = r.snapshot;
    }));
    const lasts = this.#slots.map((s) => s.last).filter((x) => x !== null);
    return sumSnapshots([this.#retired, ...lasts]);
  }

  #binds(): { listener: string; addr: string }[] {
    return this.#ports.map((e) => ({ listener: e.listener, addr: hostPort(e.host, e.port) }));
  }

  async #view(): Promise<InstanceView> {
    const total = await this.#gather();
    return supervisedView(this.#config, this.#binds(), total, this.#balancers, this.#reloads);
  }

  readiness(): Readiness {
    if (this.#draining) return "draining";
    const serving = this.#slots.filter((s) => !s.retiring);
    const ready = serving.length >= this.#target() && serving.every((s) => s.state === "ready");
    return ready ? "ready" : "starting";
  }

  async status(): Promise<Record<string, unknown>> {
    const view = await this.#view();
    return statusBody(view, {
      runtime: runtime.version,
      started: this.#started,
      readiness: this.readiness(),
    }, {
      workers: this.#slots.map((s) => ({
        worker: s.id,
        pid: s.pid,
        state: s.state,
        restarts: s.restarts,
        since: s.child === null ? null : new Date(s.since).toISOString(),
      })),
    });
  }

  async metrics(): Promise<string> {
    const view = await this.#view();
    return renderMetrics({
      ...view,
      workers: {
        running: this.#slots.filter((s) => s.child !== null).length,
        restarts: this.#restarts,
      },
    });
  }
}
