/**
 * The certificates TLS termination serves: one store for the process, whose contents change
 * while it runs, with no reload.
 *
 * - File certificates (`certificates: [{ cert, key }]`) come from each config
 *   ({@link Certificates.setFiles}). A poller stats their files by path, following symlinks
 *   (certbot renews by pointing `live/` links at new files), and loads a pair again when its
 *   files change, once its key is seen to belong to its certificate. A pair that cannot load
 *   is logged and the pair loaded before keeps serving.
 * - ACME certificates are put and removed by the ACME manager
 *   ({@link Certificates.put}, {@link Certificates.remove}) and served from the next handshake
 *   on; it also records each one's next renewal and last error for /status.
 *
 * A handshake picks by SNI against each certificate's SAN DNS names: an exact name first,
 * then a wildcard, else the first certificate (file certificates in config order, then ACME
 * certificates in the order they first came). Every change rebuilds that index, so a session
 * pays two map lookups at most.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { statSync } from "node:fs";
import { stat } from "node:fs/promises";
import { clearInterval, setInterval } from "node:timers";
import tls from "node:tls";
import type { CertificateConfig } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";
import { inspectCertificate } from "./inspect.ts";

/** Where a certificate comes from. */
export type CertificateSource = "file" | "acme";

/** How an ACME order ended, as `switchyard_acme_orders_total{result}` counts it. */
export type AcmeOrderResult = "ok" | "failed" | "rate_limited";

/** The results of {@link AcmeOrderResult}, in the order /metrics lists them. */
export const ACME_ORDER_RESULTS: readonly AcmeOrderResult[] = ["ok", "failed", "rate_limited"];

/** One certificate as /status and /metrics report it. */
export interface CertificateView {
  /** SAN DNS names of the certificate served (an ACME one not obtained yet: the names asked for). */
  readonly names: readonly string[];
  readonly source: CertificateSource;
  /** The certificate file; null for an ACME certificate. */
  readonly file: string | null;
  /** Expiry of the certificate served now; null while none is (not obtained, never loaded). */
  readonly notAfter: Date | null;
  /** When the ACME manager renews it next; null for a file certificate. */
  readonly nextRenewal: Date | null;
  /** Why the last load or order failed; null once one succeeds. */
  readonly lastError: string | null;
}

/** What the ACME manager says about a certificate (fields left out stay as they are). */
export interface AcmeStatus {
  /** The names asked for: what /status shows until a certificate is put. */
  readonly names?: readonly string[];
  readonly nextRenewal?: Date | null;
  readonly lastError?: string | null;
}

/** A certificate and key as PEM text, from the ACME manager. */
export interface PemPair {
  /** The certificate, followed by its chain. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The only source `put` makes; callers may say it. */
  readonly source?: "acme";
}

/** Options for {@link Certificates}. */
export interface CertificatesOptions {
  /** How often file certificates are looked at once {@link Certificates.start}ed (ms). */
  readonly pollMs?: number;
}

/** A loaded pair. */
interface Loaded {
  readonly names: readonly string[];
  readonly notAfter: Date;
  readonly context: tls.SecureContext;
}

interface Entry {
  readonly source: CertificateSource;
  /** A file certificate's paths; null for ACME. */
  readonly files: CertificateConfig | null;
  /** null: none serves (an ACME certificate not obtained yet, a file pair that never loaded). */
  readonly loaded: Loaded | null;
  /** The files' stat stamp when last acted on (loaded, or reported bad). */
  readonly stamp: string;
  /** A stamp whose pair failed once, not reported yet: files may be halfway through a swap. */
  readonly unsettled: string | null;
  /** What /status shows while nothing is loaded (ACME: the names asked for). */
  readonly wanted: readonly string[];
  readonly nextRenewal: Date | null;
  readonly lastError: string | null;
}

/** What `select` reads: rebuilt whole on every change. */
interface Index {
  readonly exact: ReadonlyMap<string, tls.SecureContext>;
  /** By the domain below the "*." label. */
  readonly wild: ReadonlyMap<string, tls.SecureContext>;
  readonly first: tls.SecureContext | null;
  /** Why there is nothing to terminate with, when `first` is null. */
  readonly unavailable: string;
}

const DEFAULT_POLL_MS = 5000;

/** Process-wide certificates: file pairs watched on disk, ACME certificates put at runtime. */
export class Certificates {
  readonly #log: Pick<Logger, "event">;
  readonly #pollMs: number;
  /** File entries in config order, then ACME entries; keyed by {@link fileKey} / {@link acmeKey}. */
  #entries = new Map<string, Entry>();
  #index: Index = indexOf(new Map());
  #timer: ReturnType<typeof setInterval> | null = null;
  /** Checks run one after another: this settles when the last one asked for has. */
  #checks: Promise<void> = Promise.resolve();
  #checksQueued = 0;

  /**
   * ACME orders by result, for `switchyard_acme_orders_total`: the ACME manager adds to them
   * (`acmeOrders.ok++`).
   */
  readonly acmeOrders: Record<AcmeOrderResult, number> = { ok: 0, failed: 0, rate_limited: 0 };

  constructor(log: Pick<Logger, "event">, opts: CertificatesOptions = {}) {
    this.#log = log;
    this.#pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  }

  /** The context for `sni` (normalized): exact name, then wildcard, else the first certificate. */
  select(sni: string | null): tls.SecureContext | null {
    const ix = this.#index;
    if (sni !== null) {
      const exact = ix.exact.get(sni);
      if (exact !== undefined) return exact;
      const dot = sni.indexOf(".");
      // A wildcard covers exactly one label, as in certificate matching (RFC 6125).
      const wild = dot > 0 ? ix.wild.get(sni.slice(dot + 1)) : undefined;
      if (wild !== undefined) return wild;
    }
    return ix.first;
  }

  /**
   * Whether the certificate served for `sni` is also the one named for `host` (exactly or by
   * wildcard): a browser then sends `host`'s requests on that HTTP/2 connection.
   */
  covers(sni: string | null, host: string): boolean {
    const served = this.select(sni);
    const ix = this.#index;
    const dot = host.indexOf(".");
    const named = ix.exact.get(host) ?? (dot > 0 ? ix.wild.get(host.slice(dot + 1)) : undefined);
    return served !== null && named === served;
  }

  /** Why a handshake has nothing to terminate with while `select` answers null. */
  get unavailable(): string {
    return this.#index.unavailable;
  }

  /**
   * Makes `files` (a config's `certificates`) the file certificates, in that order. A pair
   * whose files are unchanged keeps its context; a changed one loads again (a bad pair is
   * logged and the old one keeps serving); pairs no longer listed go. ACME entries stay.
   */
  setFiles(files: readonly CertificateConfig[]): void {
    const next = new Map<string, Entry>();
    for (const f of files) {
      const key = fileKey(f);
      if (next.has(key)) continue;
      const old = this.#entries.get(key);
      const stamp = stampSync(f);
      next.set(key, old?.stamp === stamp ? old : this.#loadFile(f, stamp, old ?? null));
    }
    for (const [key, e] of this.#entries) if (e.source === "acme") next.set(key, e);
    this.#entries = next;
    this.#reindex();
  }

  /**
   * Serves `pem` as ACME certificate `id` from the next handshake on, in place of the one it
   * had; clears its last error. Throws, changing nothing, when the key does not belong to the
   * certificate or either does not parse.
   */
  put(id: string, pem: PemPair): CertificateView {
    const r = loadPem(pem.certPem, pem.keyPem);
    if ("error" in r) throw new Error(`ACME certificate "${id}": ${r.error}`);
    const old = this.#entries.get(acmeKey(id));
    const entry: Entry = {
      ...(old ?? newEntry("acme", null)),
      loaded: r,
      lastError: null,
    };
    this.#entries.set(acmeKey(id), entry);
    this.#reindex();
    return viewOf(entry);
  }

  /** Stops serving ACME certificate `id` and forgets it. */
  remove(id: string): void {
    if (this.#entries.delete(acmeKey(id))) this.#reindex();
  }

  /**
   * Records what /status says of ACME certificate `id`; an `id` not put yet is listed from
   * now on (with no certificate: handshakes that need it fail, saying it is not obtained yet).
   */
  setStatus(id: string, status: AcmeStatus): void {
    const old = this.#entries.get(acmeKey(id)) ?? newEntry("acme", null);
    this.#entries.set(acmeKey(id), {
      ...old,
      wanted: status.names ?? old.wanted,
      nextRenewal: status.nextRenewal !== undefined ? status.nextRenewal : old.nextRenewal,
      lastError: status.lastError !== undefined ? status.lastError : old.lastError,
    });
    this.#reindex();
  }

  /** Every certificate, in selection order. */
  list(): CertificateView[] {
    return [...this.#entries.values()].map(viewOf);
  }

  /** Starts looking at file certificates every `pollMs`. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      // A check still running (a slow filesystem) is not queued behind: the next tick retries.
      if (this.#checksQueued === 0) void this.checkNow();
    }, this.#pollMs);
    // Stopping is the owner's job; the poller alone must not keep a process alive.
    this.#timer.unref();
  }

  /** Stops the poller. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Looks at every file certificate now (after any check still running) and loads the pairs
   * whose files changed. A pair that fails is reported only when the next check finds its
   * files unchanged: certbot and `cp` replace the certificate and the key one after the
   * other, and a check between the two would otherwise report a mismatch.
   */
  checkNow(): Promise<void> {
    this.#checksQueued++;
    this.#checks = this.#checks.then(() => this.#check()).finally(() => this.#checksQueued--);
    return this.#checks;
  }

  async #check(): Promise<void> {
    const files = [...this.#entries].filter(([, e]) => e.files !== null);
    const stamps = await Promise.all(files.map(([, e]) => stampOf(e.files!)));
    let changed = false;
    for (const [i, [key, e]] of files.entries()) {
      const stamp = stamps[i];
      // setFiles may have replaced or dropped it while the stats ran.
      if (this.#entries.get(key) !== e || stamp === e.stamp) continue;
      const r = loadFile(e.files!);
      if ("error" in r && e.unsettled !== stamp) {
        this.#entries.set(key, { ...e, unsettled: stamp });
        continue;
      }
      this.#entries.set(key, this.#settle(e, stamp, r));
      changed = true;
    }
    if (changed) this.#reindex();
  }

  /** Loads pair `f` (stamped `stamp`) for setFiles, over `old` if it was listed before. */
  #loadFile(f: CertificateConfig, stamp: string, old: Entry | null): Entry {
    const r = loadFile(f);
    // A pair new to the store loads quietly, as at start-up; `check` reported its problems.
    if (old === null && !("error" in r)) return { ...newEntry("file", f), loaded: r, stamp };
    return this.#settle(old ?? newEntry("file", f), stamp, r);
  }

  /** The entry after loading its files (stamped `stamp`) gave `r`, logged. */
  #settle(e: Entry, stamp: string, r: Loaded | { error: string }): Entry {
    const file = e.files!.cert;
    if ("error" in r) {
      if (e.loaded === null) {
        this.#log.event("error", "certificate not loaded", { file, error: r.error });
      } else {
        this.#log.event("warn", "certificate not reloaded: the old one keeps serving", {
          file,
          error: r.error,
        });
      }
      return { ...e, stamp, unsettled: null, lastError: r.error };
    }
    this.#log.event("info", e.loaded === null ? "certificate loaded" : "certificate reloaded", {
      file,
      names: r.names,
      not_after: r.notAfter.toISOString(),
    });
    return { ...e, loaded: r, stamp, unsettled: null, lastError: null };
  }

  #reindex(): void {
    this.#index = indexOf(this.#entries);
  }
}

function newEntry(source: CertificateSource, files: CertificateConfig | null): Entry {
  return {
    source,
    files,
    loaded: null,
    stamp: "",
    unsettled: null,
    wanted: [],
    nextRenewal: null,
    lastError: null,
  };
}

function fileKey(f: CertificateConfig): string {
  return `file\n${f.cert}\n${f.key}`;
}

function acmeKey(id: string): string {
  return `acme\n${id}`;
}

function viewOf(e: Entry): CertificateView {
  return {
    names: e.loaded?.names ?? e.wanted,
    source: e.source,
    file: e.files?.cert ?? null,
    notAfter: e.loaded?.notAfter ?? null,
    nextRenewal: e.nextRenewal,
    lastError: e.lastError,
  };
}

function indexOf(entries: ReadonlyMap<string, Entry>): Index {
  const exact = new Map<string, tls.SecureContext>();
  const wild = new Map<string, tls.SecureContext>();
  let first: tls.SecureContext | null = null;
  const missing: string[] = [];
  for (const e of entries.values()) {
    if (e.loaded === null) {
      missing.push(
        e.files !== null
          ? `${e.files.cert}: ${e.lastError ?? "not loaded"}`
          : `${e.wanted.join(", ")}: not obtained from the ACME CA yet${
            e.lastError === null ? "" : ` (${e.lastError})`
          }`,
      );
      continue;
    }
    const ctx = e.loaded.context;
    first ??= ctx;
    for (const n of e.loaded.names) {
      if (n.startsWith("*.")) {
        if (!wild.has(n.slice(2))) wild.set(n.slice(2), ctx);
      } else if (!exact.has(n)) exact.set(n, ctx);
    }
  }
  const none = "no certificate loaded to terminate with";
  return {
    exact,
    wild,
    first,
    unavailable: missing.length === 0 ? none : `${none}: ${missing.join("; ")}`,
  };
}

/** The context for a checked pair; node:tls may still refuse what X509Certificate accepted. */
function contextOf(cert: string, key: string): tls.SecureContext | { error: string } {
  try {
    // Only http/1.1 is offered (terminate.ts): the terminated path routes HTTP/1 requests.
    return tls.createSecureContext({ cert, key });
  } catch (err) {
    return { error: `cannot use the pair: ${(err as Error).message}` };
  }
}

function loadFile(f: CertificateConfig): Loaded | { error: string } {
  const r = inspectCertificate(f.cert, f.key);
  if ("error" in r) return r;
  const context = contextOf(r.ok.cert, r.ok.key);
  if ("error" in context) return context;
  return { names: r.ok.names, notAfter: r.ok.notAfter, context };
}

function loadPem(certPem: string, keyPem: string): Loaded | { error: string } {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    return { error: `not a PEM certificate: ${(err as Error).message}` };
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(keyPem))) {
      return { error: "the key does not belong to the certificate" };
    }
  } catch (err) {
    return { error: `not a PEM private key: ${(err as Error).message}` };
  }
  const context = contextOf(certPem, keyPem);
  if ("error" in context) return context;
  const names = (x509.subjectAltName ?? "").split(",").map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4).toLowerCase());
  return { names, notAfter: new Date(x509.validTo), context };
}

/** What identifies a file's content cheaply: stat through symlinks, as certbot swaps them. */
interface Stat {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

function stampPart(s: Stat | NodeJS.ErrnoException): string {
  return "ino" in s ? `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}` : `unreadable ${s.code}`;
}

function stampSync(f: CertificateConfig): string {
  return [f.cert, f.key].map((path) => {
    try {
      return stampPart(statSync(path));
    } catch (err) {
      return stampPart(err as NodeJS.ErrnoException);
    }
  }).join(" ");
}

async function stampOf(f: CertificateConfig): Promise<string> {
  const parts = await Promise.all(
    [f.cert, f.key].map((path) =>
      stat(path).then(stampPart, (err: NodeJS.ErrnoException) => stampPart(err))
    ),
  );
  return parts.join(" ");
}
