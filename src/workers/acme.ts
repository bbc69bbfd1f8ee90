/**
 * ACME with `workers:`: the supervisor runs the one {@link AcmeManager} of the instance (one
 * order per certificate, one account, one backoff) and its workers serve what it obtains.
 *
 * - Certificates: each one installed or removed goes to every worker that reads messages
 *   (`certificate`, `certificate_removed`; `certificate_status` for what a handshake's error
 *   says while none is obtained), and a worker's `start` carries the current set, so a worker
 *   started or restarted later serves them from its first connection.
 * - Challenges: the CA may validate as soon as an answer is in place, and any worker may
 *   accept its connection, so adding one resolves only once every live worker has
 *   acknowledged it; a worker that does not (in time, or cannot) fails the order, which then
 *   backs off, rather than let the CA count a failed validation. A worker that exits meanwhile
 *   does not hold it up: the one that replaces it gets the pending challenges with its
 *   `start`. Removals are sent the same way and never fail an order.
 * - /status and /metrics: the supervisor keeps a {@link Certificates} store of its own (file
 *   certificates from each config, ACME certificates as the manager installs them, the order
 *   counts), read by `supervisedView`. It logs nothing: each worker logs what it loads.
 *
 * Workers never run a manager: they apply what comes here ({@link applyAcmeState},
 * {@link applyCertificate}, {@link applyChallenge}).
 *
 * @module
 */

import type { Challenges } from "../acme/challenges.ts";
import { type AcmeHost, AcmeManager } from "../acme/manager.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { Certificates } from "../tls/certificates.ts";
import type {
  AcmeCertificateEntry,
  AcmeState,
  ChallengeChange,
  FromWorker,
  ToWorker,
} from "./protocol.ts";
import type { Slot, Slots } from "./slots.ts";

/** How long a worker gets to acknowledge a challenge change. */
const ACK_TIMEOUT_MS = 10_000;

/** What the supervisor's ACME side needs of its workers. */
export type AcmeWorkers = Pick<Slots, "list" | "broadcast" | "request">;

/** Options for {@link SupervisorAcme}. */
export interface SupervisorAcmeOptions {
  /** How long a worker gets to acknowledge a challenge (ms). */
  readonly ackTimeoutMs?: number;
  /** How often the supervisor's store looks at certificate files (ms; default 5 s). */
  readonly certificatePollMs?: number;
}

/** The supervisor's ACME: the manager, its host, and what workers are told. */
export class SupervisorAcme {
  /** What /status and /metrics list: the config's files and the manager's certificates. */
  readonly certificates: Certificates;
  /** What the manager tells: certificates and challenges go to the workers from here. */
  readonly host: AcmeHost;
  readonly #log: Logger;
  readonly #workers: AcmeWorkers;
  readonly #ackTimeoutMs: number;
  readonly #manager: AcmeManager;
  /** Every ACME certificate the manager reported or installed, in the order it first did. */
  readonly #entries = new Map<string, AcmeCertificateEntry>();
  /** Pending challenges, by token (http) or `alpn\n` + name. */
  readonly #pending = new Map<string, ChallengeChange>();
  #stopped = false;

  constructor(
    log: Logger,
    workers: AcmeWorkers,
    opts: SupervisorAcmeOptions = {},
  ) {
    this.#log = log;
    this.#workers = workers;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? ACK_TIMEOUT_MS;
    // Quiet: each worker logs the certificate files it loads; this copy is for reporting.
    this.certificates = new Certificates({ event: () => {} }, {
      pollMs: opts.certificatePollMs,
    });
    this.host = this.#host();
    this.#manager = new AcmeManager(this.host);
  }

  /**
   * The config's certificate files, from the supervisor's start (before the workers) and on
   * each committed reload; file changes on disk are followed until {@link stop}.
   */
  files(config: Config): void {
    this.certificates.setFiles(config.certificates);
    this.certificates.start();
  }

  /**
   * Hands `config`'s acme block to the manager: once the workers serve (as a single process
   * does once it listens: the CA's validation must find a listener), and on each committed
   * reload after that.
   */
  apply(config: Config): void {
    if (!this.#stopped) this.#manager.apply(config.acme);
  }

  /** Shutdown: no timer of the manager's runs any more; the store stops watching files. */
  stop(): void {
    this.#stopped = true;
    this.#manager.stop();
    this.certificates.stop();
  }

  /** What a worker's `start` carries: every certificate and every pending challenge. */
  state(): AcmeState {
    return { certificates: [...this.#entries.values()], challenges: [...this.#pending.values()] };
  }

  #host(): AcmeHost {
    return {
      log: this.#log,
      answers: {
        addHttp: (token, keyAuthorization) =>
          this.#challenge(token, { op: "add_http", token, keyAuthorization }),
        removeHttp: (token) => this.#challenge(token, { op: "remove_http", token }),
        addAlpn: (name, certPem, keyPem) =>
          this.#challenge(`alpn\n${name}`, { op: "add_alpn", name, certPem, keyPem }),
        removeAlpn: (name) => this.#challenge(`alpn\n${name}`, { op: "remove_alpn", name }),
      },
      install: (id, cert) => {
        const pem = { certPem: cert.certPem, keyPem: cert.keyPem };
        // Checked here first: a pair this store refuses (it throws) goes to no worker.
        this.certificates.put(id, { ...pem, source: "acme" });
        const old = this.#entries.get(id);
        this.#entries.set(id, {
          id,
          names: old?.names ?? [],
          lastError: null,
          pem,
        });
        this.#workers.broadcast({ t: "certificate", id, ...pem });
      },
      uninstall: (id) => {
        this.certificates.remove(id);
        this.#entries.delete(id);
        this.#workers.broadcast({ t: "certificate_removed", id });
      },
      report: (id, names, nextRenewal, lastError) => {
        this.certificates.setStatus(id, {
          names,
          nextRenewal: nextRenewal === null ? null : new Date(nextRenewal),
          lastError,
        });
        const old = this.#entries.get(id);
        if (
          old !== undefined && old.names.join(",") === names.join(",") &&
          old.lastError === lastError
        ) return;
        this.#entries.set(id, { id, names, lastError, pem: old?.pem ?? null });
        this.#workers.broadcast({ t: "certificate_status", id, names, lastError });
      },
      count: (result) => void this.certificates.acmeOrders[result]++,
    };
  }

  /**
   * Records `change` (what a worker starting from now on gets), then sends it to every worker
   * that reads messages and waits for each one's acknowledgement. An addition rejects when a
   * live worker did not take it; a removal only logs that.
   */
  async #challenge(key: string, change: ChallengeChange): Promise<void> {
    const adding = change.op === "add_http" || change.op === "add_alpn";
    if (adding) this.#pending.set(key, change);
    else this.#pending.delete(key);
    const live = this.#workers.list.filter((s) => s.admitted && s.child !== null);
    const failures = (await Promise.all(live.map((s) => this.#ack(s, change))))
      .filter((f) => f !== null);
    if (failures.length === 0) return;
    if (adding) {
      throw new Error(`the challenge is not answered by every worker: ${failures.join("; ")}`);
    }
    this.#log.event("warn", "ACME challenge not removed from every worker", {
      op: change.op,
      errors: failures,
    });
  }

  /** Null once `slot`'s worker took `change` (or is gone); else why not. */
  async #ack(slot: Slot, change: ChallengeChange): Promise<string | null> {
    const child = slot.child;
    const r: FromWorker | null = await this.#workers.request(
      slot,
      (seq): ToWorker => ({ t: "challenge", seq, change }),
      this.#ackTimeoutMs,
    );
    if (r?.t === "ack") return r.error === undefined ? null : `worker ${slot.id}: ${r.error}`;
    // Gone: a worker in its place gets the pending challenges with its start.
    if (slot.child !== child) return null;
    return `worker ${slot.id} did not acknowledge within ${this.#ackTimeoutMs} ms`;
  }
}

// --- worker side ---------------------------------------------------------------------------------

/** What a worker applies ACME changes to: its Server's store and challenge table. */
export interface AcmeTarget {
  readonly certificates: Pick<Certificates, "put" | "remove" | "setStatus">;
  readonly challenges: Challenges;
}

/** Applies one challenge change; rejects when a TLS-ALPN-01 certificate cannot be used. */
export async function applyChallenge(
  challenges: Challenges,
  change: ChallengeChange,
): Promise<void> {
  switch (change.op) {
    case "add_http":
      challenges.addHttp(change.token, change.keyAuthorization);
      break;
    case "remove_http":
      challenges.removeHttp(change.token);
      break;
    case "add_alpn":
      await challenges.addAlpn(change.name, change.certPem, change.keyPem);
      break;
    case "remove_alpn":
      challenges.removeAlpn(change.name);
      break;
  }
}

/** Serves an ACME certificate the supervisor obtained; a pair that does not load is logged. */
export function applyCertificate(
  target: AcmeTarget,
  log: Pick<Logger, "event">,
  id: string,
  pem: { readonly certPem: string; readonly keyPem: string },
): void {
  try {
    target.certificates.put(id, { ...pem, source: "acme" });
  } catch (err) {
    log.event("error", "ACME certificate not installed", { id, error: (err as Error).message });
  }
}

/**
 * A worker's start: every certificate and pending challenge the supervisor has. The
 * certificates serve at once; the promise resolves once every challenge key is loaded too (one
 * that cannot be is logged).
 */
export async function applyAcmeState(
  target: AcmeTarget,
  log: Pick<Logger, "event">,
  state: AcmeState,
): Promise<void> {
  for (const c of state.certificates) {
    target.certificates.setStatus(c.id, { names: c.names, lastError: c.lastError });
    if (c.pem !== null) applyCertificate(target, log, c.id, c.pem);
  }
  await Promise.all(
    state.challenges.map((change) =>
      applyChallenge(target.challenges, change).catch((err: Error) =>
        log.event("error", "ACME challenge not answered", { op: change.op, error: err.message })
      )
    ),
  );
}
