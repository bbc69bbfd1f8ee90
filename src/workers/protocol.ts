/**
 * The messages between a supervisor and its workers, over the IPC channel node:child_process
 * opens (JSON; the same on Deno and Bun).
 *
 * A worker says `hello` once it listens for messages; the supervisor answers `start`. Requests
 * that want an answer (`reload`, `snapshot`, `challenge`) carry a `seq` that the answer
 * repeats.
 *
 * ACME runs in the supervisor alone (src/workers/acme.ts): it pushes each certificate it
 * obtains and each pending challenge to every worker, and a `start` carries what is current.
 *
 * @module
 */

import type { WorkerSnapshot } from "./snapshot.ts";

/** A bound socket, as a worker reports it. */
export interface SocketEntry {
  /** The instance's bind key (address, or for port 0 listener and position). */
  readonly key: string;
  readonly listener: string;
  readonly host: string;
  readonly port: number;
}

/** One server's health, as the supervisor's checker sees it. */
export interface HealthEntry {
  readonly backend: string;
  readonly server: string;
  readonly address: string;
  readonly up: boolean;
}

/** A change to the ACME challenges a worker answers (see src/acme/challenges.ts). */
export type ChallengeChange =
  | { readonly op: "add_http"; readonly token: string; readonly keyAuthorization: string }
  | { readonly op: "remove_http"; readonly token: string }
  | {
    readonly op: "add_alpn";
    readonly name: string;
    readonly certPem: string;
    readonly keyPem: string;
  }
  | { readonly op: "remove_alpn"; readonly name: string };

/** One ACME certificate as the supervisor's manager has it. */
export interface AcmeCertificateEntry {
  /** Its id (src/acme/manager.ts: acmeId). */
  readonly id: string;
  /** The names asked for (what a handshake's error names while none is obtained yet). */
  readonly names: readonly string[];
  readonly lastError: string | null;
  /** The certificate and key served; null while none is obtained. */
  readonly pem: { readonly certPem: string; readonly keyPem: string } | null;
}

/** What a worker needs of ACME when it starts: the certificates and the pending challenges. */
export interface AcmeState {
  readonly certificates: readonly AcmeCertificateEntry[];
  /** Only `add_*` changes: one per pending challenge. */
  readonly challenges: readonly ChallengeChange[];
}

/** Supervisor → worker. */
export type ToWorker =
  | {
    /** Serve `source` (the config text the supervisor validated, read from `file`). */
    readonly t: "start";
    readonly file: string;
    readonly source: string;
    /** Ports the first worker got for port-0 binds, by bind key: bind the same ones. */
    readonly ports: readonly SocketEntry[];
    readonly health: readonly HealthEntry[];
    /** ACME certificates and pending challenges, current as the start is sent. */
    readonly acme: AcmeState;
  }
  | {
    readonly t: "reload";
    readonly seq: number;
    readonly file: string;
    readonly source: string;
    readonly ports: readonly SocketEntry[];
  }
  | { readonly t: "health"; readonly servers: readonly HealthEntry[] }
  | { readonly t: "snapshot"; readonly seq: number }
  | { readonly t: "drain"; readonly signal: string }
  /** Serve this ACME certificate (replacing the one of the same id). */
  | {
    readonly t: "certificate";
    readonly id: string;
    readonly certPem: string;
    readonly keyPem: string;
  }
  /** What an ACME certificate's handshake errors say while none is obtained. */
  | {
    readonly t: "certificate_status";
    readonly id: string;
    readonly names: readonly string[];
    readonly lastError: string | null;
  }
  /** Stop serving ACME certificate `id` (its entry left the config). */
  | { readonly t: "certificate_removed"; readonly id: string }
  /** Answer (or stop answering) a challenge; `ack` once the change is in place. */
  | { readonly t: "challenge"; readonly seq: number; readonly change: ChallengeChange };

/** Worker → supervisor. */
export type FromWorker =
  | { readonly t: "hello" }
  | { readonly t: "ready"; readonly sockets: readonly SocketEntry[] }
  /** Starting failed (e.g. a bind); the worker exits next. */
  | { readonly t: "failed"; readonly error: string }
  | {
    readonly t: "reloaded";
    readonly seq: number;
    readonly ok: boolean;
    readonly error?: string;
    readonly sockets: readonly SocketEntry[];
  }
  | { readonly t: "snapshot"; readonly seq: number; readonly snapshot: WorkerSnapshot }
  /** A `challenge` is in place (or, with `error`, could not be). */
  | { readonly t: "ack"; readonly seq: number; readonly error?: string }
  /** A connect for real traffic failed (passive health: the supervisor's checker counts it). */
  | {
    readonly t: "failure";
    readonly backend: string;
    readonly server: string;
    readonly address: string;
    readonly reason: string;
  }
  /** Drained: about to exit; `left` connections were cut at shutdown_timeout. */
  | { readonly t: "stopped"; readonly left: number; readonly snapshot: WorkerSnapshot };
