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
 * - SIGHUP, and with `watch` a change of the file (src/server/config_watch.ts, here alone: the
 *   workers never watch): the file is read and validated once; the first ready worker reloads
 *   first (it binds any new port-0 listener and so decides its port), then the others reload
 *   with those ports; a worker that cannot apply it is drained and restarted on the new
 *   config; a SIGHUP during a reload or the start-up gets a reload after it (several such
 *   signals, one reload);
 * - ACME (src/workers/acme.ts): the one manager orders and renews here, from when the workers
 *   serve, and pushes certificates and challenges to every worker; /status and /metrics list
 *   certificates from the supervisor's own store;
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

import { adminApp, type AdminSource, type Readiness, statusBody } from "../admin/app.ts";
import { renderMetrics } from "../admin/metrics.ts";
import type { InstanceView } from "../admin/view.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { hostPort } from "../net/endpoint.ts";
import { runtime } from "../runtime/mod.ts";
import type { HttpServer } from "../runtime/types.ts";
import { startAdmin } from "../server/admin.ts";
import { coalesced } from "../server/coalesce.ts";
import { ConfigWatch } from "../server/config_watch.ts";
import { FileReloads } from "../server/file_reload.ts";
import { onSignals } from "../server/signals.ts";
import { SupervisorAcme } from "./acme.ts";
import { SharedHealth } from "./health.ts";
import type { FromWorker } from "./protocol.ts";
import { Rollout } from "./rollout.ts";
import { type Slot, Slots } from "./slots.ts";
import { supervisedView } from "./snapshot.ts";
import { resolveWorkers } from "./spawn.ts";

/** How often snapshots are taken anyway, so a worker's counters outlive it. */
const SNAPSHOT_POLL_MS = 5000;
/** After shutdown_timeout, how long a draining worker gets before SIGKILL. */
const KILL_GRACE_MS = 5000;

/** Options for {@link supervise}. */
export interface SuperviseOptions {
  readonly file: string;
  /** The config text, as read and validated once. */
  readonly source: string;
  readonly config: Config;
  readonly log: Logger;
  /** `--workers`; null: the config's `workers` decides (and a reload may change it). */
  readonly workers: number | "auto" | null;
  /** `--watch`: reload when the file changes, whatever the config's `watch:` says. */
  readonly watch: boolean;
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
  readonly #slots: Slots;
  readonly #health: SharedHealth;
  readonly #acme: SupervisorAcme;
  readonly #rollout: Rollout;
  readonly #reloads: FileReloads;
  readonly #watch: ConfigWatch;
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
  #poll: ReturnType<typeof setInterval> | null = null;
  #killTimer: ReturnType<typeof setTimeout> | null = null;
  #finished: (code: number) => void = () => {};
  readonly #started = new Date();

  constructor(opts: SuperviseOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#slots = new Slots(opts.argv, opts.log, {
      message: (slot, m) => this.#message(slot, m),
      exited: (slot, pid, code, signal) => this.#exited(slot, pid, code, signal),
    });
    this.#health = new SharedHealth(
      opts.config,
      opts.log,
      (servers) => this.#slots.broadcast({ t: "health", servers }),
    );
    this.#acme = new SupervisorAcme(opts.log, this.#slots);
    this.#rollout = new Rollout(
      {
        file: opts.file,
        slots: this.#slots,
        log: opts.log,
        draining: () => this.#draining,
        health: () => this.#health.table(),
        acme: () => this.#acme.state(),
        committed: (config) => {
          this.#health.update(config);
          this.#acme.files(config);
          this.#acme.apply(config);
        },
      },
      opts.config,
      opts.source,
    );
    this.#reloads = new FileReloads(opts.file, opts.log);
    this.#watch = new ConfigWatch(opts.file, opts.watch, opts.log, () => void this.#reload());
  }

  async run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.#finished = resolve));
    onSignals({
      reload: () => {
        // Logged as it comes: the reload it asks for may have to wait for one still running
        // (each worker may take up to 30 s to apply it) or for the start-up.
        this.#log.event("info", "reload requested", { signal: "SIGHUP" });
        void this.#reload();
      },
      stop: (signal) => this.#stop(signal),
    });
    // From the start: an edit during the start-up reloads once the workers are up, as SIGHUP.
    this.#watch.follow(this.#opts.config, this.#opts.source);

    const admin = this.#rollout.config.admin;
    if (admin !== null) {
      try {
        this.#admin = await startAdmin(admin, adminApp(this).fetch);
      } catch (err) {
        this.#log.event("error", (err as Error).message);
        this.#log.flush();
        return 1;
      }
    }
    this.#health.watch();
    this.#acme.files(this.#rollout.config);

    const failure = await new Promise<string | null>((resolve) => {
      this.#startWaiter = resolve;
      for (let id = 1; id <= this.#target(); id++) this.#slots.spawn(this.#add(id));
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
        workers: this.#slots.list.length,
        pids: this.#slots.list.map((s) => s.pid),
        listeners: this.#binds().map((b) => `${b.listener}=${b.addr}`),
        admin: this.#admin === null ? null : hostPort(this.#admin.addr.host, this.#admin.addr.port),
      });
      this.#poll = setInterval(() => void this.#slots.gather(), SNAPSHOT_POLL_MS);
      // Certificates are loaded or ordered in the background, now that a listener can answer
      // the CA's validation: serving never waits for the CA.
      this.#acme.apply(this.#rollout.config);
    }
    return await done;
  }

  // --- workers ---------------------------------------------------------------------------------

  #target(): number {
    return resolveWorkers(this.#opts.workers ?? this.#rollout.config.workers);
  }

  #add(id: number): Slot {
    return this.#slots.add(id, this.#rollout.gen);
  }

  #message(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case "hello":
        this.#rollout.admit(slot);
        break;
      case "ready":
        if (slot.state === "starting") slot.state = "ready";
        this.#rollout.ready(slot, m.sockets);
        this.#slots.send(slot, { t: "health", servers: this.#health.table() });
        // A reload happened while it started: bring it up to date.
        if (slot.gen !== this.#rollout.gen && !this.#draining) void this.#rollout.sync(slot);
        this.#checkStartup();
        break;
      case "failed":
        slot.error = m.error;
        break;
      case "failure":
        this.#health.failure(m);
        break;
      case "stopped":
        slot.left = m.left;
        slot.last = m.snapshot;
        break;
    }
  }

  #exited(slot: Slot, pid: number | null, code: number | null, signal: string | null): void {
    this.#rollout.gone(slot);
    if (this.#starting && !this.#draining) {
      slot.error ??= `worker ${slot.id} exited (${signal ?? code}) before it was ready`;
      slot.state = "stopped";
      this.#checkStartup();
      return;
    }
    if (this.#draining || slot.retiring) {
      slot.state = "stopped";
      if (slot.retiring && !this.#draining) {
        this.#slots.remove(slot);
        this.#log.event("info", "worker retired", { worker: slot.id, pid });
      }
      this.#checkStopped();
      return;
    }
    const delay = this.#slots.restartLater(slot, () => this.#draining || slot.retiring);
    this.#log.event("warn", "worker exited; restarting it", {
      worker: slot.id,
      pid,
      code,
      signal,
      error: slot.error ?? undefined,
      restart_in_ms: delay,
    });
  }

  #checkStartup(): void {
    if (this.#startWaiter === null) return;
    const slots = this.#slots.list;
    const failed = slots.find((s) => s.error !== null && s.state !== "ready");
    const resolve = this.#startWaiter;
    if (this.#draining) resolve("draining");
    else if (failed !== undefined) resolve(failed.error);
    else if (slots.every((s) => s.state === "ready")) resolve(null);
    else return;
    this.#startWaiter = null;
  }

  /** Starts or retires workers to match the target count (after a reload). */
  #scale(): void {
    const target = this.#target();
    const slots = this.#slots.list;
    const serving = slots.filter((s) => !s.retiring);
    if (serving.length === target) return;
    this.#log.event("info", "workers", { from: serving.length, to: target });
    if (serving.length < target) {
      const used = new Set(serving.map((s) => s.id));
      let need = target - serving.length;
      for (let id = 1; need > 0; id++) {
        if (used.has(id)) continue;
        // A retiring worker still draining keeps its number until it is gone.
        if (slots.some((s) => s.id === id)) continue;
        this.#slots.spawn(this.#add(id));
        need--;
      }
      return;
    }
    for (const s of serving.slice(target)) {
      s.retiring = true;
      if (this.#slots.cancelRestart(s)) {
        this.#slots.remove(s);
      } else if (s.admitted) {
        s.state = "draining";
        this.#slots.send(s, { t: "drain", signal: "scaled down" });
      }
      // Not admitted yet: its hello gets the drain.
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
    if (this.#draining) return;
    const applied = await this.#reloads.run(async (loaded) => {
      await this.#rollout.apply(loaded);
      this.#watch.follow(loaded.config, loaded.source);
    });
    if (applied) this.#scale();
  });

  // --- shutdown --------------------------------------------------------------------------------

  #stop(signal: string): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#health.stop();
    this.#acme.stop();
    this.#watch.stop();
    if (this.#poll !== null) clearInterval(this.#poll);
    for (const s of this.#slots.list) {
      this.#slots.cancelRestart(s);
      if (s.child === null) s.state = "stopped";
    }
    this.#checkStartup();
    void (async () => {
      // Counted before the drain goes out: the connections open at the signal.
      const total = await this.#slots.gather();
      if (!this.#quiet) {
        const active = total.listeners.reduce((n, [, c]) => n + c.active, 0);
        this.#log.event("info", "draining", { signal, active });
      }
      for (const s of this.#slots.list) {
        if (s.child === null) continue;
        s.state = "draining";
        if (s.admitted) this.#slots.send(s, { t: "drain", signal });
      }
      this.#drainSent = true;
      const grace = this.#rollout.config.defaults.shutdownTimeoutMs + KILL_GRACE_MS;
      this.#killTimer = setTimeout(() => {
        for (const s of this.#slots.list) {
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
    if (!this.#drainSent || this.#slots.list.some((s) => s.child !== null)) return;
    this.#drainSent = false;
    if (this.#killTimer !== null) clearTimeout(this.#killTimer);
    if (!this.#quiet) {
      const left = this.#slots.list.reduce((n, s) => n + (s.left ?? 0), 0);
      this.#log.event("info", "stopped", { left });
    }
    this.#log.flush();
    const close = this.#admin?.close() ?? Promise.resolve();
    void close.finally(() => this.#finished(this.#exitCode));
  }

  // --- admin -----------------------------------------------------------------------------------

  #binds(): { listener: string; addr: string }[] {
    return this.#rollout.ports.map((e) => ({
      listener: e.listener,
      addr: hostPort(e.host, e.port),
    }));
  }

  async #view(): Promise<InstanceView> {
    const total = await this.#slots.gather();
    return supervisedView(
      this.#rollout.config,
      this.#binds(),
      total,
      this.#health.balancers,
      this.#reloads.counts,
      this.#acme.certificates,
    );
  }

  readiness(): Readiness {
    if (this.#draining) return "draining";
    const serving = this.#slots.list.filter((s) => !s.retiring);
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
      workers: this.#slots.list.map((s) => ({
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
        running: this.#slots.list.filter((s) => s.child !== null).length,
        restarts: this.#slots.restarts,
      },
    });
  }
}
