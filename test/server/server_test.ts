/**
 * Server in-process, over real loopback sockets: start binds and serves, a failed start leaves
 * nothing bound, reload switches the config (a bind failure keeps the old one), and drain
 * stops accepting, waits for live connections (or cuts them at shutdown_timeout), logs
 * "draining" and "stopped" with the prefix, and refuses reloads asked for after it.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { Logger } from "../../src/log/logger.ts";
import { Server } from "../../src/server/server.ts";
import { namedSink, SinkClient, type TestServer } from "../helpers/backends.ts";

/** A config with one tcp listener per entry of `listeners` (name → bind), all to `backend`. */
function config(backend: number, listeners: Record<string, string>, shutdown = "30s"): Config {
  const yaml = [
    `defaults: { shutdown_timeout: ${shutdown} }`,
    "listeners:",
    ...Object.entries(listeners).map(([name, bind]) =>
      `  ${name}: { bind: "${bind}", protocol: tcp, default: "127.0.0.1:${backend}" }`
    ),
  ].join("\n");
  const { config, problems } = parseConfig(yaml, "<test>");
  assert.ok(config !== null, JSON.stringify(problems));
  return config;
}

/** A logger that keeps its events and access records, and wakes whoever waits for one. */
class Log {
  readonly events: Record<string, unknown>[] = [];
  readonly access: Record<string, unknown>[] = [];
  #waiters: (() => void)[] = [];
  readonly log = new Logger(
    "json",
    {},
    (text) => this.#keep(text, this.access),
    (text) => this.#keep(text, this.events),
  );

  #keep(text: string, into: Record<string, unknown>[]): void {
    for (const line of text.split("\n")) if (line !== "") into.push(JSON.parse(line));
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves with the first record of `list` that `pred` accepts (kept already or to come). */
  #first(
    list: Record<string, unknown>[],
    pred: (r: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      const check = () => {
        const r = list.find(pred);
        if (r !== undefined) resolve(r);
        else this.#waiters.push(check);
      };
      check();
    });
  }

  /** The first event named `msg`. */
  event(msg: string): Promise<Record<string, unknown>> {
    return this.#first(this.events, (e) => e.msg === msg);
  }

  /** The access record of the connection from local port `port`. */
  accessFrom(port: number): Promise<Record<string, unknown>> {
    return this.#first(this.access, (r) => String(r.client).endsWith(`:${port}`));
  }
}

/** The port `listener` is bound to. */
function portOf(server: Server, listener: string): number {
  const s = server.instance?.sockets.find((x) => x.listener === listener);
  assert.ok(s !== undefined, `listener ${listener} bound`);
  return s.socket.addr.port;
}

describe("Server", () => {
  let sink: TestServer;

  before(async () => {
    sink = await namedSink("A");
  });

  after(async () => {
    await sink.close();
  });

  test("start binds and serves; drain with nothing open stops at once", async () => {
    const log = new Log();
    const server = new Server({ log: log.log });
    assert.equal(server.instance, null);
    const instance = await server.start(config(sink.port, { a: "127.0.0.1:0" }));
    assert.equal(server.instance, instance);
    const port = portOf(server, "a");
    const c = await SinkClient.open(port);
    assert.equal(c.name, "A");
    await c.send(new Uint8Array([1, 2, 3]));
    await c.finish();
    assert.equal((await log.accessFrom(c.c.port)).outcome, "ok");
    assert.equal(instance.active, 0);

    assert.equal(await server.drain("test"), 0);
    assert.equal(server.draining, true);
    assert.deepEqual(instance.sockets, []);
    const draining = await log.event("draining");
    assert.equal(draining.signal, "test");
    assert.equal(draining.active, 0);
    assert.equal((await log.event("stopped")).left, 0);
  });

  test("a failed start leaves nothing bound and rejects naming the address", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const log = new Log();
      const server = new Server({ log: log.log });
      const cfg = config(sink.port, { free: "127.0.0.1:0", busy: `127.0.0.1:${port}` });
      await assert.rejects(
        server.start(cfg),
        new RegExp(`^Error: listener "busy": cannot bind 127\\.0\\.0\\.1:${port}: `),
      );
      assert.equal(server.instance, null);
      // A drain after a failed start has nothing to wait for.
      assert.equal(await server.drain("test"), 0);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  test("reload switches listeners; a bind failure keeps the old config serving", async () => {
    const log = new Log();
    const server = new Server({ log: log.log });
    await server.start(config(sink.port, { a: "127.0.0.1:0" }));
    const a = portOf(server, "a");
    await server.reload(config(sink.port, { b: "127.0.0.1:0" }));
    const b = portOf(server, "b");
    assert.deepEqual(server.instance?.sockets.map((s) => s.listener), ["b"]);
    assert.notEqual(b, a);
    const c = await SinkClient.open(b);
    await c.finish();
    assert.equal((await log.accessFrom(c.c.port)).listener, "b");

    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        server.reload(config(sink.port, { b: "127.0.0.1:0", c: `127.0.0.1:${port}` })),
        /listener "c": cannot bind/,
      );
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
    assert.equal(portOf(server, "b"), b);
    assert.deepEqual(server.instance?.sockets.map((s) => s.listener), ["b"]);
    assert.equal(await server.drain("test"), 0);
  });

  test("a reload's config comes from a function called when its turn comes", async () => {
    const log = new Log();
    const server = new Server({ log: log.log });
    const calls: string[] = [];
    const started = server.start(config(sink.port, { a: "127.0.0.1:0" }));
    const reloaded = server.reload(() => {
      calls.push(server.instance === null ? "before the start" : "after the start");
      return config(sink.port, { b: "127.0.0.1:0" });
    });
    await started;
    await reloaded;
    assert.deepEqual(calls, ["after the start"]);
    assert.deepEqual(server.instance?.sockets.map((s) => s.listener), ["b"]);
    assert.equal(await server.drain("test"), 0);
  });

  test("drain waits for a live connection; a reload asked for after it is refused", async () => {
    const log = new Log();
    const server = new Server({ log: log.log, eventPrefix: "worker " });
    const instance = await server.start(config(sink.port, { a: "127.0.0.1:0" }));
    const port = portOf(server, "a");
    // The sink's greeting came through the router: the connection is live.
    const c = await SinkClient.open(port);
    await c.send(new Uint8Array(1000));
    assert.equal(instance.active, 1);

    const drained = server.drain("SIGTERM");
    assert.equal(server.draining, true);
    // Every call gets the one drain.
    assert.equal(server.drain("again"), drained);
    // Its turn comes after the drain.
    const late = server.reload(config(sink.port, { a: "127.0.0.1:0" }));
    const draining = await log.event("worker draining");
    assert.equal(draining.signal, "SIGTERM");
    assert.equal(draining.active, 1);
    assert.deepEqual(instance.sockets, []);
    assert.equal(log.events.some((e) => e.msg === "worker stopped"), false, "still waiting");

    // The transfer goes on while the drain waits for it.
    await c.send(new Uint8Array(1000));
    await c.finish();
    assert.equal(await drained, 0);
    assert.equal((await log.accessFrom(c.c.port)).bytes_in, 2000);
    await assert.rejects(late, /not serving/);
    assert.equal((await log.event("worker stopped")).left, 0);
  });

  test("past shutdown_timeout drain resolves with the connections still open", async () => {
    const log = new Log();
    const server = new Server({ log: log.log });
    const instance = await server.start(config(sink.port, { a: "127.0.0.1:0" }, "100ms"));
    const c = await SinkClient.open(portOf(server, "a"));
    assert.equal(instance.active, 1);
    assert.equal(await server.drain("test"), 1);
    assert.equal((await log.event("stopped")).left, 1);
    c.c.destroy();
    await log.accessFrom(c.c.port);
    assert.equal(instance.active, 0);
  });
});
