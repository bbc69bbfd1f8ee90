/**
 * The messages between a supervisor and its workers, over the IPC channel node:child_process
 * opens (JSON; the same on Deno and Bun).
 *
 * A worker says `hello` once it listens for messages; the supervisor answers `start`. Requests
 * that want an answer (`reload`, `snapshot`) carry a `seq` that the answer repeats.
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
  | { readonly t: "drain"; readonly signal: string };

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
