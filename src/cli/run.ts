/**
 * `run -c FILE`: serve FILE's listeners, admin endpoint and health checks. SIGHUP reloads
 * FILE (an invalid file is logged and the old config keeps serving); SIGTERM/SIGINT stop
 * accepting, let live connections finish for up to shutdown_timeout, and exit 0.
 *
 * With `workers:` (or `--workers`) above 1 the same happens across worker processes under a
 * supervisor: see `src/workers/supervisor.ts`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import process from "node:process";
import { adminApp, type AdminState } from "../admin/app.ts";
import { formatProblem, loadConfigFile, parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { HealthChecker } from "../health/checker.ts";
import { type LogFormat, Logger } from "../log/logger.ts";
import { hostPort } from "../net/endpoint.ts";
import { Instance } from "../proxy/instance.ts";
import { localAddresses } from "../proxy/local_addresses.ts";
import { runtime } from "../runtime/mod.ts";
import type { HttpServer } from "../runtime/types.ts";
import { coalesced } from "../server/coalesce.ts";
import { supervise } from "../workers/supervisor.ts";
import { resolveWorkers, workerIdFromEnv } from "../workers/spawn.ts";
import { runWorker } from "../workers/worker.ts";
import { EXIT_INVALID, loadOrReport } from "./config_arg.ts";
import { waitForConnections } from "./drain.ts";

/** Options for {@link serve}. */
export interface ServeOptions {
  /** Extra fields for every log line (e.g. the worker number). */
  readonly logFields?: Record<string, unknown>;
  /** Called once everything listens (the demo prints its instructions then). */
  readonly onReady?: (instance: Instance, admin: HttpServer | null) => void;
  /** Where SIGHUP reads the config again; null: reload is not possible (embedded config). */
  readonly reloadFile: string | null;
}

/**
 * Runs the router from FILE; resolves with the exit code once it has shut down. `workers`
 * (`--workers`) overrides the config's; above 1 this process supervises that many workers.
 */
export async function run(
  file: string,
  format: LogFormat,
  workers: number | "auto" | null = null,
): Promise<number> {
  const id = workerIdFromEnv();
  if (id !== null) return await runWorker(id, format);
  const config = loadOrReport(file);
  if (config === null) return EXIT_INVALID;
  if (resolveWorkers(workers ?? config.workers) <= 1) {
    return await serve(config, new Logger(format), { reloadFile: file });
  }
  // The supervisor sends its workers the very text it validated.
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch {
    return loadOrReport(file) === null ? EXIT_INVALID : 1;
  }
  const parsed = parseConfig(source, file, { checkFiles: true });
  if (parsed.config === null) {
    for (const p of parsed.problems) process.stderr.write(formatProblem(p) + "\n");
    return EXIT_INVALID;
  }
  return await supervise({
    file,
    source,
    config: parsed.config,
    format,
    log: new Logger(format),
    workers,
    argv: runtime.argv(),
  });
}

/** Serves `config` until SIGTERM/SIGINT; resolves with the exit code. */
export async function serve(config: Config, log: Logger, opts: ServeOptions): Promise<number> {
  const instance: Instance = new Instance(
    {
      rt: runtime,
      log,
      isLocal: (host) => localAddresses.has(host),
      isDraining: () => instance.draining,
    },
    config,
  );
  const state: AdminState = {
    instance,
    runtime: runtime.version,
    started: new Date(),
    ready: false,
    reloads: { ok: 0, failed: 0 },
  };
  const health = new HealthChecker(runtime, log);
  let admin: HttpServer | null = null;
  try {
    await instance.start();
    if (config.admin !== null) {
      const { host, port } = config.admin.listen;
      // Bun.serve throws synchronously: .then makes that a rejection too.
      admin = await Promise.resolve().then(() =>
        runtime.serveHttp({ host, port }, adminApp(state).fetch)
      ).catch((err: Error) => {
        throw new Error(`admin: cannot listen on ${config.admin!.listen.text}: ${err.message}`);
      });
    }
  } catch (err) {
    instance.close();
    log.event("error", (err as Error).message);
    log.flush();
    return 1;
  }
  health.watch(instance.generation.backends);
  state.ready = true;
  log.event("info", "listening", {
    runtime: runtime.version,
    listeners: instance.sockets.map((s) =>
      `${s.listener}=${hostPort(s.socket.addr.host, s.socket.addr.port)}`
    ),
    admin: admin === null ? null : hostPort(admin.addr.host, admin.addr.port),
    // Infinity (no fd limit known) prints as null.
    fd_budget: instance.fdBudget,
  });
  opts.onReady?.(instance, admin);

  // A SIGHUP during a reload runs one more after it: the file may have changed after it was read.
  const reload = coalesced(async () => {
    if (opts.reloadFile === null || instance.draining) return;
    try {
      const { config: next, problems } = loadConfigFile(opts.reloadFile);
      if (next === null) {
        state.reloads.failed++;
        log.event("error", "reload failed: the old config keeps serving", {
          problems: problems.map(formatProblem),
        });
        return;
      }
      await instance.reload(next);
      health.watch(instance.generation.backends);
      state.reloads.ok++;
      log.event("info", "reloaded", {
        file: opts.reloadFile,
        listeners: next.listeners.size,
        ...(problems.length === 0 ? {} : { warnings: problems.map(formatProblem) }),
      });
    } catch (err) {
      state.reloads.failed++;
      log.event("error", "reload failed: the old config keeps serving", {
        error: (err as Error).message,
      });
    }
  });
  process.on("SIGHUP", () => void reload());

  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      if (instance.draining) return;
      log.event("info", "draining", { signal, active: instance.active });
      instance.close();
      health.stop();
      void waitForConnections(instance, instance.generation.config.defaults.shutdownTimeoutMs)
        .then(async (left) => {
          log.event("info", "stopped", { left });
          log.flush();
          // Past the deadline the remaining connections close with the process.
          await admin?.close();
          resolve(0);
        });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}
