/**
 * The signals a single process and a supervisor answer alike: SIGHUP reloads the config file,
 * SIGTERM and SIGINT stop. (A worker answers its own way: see `src/workers/worker.ts`.)
 *
 * @module
 */

import process from "node:process";

/** The signals that stop a router. */
export type StopSignal = "SIGTERM" | "SIGINT";

/** What the signals do. */
export interface SignalHandlers {
  /** SIGHUP. */
  reload(): void;
  /** SIGTERM or SIGINT: stop accepting, let live connections finish, exit. */
  stop(signal: StopSignal): void;
}

/** Wires SIGHUP, SIGTERM and SIGINT to `on` for the life of the process. */
export function onSignals(on: SignalHandlers): void {
  process.on("SIGHUP", () => on.reload());
  process.on("SIGTERM", () => on.stop("SIGTERM"));
  process.on("SIGINT", () => on.stop("SIGINT"));
}
