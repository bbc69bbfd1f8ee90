/**
 * `run -c FILE`: serve FILE's listeners, admin endpoint and health checks. SIGHUP reloads
 * FILE (an invalid file is logged and the old config keeps serving), and so does a change of
 * FILE with `--watch` or `watch: true` (src/server/config_watch.ts); SIGTERM/SIGINT stop
 * accepting, let live connections finish for up to shutdown_timeout, and exit 0.
 *
 * With `workers:` (or `--workers`) above 1 the same happens across worker processes under a
 * supervisor: see `src/workers/supervisor.ts`.
 *
 * @module
 */

import { localAcmeHost } from "../acme/host.ts";
import { AcmeManager } from "../acme/manager.ts";
import { adminApp, type AdminState } from "../admin/app.ts";
import { formatProblem } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { HealthChecker } from "../health/checker.ts";
import { type LogFormat, Logger } from "../log/logger.ts";
import { hostPort } from "../net/endpoint.ts";
import type { Instance } from "../proxy/instance.ts";
import { runtime } from "../runtime/mod.ts";
import type { HttpServer } from "../runtime/types.ts";
import { startAdmin } from "../server/admin.ts";
import { coalesced } from "../server/coalesce.ts";
import { ConfigWatch } from "../server/config_watch.ts";
import { FileReloads } from "../server/file_reload.ts";
import { Server } from "../server/server.ts";
import { onSignals } from "../server/signals.ts";
import { supervise } from "../workers/supervisor.ts";
import { resolveWorkers, workerIdFromEnv } from "../workers/spawn.ts";
import { runWorker } from "../workers/worker.ts";
import { EXIT_INVALID, loadReported } from "./config_arg.ts";

/** Options for {@link serve}. */
export interface ServeOptions {
  /** Called once everything listens (the demo prints its instructions then). */
  readonly onReady?: (instance: Instance, admin: HttpServer | null) => void;
  /** Where SIGHUP reads the config again; null: reload is not possible (embedded config). */
  readonly reloadFile: string | null;
  /**
   * Watch reloadFile and reload when it changes: `source` is the text `config` was loaded
   * from, `flag` is `--watch` (on whatever the config's `watch:` says). Absent: no watch.
   */
  readonly watch?: { readonly source: string; readonly flag: boolean };
}

/**
 * Runs the router from FILE; resolves with the exit code once it has shut down. `workers`
 * (`--workers`) overrides the config's; above 1 this process supervises that many workers.
 * `accessOn` false (`--access-log off`): no access lines (workers read the same flag).
 * `watch` (`--watch`): reload when FILE changes, whatever its `watch:` says.
 */
export async function run(
  file: string,
  format: LogFormat,
  workers: number | "auto" | null = null,
  accessOn = true,
  watch = false,
): Promise<number> {
  const id = workerIdFromEnv();
  if (id !== null) return await runWorker(id, format, accessOn);
  const { source, config } = loadReported(file);
  if (source === null || config === null) return EXIT_INVALID;
  const log = new Logger(format, {}, undefined, undefined, accessOn);
  if (resolveWorkers(workers ?? config.workers) <= 1) {
    return await serve(config, log, { reloadFile: file, watch: { source, flag: watch } });
  }
  // The supervisor sends its workers the very text it validated, and watches FILE for them.
  return await supervise({ file, source, config, log, workers, watch, argv: runtime.argv() });
}

/** Serves `config` in this process until SIGTERM/SIGINT; resolves with the exit code. */
export async function serve(config: Config, log: Logger, opts: ServeOptions): Promise<number> {
  const server = new Server({ log });
  const health = new HealthChecker(runtime, log);
  const reloads = opts.reloadFile === null ? null : new FileReloads(opts.reloadFile, log);
  const started = new Date();
  let state: AdminState;
  let admin: HttpServer | null = null;
  try {
    state = {
      instance: await server.start(config),
      runtime: runtime.version,
      started,
      ready: false,
      reloads: reloads?.counts ?? { ok: 0, failed: 0 },
    };
    if (config.admin !== null) admin = await startAdmin(config.admin, adminApp(state).fetch);
  } catch (err) {
    server.instance?.close();
    log.event("error", (err as Error).message);
    log.flush();
    return 1;
  }
  const instance = state.instance;
  health.watch(instance.generation.backends);
  // Certificates are loaded or ordered in the background: serving never waits for the CA.
  const acme = new AcmeManager(
    localAcmeHost(log, server.certificates, server.challenges),
  );
  acme.apply(config.acme);
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
  // A change of the file (with watch) asks for the same reload as SIGHUP.
  const reload = coalesced(async () => {
    if (reloads === null || server.draining) return;
    await reloads.run(async ({ source, config: next, problems }) => {
      await server.reload(next);
      health.watch(instance.generation.backends);
      acme.apply(next.acme);
      watcher?.follow(next, source);
      return problems.length === 0 ? {} : { warnings: problems.map(formatProblem) };
    });
  });
  let watcher: ConfigWatch | null = null;
  if (opts.reloadFile !== null && opts.watch !== undefined) {
    watcher = new ConfigWatch(opts.reloadFile, opts.watch.flag, log, () => void reload());
    watcher.follow(config, opts.watch.source);
  }

  return await new Promise<number>((resolve) => {
    onSignals({
      reload: () => void reload(),
      stop: (signal) => {
        if (server.draining) return;
        health.stop();
        acme.stop();
        watcher?.stop();
        void server.drain(signal).then(async () => {
          // Past the deadline the remaining connections close with the process.
          await admin?.close();
          resolve(0);
        });
      },
    });
  });
}
