/**
 * A worker process: the router's {@link Instance} with every bind made with SO_REUSEPORT, no
 * admin endpoint and no health checks of its own. Its supervisor sends the config (as text it
 * has validated), reloads, health and drain; the worker sends snapshots of its counters, the
 * connects that failed for real traffic, and its sockets (whose ports the other workers bind).
 * ACME certificates and challenges come from the supervisor, which runs the one ACME manager
 * (src/workers/acme.ts): a worker serves them and orders nothing.
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
import type { Instance } from "../proxy/instance.ts";
import { Server } from "../server/server.ts";
import { applyAcmeState, applyCertificate, applyChallenge } from "./acme.ts";
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
export function runWorker(id: number, format: LogFormat, accessOn = true): Promise<number> {
  const log = new Logger(
    format,
    { worker: id },
    lineSafe((t) => process.stdout.write(t), 1),
    lineSafe((t) => process.stderr.write(t), 2),
    accessOn,
  );
  let ports = new Map<string, number>();
  let health = new Map<string, boolean>();
  const server = new Server({
    log,
    bind: { reusePort: true, portFor: (key) => ports.get(key) },
    eventPrefix: "worker ",
  });
  /** Runs a message's handler; what it did not expect is logged (the worker goes on). */
  const handle = (op: Promise<void>) => {
    op.catch((err) => log.event("error", (err as Error).message));
  };

  /** Applies the supervisor's health to the current generation's servers. */
  const applyHealth = () => {
    if (server.instance === null) return;
    for (const [backend, bal] of server.instance.generation.backends) {
      for (const s of bal.servers) {
        const up = health.get(serverKey(backend, s.config.name, s.config.address.text));
        if (up !== undefined) s.up = up;
      }
    }
  };

  /**
   * After a start or reload: passive failures go to the supervisor's checker (only backends
   * it checks count them), and its health applies to the new generation.
   */
  const connect = (instance: Instance) => {
    for (const [backend, bal] of instance.generation.backends) {
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
    applyHealth();
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
      // Before the listeners bind: the first handshake already has the ACME certificates and
      // challenge keys.
      await applyAcmeState(server, log, m.acme);
      let instance: Instance;
      try {
        instance = await server.start(parse(m.file, m.source));
      } catch (err) {
        // The supervisor logs it (once for the instance) and exits 1.
        send({ t: "failed", error: (err as Error).message }, () => resolve(1));
        return;
      }
      connect(instance);
      const sockets = socketsOf(instance);
      log.event("info", "worker ready", {
        pid: process.pid,
        listeners: sockets.map((s) => `${s.listener}=${s.host}:${s.port}`),
      });
      send({ t: "ready", sockets });
    };

    const reload = async (m: Extract<ToWorker, { t: "reload" }>) => {
      try {
        // Its turn may come after a start or reload still running: the ports are set then.
        await server.reload(() => {
          setPorts(m.ports);
          return parse(m.file, m.source);
        });
      } catch (err) {
        send({
          t: "reloaded",
          seq: m.seq,
          ok: false,
          error: (err as Error).message,
          sockets: server.instance === null ? [] : socketsOf(server.instance),
        });
        return;
      }
      connect(server.instance!);
      send({ t: "reloaded", seq: m.seq, ok: true, sockets: socketsOf(server.instance!) });
    };

    const drain = (signal: string) => {
      if (server.draining) return;
      void server.drain(signal).then((left) =>
        send({ t: "stopped", left, snapshot: takeSnapshot(server.instance) }, () => resolve(0))
      );
    };

    process.on("message", (raw: unknown) => {
      const m = raw as ToWorker;
      switch (m.t) {
        case "start":
          handle(start(m));
          break;
        case "reload":
          handle(reload(m));
          break;
        case "health":
          setHealth(m.servers);
          applyHealth();
          break;
        case "snapshot":
          send({ t: "snapshot", seq: m.seq, snapshot: takeSnapshot(server.instance) });
          break;
        case "drain":
          drain(m.signal);
          break;
        case "certificate":
          applyCertificate(server, log, m.id, { certPem: m.certPem, keyPem: m.keyPem });
          break;
        case "certificate_status":
          server.certificates.setStatus(m.id, { names: m.names, lastError: m.lastError });
          break;
        case "certificate_removed":
          server.certificates.remove(m.id);
          break;
        case "challenge":
          applyChallenge(server.challenges, m.change).then(
            () => send({ t: "ack", seq: m.seq }),
            (err: Error) => send({ t: "ack", seq: m.seq, error: err.message }),
          );
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
