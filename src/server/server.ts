/**
 * One process's router: the {@link Instance} it serves, started, reloaded and drained the same
 * way in a single process (`run`, `demo`) and in each worker. What differs stays with the
 * caller: a single process wires signals and runs the admin endpoint and health checks; a
 * worker answers its supervisor's messages.
 *
 * Start, reload and drain run one after the other, in the order they were asked for: a reload
 * never overlaps another, and nothing is bound after a drain closed the listeners. From the
 * moment a drain is asked for, reloads still waiting their turn are refused and sessions
 * treat the process as draining (an idle keep-alive connection closes).
 *
 * The server owns the process's {@link Certificates}: each start and reload sets the config's
 * certificate files on it, and it watches them for renewals from the start until the drain.
 * The ACME manager puts its certificates there too.
 *
 * @module
 */

import { Challenges } from "../acme/challenges.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { type BindOptions, Instance } from "../proxy/instance.ts";
import { localAddresses } from "../proxy/local_addresses.ts";
import { runtime } from "../runtime/mod.ts";
import { Certificates } from "../tls/certificates.ts";
import { waitForConnections } from "./drain.ts";

/** Options for {@link Server}. */
export interface ServerOptions {
  readonly log: Logger;
  /** How listeners bind (a worker: SO_REUSEPORT, and the ports the first worker got). */
  readonly bind?: BindOptions;
  /**
   * Put before the "draining" and "stopped" events: a worker logs "worker draining" and
   * "worker stopped", leaving the plain names to its supervisor, which speaks for the instance.
   */
  readonly eventPrefix?: string;
  /** How often certificate files are looked at for changes (ms; default 5 s). */
  readonly certificatePollMs?: number;
}

/** Starts, reloads and drains one {@link Instance}. */
export class Server {
  readonly #log: Logger;
  readonly #bind: BindOptions;
  readonly #prefix: string;
  readonly #certificates: Certificates;
  #instance: Instance | null = null;
  #draining = false;
  /** The operations asked for so far, settled either way: the next one runs after them. */
  #queue: Promise<unknown> = Promise.resolve();
  #drained: Promise<number> | null = null;

  constructor(opts: ServerOptions) {
    this.#log = opts.log;
    this.#bind = opts.bind ?? {};
    this.#prefix = opts.eventPrefix ?? "";
    this.#certificates = new Certificates(opts.log, { pollMs: opts.certificatePollMs });
  }

  /** The ACME challenges this process answers (the ACME manager, or the supervisor, fills it). */
  readonly challenges: Challenges = new Challenges();

  /** The certificates every generation terminates with (the ACME manager puts its own here). */
  get certificates(): Certificates {
    return this.#certificates;
  }

  /** The instance once started; null before (or when the start failed). */
  get instance(): Instance | null {
    return this.#instance;
  }

  /** Whether a drain was asked for. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Binds every listener of `config`; on a failure nothing stays bound and it rejects. */
  start(config: Config): Promise<Instance> {
    return this.#enqueue(() => this.#start(config));
  }

  async #start(config: Config): Promise<Instance> {
    this.#certificates.setFiles(config.certificates);
    const instance = new Instance(
      {
        rt: runtime,
        log: this.#log,
        isLocal: (host) => localAddresses.has(host),
        isDraining: () => this.#draining,
        challenges: this.challenges,
      },
      config,
      this.#certificates,
      this.#bind,
    );
    try {
      await instance.start();
    } catch (err) {
      instance.close();
      throw err;
    }
    this.#certificates.start();
    this.#instance = instance;
    return instance;
  }

  /**
   * Switches to `next` (see {@link Instance.reload}): a config, or a function that gives it
   * when the reload's turn comes (a worker sets the ports to bind then). Rejects, with the old
   * config serving, when a bind fails, or when by then nothing was started or a drain was asked for.
   */
  reload(next: Config | (() => Config)): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#instance === null || this.#draining) throw new Error("not serving");
      const config = typeof next === "function" ? next() : next;
      await this.#instance.reload(config);
      // After the binds succeeded: a refused reload leaves the files of the config serving.
      this.#certificates.setFiles(config.certificates);
    });
  }

  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Stops accepting and lets live connections finish for up to the config's
   * shutdown_timeout; resolves with the number still open then (they close with the process).
   * Logs "draining" and "stopped" (with the prefix). Every call gets the first one's drain.
   */
  drain(signal: string): Promise<number> {
    this.#draining = true;
    this.#drained ??= this.#enqueue(() => this.#drain(signal));
    return this.#drained;
  }

  async #drain(signal: string): Promise<number> {
    const instance = this.#instance;
    this.#log.event("info", `${this.#prefix}draining`, { signal, active: instance?.active ?? 0 });
    instance?.close();
    this.#certificates.stop();
    const left = instance === null
      ? 0
      : await waitForConnections(instance, instance.generation.config.defaults.shutdownTimeoutMs);
    this.#log.event("info", `${this.#prefix}stopped`, { left });
    this.#log.flush();
    return left;
  }
}
