/**
 * Automatic certificates: for each `- acme: [names]` entry, load the stored certificate or
 * order one, serve it, and renew it before it expires, in the background.
 *
 * What keeps the router off the CA's rate limits (Let's Encrypt's have locked users of other
 * routers out for a week when the storage was lost or the process crash-looped):
 * - a stored certificate that is still valid and not due is used as it is: a restart orders
 *   nothing;
 * - a failed order is retried after 1 minute doubling to 24 hours (longer when the CA's
 *   Retry-After says so), and that schedule is kept on disk, so a process that restarts in a
 *   loop does not order in a loop;
 * - an order takes a lock file in storage: other instances sharing the folder (workers, or
 *   machines on a shared volume) wait for it and load the result;
 * - orders run one at a time (src/acme/client.ts);
 * - a `renew_before` as long as the certificates' lifetime gives way to the default (a third of
 *   it), or each new certificate would be due at once;
 * - a certificate the CA issued is served even when it cannot be stored (a full disk): it is
 *   renewed when due, not ordered again at each backoff step (Let's Encrypt allows 5 duplicate
 *   certificates a week).
 * Serving never waits on any of this: the old certificate keeps serving until a new one is
 * installed, and one stored is installed only when it expires no sooner than the one in use.
 *
 * A damaged stored certificate (or key) is reported once, naming the file, and left as it is.
 * The certificate in use, if any, keeps serving and is renewed when due; with none in use (at
 * start) a new certificate is ordered at once, under the backoff and the lock as always, and
 * stored in the next numbered folder, which from then on is the newest and loads: one order per
 * damage, never a loop.
 *
 * @module
 */

import type { AcmeCertificateConfig, AcmeConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { readFileSync } from "node:fs";
import process from "node:process";
import type { ChallengeAnswers, OrderResult } from "./client.ts";
import { AcmeOrderError } from "./order_error.ts";
import { BACKOFF_MIN_MS, backoffDelay, renewalTime, renewBeforeIgnored } from "./schedule.ts";
import {
  accountLockName,
  type Backoff,
  certificateLockName,
  checkCertificate,
  loadAccount,
  loadBackoff,
  loadCertificate,
  saveAccount,
  saveBackoff,
  saveCertificate,
  type StoredCertificate,
} from "./storage.ts";
import { Lock, tryLock, waitForUnlock } from "./lock.ts";

/**
 * acme-client and what it pulls in (about 30 MiB of memory, measured on Deno): loaded by the
 * first order, so a router without ACME, or with every certificate still valid, never pays it.
 */
function loadClient(): Promise<typeof import("./client.ts")> {
  return import("./client.ts");
}

/** How long an order may hold its lock before others may take it over. */
const LOCK_TTL_MS = 10 * 60_000;
/** How often an instance waiting for another's order looks at the lock. */
const LOCK_POLL_MS = 1000;
/** Timers are set at most this far ahead (setTimeout's limit is about 24.8 days). */
const MAX_TIMER_MS = 24 * 3600_000;

/** The results counted in `switchyard_acme_orders_total{result}`. */
export type OrderResultLabel = "ok" | "failed" | "rate_limited";

/** What the manager tells the rest of the process. */
export interface AcmeHost {
  readonly log: Logger;
  readonly answers: ChallengeAnswers;
  /** Serves `cert` for its names from now on (replacing the one of the same id). */
  install(id: string, cert: StoredCertificate): void;
  /** Status for /status: its names, when it renews next and why the last order failed. */
  report(
    id: string,
    names: readonly string[],
    nextRenewal: number | null,
    lastError: string | null,
  ): void;
  /** Stops serving certificate `id` (its entry left the config). */
  uninstall(id: string): void;
  /** Counts an order's result. */
  count(result: OrderResultLabel): void;
}

/** One certificate the manager keeps. */
interface Managed {
  readonly id: string;
  readonly names: readonly string[];
  /** The certificate being served, if any. */
  current: StoredCertificate | null;
  timer: ReturnType<typeof setTimeout> | null;
  /** An order or a load is running for it. */
  busy: boolean;
  /** Look again once the running one ends (a timer fired or a lock was released meanwhile). */
  recheck: boolean;
  stopped: boolean;
  /** In [0, 1): how far ahead of the renewal time it renews (see renewalTime). */
  readonly jitter: number;
  /** The damaged-storage error last logged, so that each is logged once. */
  storedError: string | null;
  /** The ignored renew_before was logged. */
  warnedRenewBefore: boolean;
}

/** The id of an acme entry in storage and in the certificate store: its first name. */
export function acmeId(c: AcmeCertificateConfig): string {
  return c.names[0];
}

/** Runs the ACME side of one process (the single process, or a supervisor). */
export class AcmeManager {
  readonly #host: AcmeHost;
  #config: AcmeConfig | null = null;
  readonly #managed = new Map<string, Managed>();
  readonly #owner = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  readonly #random: () => number;

  constructor(host: AcmeHost, random: () => number = Math.random) {
    this.#host = host;
    this.#random = random;
  }

  /**
   * Takes `config` (at start and on every reload): certificates kept by name stay as they
   * are, new ones are loaded or ordered, removed ones stop being renewed.
   */
  apply(config: AcmeConfig | null): void {
    const previous = this.#config;
    this.#config = config;
    const wanted = new Map((config?.certificates ?? []).map((c) => [acmeId(c), c]));
    for (const [id, m] of this.#managed) {
      const c = wanted.get(id);
      if (c === undefined || c.names.join(",") !== m.names.join(",")) {
        this.#forget(m);
        this.#managed.delete(id);
        this.#host.uninstall(id);
      }
    }
    for (const [id, c] of wanted) {
      const kept = this.#managed.get(id);
      if (kept !== undefined) {
        if (previous !== null && config !== null && changed(previous, config)) {
          // Another CA or storage: what is in use stays until the new one is installed.
          if (previous.directory !== config.directory || previous.storage !== config.storage) {
            kept.current = null;
          }
          kept.warnedRenewBefore = false;
          void this.#check(kept);
        }
        continue;
      }
      const m: Managed = {
        id,
        names: c.names,
        current: null,
        timer: null,
        busy: false,
        recheck: false,
        stopped: false,
        jitter: this.#random(),
        storedError: null,
        warnedRenewBefore: false,
      };
      this.#managed.set(id, m);
      this.#host.report(id, m.names, null, null);
      void this.#check(m);
    }
  }

  /** Stops every timer (shutdown); an order in flight finishes but schedules nothing. */
  stop(): void {
    for (const m of this.#managed.values()) this.#forget(m);
    this.#managed.clear();
  }

  #forget(m: Managed): void {
    m.stopped = true;
    if (m.timer !== null) clearTimeout(m.timer);
    m.timer = null;
  }

  #at(m: Managed, when: number, lastError: string | null): void {
    if (m.stopped) return;
    if (m.timer !== null) clearTimeout(m.timer);
    this.#host.report(m.id, m.names, when, lastError);
    const delay = Math.min(Math.max(0, when - Date.now()), MAX_TIMER_MS);
    m.timer = setTimeout(() => {
      m.timer = null;
      // A far-off time is reached in steps of at most MAX_TIMER_MS.
      if (Date.now() < when) this.#at(m, when, lastError);
      else void this.#check(m);
    }, delay);
  }

  /** Serves the stored certificate when there is one, and orders when it is due. */
  async #check(m: Managed): Promise<void> {
    const config = this.#config;
    if (config === null || m.stopped) return;
    if (m.busy) {
      m.recheck = true;
      return;
    }
    m.busy = true;
    try {
      const inUse = await this.#loadStored(config, m);
      if (inUse !== null) {
        const due = this.#dueAt(config, m, inUse);
        if (Date.now() < due) {
          this.#at(m, due, null);
          return;
        }
      }
      const backoff = await this.#loadBackoff(config, m);
      if (backoff !== null && Date.now() < backoff.nextAttempt) {
        this.#host.log.event("info", "certificate order waits for its backoff", {
          names: m.names,
          retry_at: new Date(backoff.nextAttempt).toISOString(),
          last_error: backoff.lastError,
        });
        this.#at(m, backoff.nextAttempt, backoff.lastError);
        return;
      }
      await this.#orderLocked(config, m, backoff);
    } catch (err) {
      // Storage that fails under the lock or the load (an order's own failures are handled
      // where it runs): nothing reached the CA, so look again in a minute, unless a time is set.
      const error = err instanceof Error ? err.message : String(err);
      const retry = m.timer === null ? BACKOFF_MIN_MS : null;
      this.#host.log.event("error", "certificate check failed", {
        names: m.names,
        error,
        retry_in_ms: retry,
      });
      if (retry !== null) this.#at(m, Date.now() + retry, error);
    } finally {
      m.busy = false;
      if (m.recheck && !m.stopped) {
        m.recheck = false;
        setTimeout(() => void this.#check(m), 0);
      }
    }
  }

  /** The stored backoff; a damaged record is reported and counts as none (an order rewrites it). */
  async #loadBackoff(config: AcmeConfig, m: Managed): Promise<Backoff | null> {
    const loaded = await loadBackoff(config.storage, config.directory, m.names);
    if ("error" in loaded) {
      this.#host.log.event("error", "stored backoff not loaded", {
        names: m.names,
        error: loaded.error,
      });
    }
    return "ok" in loaded ? loaded.ok : null;
  }

  /**
   * Installs the stored certificate when it is new here and expires no sooner than the one in
   * use (another instance on the storage renewed it); returns the certificate in use, or null.
   * A damaged one is reported once and left for a person to look at: nothing is deleted.
   */
  async #loadStored(config: AcmeConfig, m: Managed): Promise<StoredCertificate | null> {
    const r = await loadCertificate(config.storage, config.directory, m.names);
    if ("error" in r) {
      if (m.storedError !== r.error) {
        m.storedError = r.error;
        this.#host.log.event("error", "stored certificate not loaded", {
          names: m.names,
          error: r.error,
          serving: m.current === null ? null : new Date(m.current.notAfter).toISOString(),
          hint: "the file is left as it is; the next certificate obtained is stored beside it",
        });
      }
      return m.current;
    }
    m.storedError = null;
    if ("missing" in r) return m.current;
    const cert = r.ok;
    if (
      m.current === null ||
      (m.current.certPem !== cert.certPem && cert.notAfter >= m.current.notAfter)
    ) {
      m.current = cert;
      this.#host.install(m.id, cert);
      this.#host.log.event("info", "certificate loaded", {
        names: m.names,
        not_after: new Date(cert.notAfter).toISOString(),
        folder: cert.folder,
      });
    }
    return m.current;
  }

  /** When `c` is due for renewal; says once when renew_before is too long for it. */
  #dueAt(config: AcmeConfig, m: Managed, c: StoredCertificate): number {
    if (!m.warnedRenewBefore && renewBeforeIgnored(c.notBefore, c.notAfter, config.renewBeforeMs)) {
      m.warnedRenewBefore = true;
      this.#host.log.event(
        "warn",
        "renew_before is not shorter than the certificate's lifetime: renewing when a third of it is left",
        {
          names: m.names,
          renew_before_ms: config.renewBeforeMs,
          lifetime_ms: c.notAfter - c.notBefore,
        },
      );
    }
    return renewalTime(c.notBefore, c.notAfter, config.renewBeforeMs, m.jitter);
  }

  /** Orders under the storage lock, or waits for the instance that holds it. */
  async #orderLocked(config: AcmeConfig, m: Managed, backoff: Backoff | null): Promise<void> {
    const name = certificateLockName(config.directory, m.names);
    const lock = await tryLock(config.storage, name, LOCK_TTL_MS, `${this.#owner} ${m.id}`);
    if (!(lock instanceof Lock)) {
      this.#host.log.event("info", "certificate order: another instance holds the lock", {
        names: m.names,
        holder: lock.holder === null
          ? null
          : `${lock.holder.owner} (pid ${lock.holder.pid} on ${lock.holder.host})`,
      });
      await waitForUnlock(config.storage, name, LOCK_TTL_MS, { pollMs: LOCK_POLL_MS });
      // Whatever that order gave is in storage now; look again (outside this busy section).
      m.recheck = true;
      return;
    }
    try {
      // The lock's previous holder may have just stored a certificate, or a failure.
      const inUse = await this.#loadStored(config, m);
      const due = inUse === null ? 0 : this.#dueAt(config, m, inUse);
      if (Date.now() < due) {
        this.#at(m, due, null);
        return;
      }
      const latest = await this.#loadBackoff(config, m) ?? backoff;
      if (latest !== null && Date.now() < latest.nextAttempt) {
        this.#at(m, latest.nextAttempt, latest.lastError);
        return;
      }
      await this.#order(
        config,
        m,
        latest,
        () =>
          void lock.refresh().catch((e: Error) =>
            this.#host.log.event("error", "ACME lock not refreshed", {
              names: m.names,
              error: e.message,
            })
          ),
      );
    } finally {
      await lock.release();
    }
  }

  async #order(
    config: AcmeConfig,
    m: Managed,
    backoff: Backoff | null,
    refresh: () => void,
  ): Promise<void> {
    const renewal = m.current !== null;
    const t0 = Date.now();
    const keepLock = setInterval(refresh, LOCK_TTL_MS / 4);
    try {
      let account: { keyPem: string; url: string | null };
      let r: OrderResult;
      try {
        account = await this.#account(config, m);
        r = await (await loadClient()).order({
          directory: config.directory,
          caPem: config.ca === null ? null : readFileSync(config.ca, "utf8"),
          accountKeyPem: account.keyPem,
          accountUrl: account.url,
          email: config.email,
          names: m.names,
          challenges: config.challenges,
        }, this.#host.answers);
      } catch (err) {
        await this.#failed(config, m, backoff, err);
        return;
      }
      const valid = checkCertificate(m.names, r);
      if (typeof valid === "string") {
        await this.#failed(config, m, backoff, new Error(valid));
        return;
      }
      // The CA issued it: from here on, trouble with storage does not make the order a failure.
      if (r.accountUrl !== account.url) {
        await saveAccount(config.storage, config.directory, {
          keyPem: account.keyPem,
          url: r.accountUrl,
          contact: config.email === null ? [] : [`mailto:${config.email}`],
        }).catch((e: Error) =>
          this.#host.log.event("error", "ACME account URL not stored", { error: e.message })
        );
      }
      let cert: StoredCertificate;
      let notStored: string | null = null;
      try {
        cert = await saveCertificate(config.storage, config.directory, m.names, r);
      } catch (err) {
        notStored = (err as Error).message;
        cert = {
          certPem: r.certPem,
          keyPem: r.keyPem,
          names: m.names,
          ...valid,
          issued: Date.now(),
          folder: "",
        };
      }
      await saveBackoff(config.storage, config.directory, m.names, null).catch((e: Error) =>
        this.#host.log.event("error", "ACME backoff not cleared", { error: e.message })
      );
      this.#host.count("ok");
      m.current = cert;
      this.#host.install(m.id, cert);
      this.#host.log.event("info", renewal ? "certificate renewed" : "certificate obtained", {
        names: m.names,
        not_after: new Date(cert.notAfter).toISOString(),
        directory: config.directory,
        folder: notStored === null ? cert.folder : null,
        duration_ms: Date.now() - t0,
      });
      if (notStored !== null) {
        this.#host.log.event(
          "error",
          "certificate not stored: it serves until the process exits, and is renewed when due",
          { names: m.names, error: notStored },
        );
      }
      this.#at(m, this.#dueAt(config, m, cert), notStored);
    } finally {
      clearInterval(keepLock);
    }
  }

  /** Records a failed order: backoff on disk and in the timer, the count, the log line. */
  async #failed(
    config: AcmeConfig,
    m: Managed,
    backoff: Backoff | null,
    err: unknown,
  ): Promise<void> {
    const problem = err instanceof AcmeOrderError ? err.problem : null;
    const rateLimited = err instanceof AcmeOrderError && err.rateLimited;
    const failures = (backoff?.failures ?? 0) + 1;
    const delay = backoffDelay(failures, problem?.retryAfterMs ?? null);
    const lastError = err instanceof Error ? err.message : String(err);
    // Kept on disk: a process that restarts in a loop must not order in a loop.
    await saveBackoff(config.storage, config.directory, m.names, {
      failures,
      nextAttempt: Date.now() + delay,
      lastError,
    }).catch((e: Error) =>
      this.#host.log.event("error", "ACME backoff not stored", { error: e.message })
    );
    this.#host.count(rateLimited ? "rate_limited" : "failed");
    this.#host.log.event("error", "certificate order failed", {
      names: m.names,
      type: problem?.type ?? null,
      detail: problem?.detail ?? lastError,
      status: problem?.status ?? null,
      failures,
      retry_in_ms: delay,
      serving: m.current === null ? null : new Date(m.current.notAfter).toISOString(),
    });
    this.#at(m, Date.now() + delay, lastError);
  }

  /**
   * The account for the directory: stored, or a new key, saved before its first use under the
   * account lock (two instances creating two accounts would split their rate limits).
   */
  async #account(config: AcmeConfig, m: Managed): Promise<{ keyPem: string; url: string | null }> {
    const first = await loadAccount(config.storage, config.directory);
    if ("error" in first) throw new Error(first.error);
    if ("ok" in first) return first.ok;
    const name = accountLockName(config.directory);
    let lock = await tryLock(config.storage, name, LOCK_TTL_MS, `${this.#owner} ${m.id}`);
    while (!(lock instanceof Lock)) {
      await waitForUnlock(config.storage, name, LOCK_TTL_MS, { pollMs: LOCK_POLL_MS });
      lock = await tryLock(config.storage, name, LOCK_TTL_MS, `${this.#owner} ${m.id}`);
    }
    try {
      const r = await loadAccount(config.storage, config.directory);
      if ("error" in r) throw new Error(r.error);
      if ("ok" in r) return r.ok;
      const keyPem = await (await loadClient()).newKey();
      await saveAccount(config.storage, config.directory, { keyPem, url: null });
      return { keyPem, url: null };
    } finally {
      await lock.release();
    }
  }
}

/** Whether a reload changed what the kept certificates' schedule or orders depend on. */
function changed(a: AcmeConfig, b: AcmeConfig): boolean {
  return a.directory !== b.directory || a.storage !== b.storage ||
    a.renewBeforeMs !== b.renewBeforeMs;
}
