/**
 * A worker process: the router's {@link Instance} with every bind made with SO_REUSEPORT, no
 * admin endpoint and no health checks of its own. Its supervisor sends the config (as text it
 * has validated), reloads, health and drain; the worker sends snapshots of its counters, the
 * connects that failed for real traffic, and its sockets (whose ports the other workers bind).
 *
 * Access log lines carry `worker: N`. SIGHUP and SIGINT are left to the supervisor (a terminal
 * sends them to the whole process group); SIGTERM drains this worker alone, and a worker whose
 * supervisor is gone drains and exits.
 *
 * Balancer state (round-robin position, leastconn counts, `source` hashing) is per worker; see
 * `src/workers/supervisor.ts` for what that means.
 *
 * @module
 */

import process from "node:process";
import { parseConfig } from "../config/load.ts";
import type { Config } from "../config/types.ts";
import { type LogFormat, Logger } from "../log/logger.ts";
import { Instance } from "../proxy/instance.ts";
import { localAddresses } from "../proxy/local_addresses.ts";
import { runtime } from "../runtime/mod.ts";
import { waitForConnections } from "../cli/drain.ts";
import type { FromWorker, HealthEntry, SocketEntry, ToWorker } from "./protocol.ts";
import { lineSafe } from "./spawn.ts";
import { serverKey, takeSnapshot } from "./snapshot.ts";

/** Sends to the supervisor; `done` once the message is handed over (or cannot be). */
function send(m: FromWorker, done?: () => void): void {
  if (process.connected !== true || process.send === undefined) {
    done?.();
    return;
  }
  try {
    process.send(m, undefined, {}, () => done?.());
  } catch {
    done?.();
  }
}

function parse(file: string, source: string): Config {
  const { config, problems } = parseConfig(source, file);
  if (config === null) {
    // The supervisor validated this text: only a file that vanished since can fail here.
    throw new Error(`config no longer valid: ${problems.map((p) => p.message).join("; ")}`);
  }
  return config;
}

function socketsOf(instance: Instance): SocketEntry[] {
  return instance.sockets.map((s) => ({
    key: s.key,
    listener: s.listener,
    host: s.socket.addr.host,
    port: s.socket.addr.port,
  }));
}

/** Runs as worker `id` until drained; resolves with the exit code. */
export function runWorker(id: number, format: LogFormat): Promise<number> {
  const log = new Logger(
    format,
    { worker: id },
    lineSafe((t) => process.stdout.write(t), 1),
    lineSafe((t) => process.stderr.write(t), 2),
  );
  let instance: Instance | null = null;
  let ports = new Map<string, number>();
  let health = new Map<string, boolean>();
  let draining = false;
  // start and reload run one after the other, in the order they came.
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (f: () => Promise<void>) => {
    queue = queue.then(f).catch((err) => log.event("error", (err as Error).message));
  };

  /** Applies the supervisor's health to the current generation's servers. */
  const applyHealth = () => {
    if (instance === null) return;
    for (const [backend, bal] of instance.generation.backends) {
      for (const s of bal.servers) {
        const up = health.get(serverKey(backend, s.config.name, s.config.address.text));
        if (up !== undefined) s.up = up;
      }
    }
  };

  /** Passive failures go to the supervisor's checker (only backends it checks count them). */
  const wire = () => {
    for (const [backend, bal] of instance!.generation.backends) {
      if (bal.config.healthCheck === null) continue;
      bal.onFailure = (s, reason) =>
        send({
          t: "failure",
          backend,
          server: s.config.name,
          address: s.config.address.text,
          reason,
        });
    }
  };

  const setPorts = (entries: readonly SocketEntry[]) => {
    ports = new Map(entries.map((e) => [e.key, e.port]));
  };
  const setHealth = (entries: readonly HealthEntry[]) => {
    health = new Map(entries.map((e) => [serverKey(e.backend, e.server, e.address), e.up]));
  };

  return new Promise<number>((resolve) => {
    const start = async (m: Extract<ToWorker, { t: "start" }>) => {
      setPorts(m.ports);
      setHealth(m.health);
      let next: Instance | null = null;
      try {
        const config = parse(m.file, m.source);
        next = new Instance(
          {
            rt: runtime,
            log,
            isLocal: (host) => localAddresses.has(host),
            isDraining: () => draining,
          },
          config,
          { reusePort: true, portFor: (key) => ports.get(key) },
        );
        await next.start();
      } catch (err) {
        next?.close();
        // The supervisor logs it (once for the instance) and exits 1.
        send({ t: "failed", error: (err as Error).message }, () => resolve(1));
        return;
      }
      instance = next;
      wire();
      applyHealth();
      const sockets = socketsOf(instance);
      log.event("info", "worker ready", {
        pid: process.pid,
        listeners: sockets.map((s) => `${s.listener}=${s.host}:${s.port}`),
      });
      send({ t: "ready", sockets });
    };

    const reload = async (m: Extract<ToWorker, { t: "reload" }>) => {
      if (instance === null || draining) {
        send({ t: "reloaded", seq: m.seq, ok: false, error: "not serving", sockets: [] });
        return;
      }
      setPorts(m.ports);
      try {
        await instance.reload(parse(m.file, m.source));
      } catch (err) {
        send({
          t: "reloaded",
          seq: m.seq,
          ok: false,
          error: (err as Error).message,
          sockets: socketsOf(instance),
        });
        return;
      }
      wire();
      applyHealth();
      send({ t: "reloaded", seq: m.seq, ok: true, sockets: socketsOf(instance) });
    };

    const drain = (signal: string) => {
      if (draining) return;
      draining = true;
      enqueue(async () => {
        const inst = instance;
        log.event("info", "worker draining", { signal, active: inst?.active ?? 0 });
        inst?.close();
        const left = inst === null
          ? 0
          : await waitForConnections(inst, inst.generation.config.defaults.shutdownTimeoutMs);
        log.event("info", "worker stopped", { left });
        log.flush();
        send({ t: "stopped", left, snapshot: takeSnapshot(inst) }, () => resolve(0));
      });
    };

    process.on("message", (raw: unknown) => {
      const m = raw as ToWorker;
      switch (m.t) {
        case "start":
          enqueue(() => start(m));
          break;
        case "reload":
          enqueue(() => reload(m));
          break;
        case "health":
          setHealth(m.servers);
          applyHealth();
          break;
        case "snapshot":
          send({ t: "snapshot", seq: m.seq, snapshot: takeSnapshot(instance) });
          break;
        case "drain":
          drain(m.signal);
          break;
      }
    });
    // The supervisor is gone (killed): finish what is open and leave.
    process.on("disconnect", () => drain("supervisor gone"));
    process.on("SIGTERM", () => drain("SIGTERM"));
    // A terminal's Ctrl-C and hang-up reach every process of the group: the supervisor acts.
    process.on("SIGINT", () => {});
    process.on("SIGHUP", () => {});
    send({ t: "hello" });
  });
}
