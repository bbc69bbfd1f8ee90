/**
 * `run -c FILE`: serve until SIGTERM/SIGINT, then stop accepting, let live connections finish
 * for up to shutdown_timeout, and exit 0.
 *
 * @module
 */

import process from "node:process";
import { type LogFormat, Logger } from "../log/logger.ts";
import { hostPort } from "../net/endpoint.ts";
import { Instance } from "../proxy/instance.ts";
import { localAddressTest } from "../proxy/local_addresses.ts";
import { runtime } from "../runtime/mod.ts";
import { EXIT_INVALID, loadOrReport } from "./config_arg.ts";

/** How often a draining process checks whether its last connection has ended. */
const DRAIN_POLL_MS = 50;

/** Runs the router; resolves with the exit code once it has shut down. */
export async function run(file: string, format: LogFormat): Promise<number> {
  const config = loadOrReport(file);
  if (config === null) return EXIT_INVALID;
  const log = new Logger(format);
  const instance = new Instance({ rt: runtime, log, isLocal: localAddressTest() }, config);
  try {
    await instance.start();
  } catch (err) {
    log.event("error", (err as Error).message);
    log.flush();
    return 1;
  }
  log.event("info", "listening", {
    runtime: runtime.version,
    listeners: instance.sockets.map((s) =>
      `${s.listener}=${hostPort(s.socket.addr.host, s.socket.addr.port)}`
    ),
  });
  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.event("info", "draining", { signal, active: instance.active });
      instance.close();
      const deadline = Date.now() + config.defaults.shutdownTimeoutMs;
      const poll = setInterval(() => {
        if (instance.active > 0 && Date.now() < deadline) return;
        clearInterval(poll);
        log.event("info", "stopped", { left: instance.active });
        log.flush();
        resolve(0);
      }, DRAIN_POLL_MS);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
