/**
 * The transport contract, run against the adapter of whichever runtime runs the tests:
 * `deno test` checks src/runtime/deno.ts, `bun test` checks src/runtime/bun.ts.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runtime } from "../../src/runtime/mod.ts";
import type { Conn, ConnHandlers, Listener } from "../../src/runtime/types.ts";

/** Records what a connection reports, with promises to wait on. */
class Probe implements ConnHandlers {
  chunks: Uint8Array[] = [];
  ended = false;
  /** How many bytes had come when the FIN was reported. */
  bytesAtEnd = -1;
  drains = 0;
  err: Error | null = null;
  #waiters: (() => void)[] = [];
  data(c: Uint8Array) {
    this.chunks.push(c.slice());
    this.#wake();
  }
  end() {
    this.ended = true;
    this.bytesAtEnd = this.bytes;
    this.#wake();
  }
  drain() {
    this.drains++;
    this.#wake();
  }
  error(e: Error) {
    this.err = e;
    this.#wake();
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
  joined(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
  /** Resolves once `cond` holds (checked after every event). */
  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => (cond() ? resolve() : this.#waiters.push(check));
      this.#waiters.push(check);
    });
  }
  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}

/** A listener on 127.0.0.1:0 and a connected pair. */
async function pair(host = "127.0.0.1"): Promise<{ l: Listener; client: Conn; server: Conn }> {
  let accepted!: (c: Conn) => void;
  const got = new Promise<Conn>((r) => (accepted = r));
  const l = await runtime.listen({ host, port: 0 }, accepted, (e) => {
    throw e;
  });
  const client = await runtime.connect({ host: "127.0.0.1", port: l.addr.port, timeoutMs: 2000 });
  return { l, client, server: await got };
}

function pattern(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Writes `data` in `size` chunks, honouring backpressure, then half-closes. */
async function send(c: Conn, p: Probe, data: Uint8Array, size = 65536): Promise<void> {
  for (let o = 0; o < data.length; o += size) {
    if (!c.write(data.subarray(o, o + size))) {
      const d = p.drains;
      await p.until(() => p.drains > d || p.err !== null);
    }
  }
  c.end();
}

describe(`transport contract (${runtime.name})`, () => {
  test("bytes arrive exactly in both directions", async () => {
    const { l, client, server } = await pair();
    const cp = new Probe();
    const sp = new Probe();
    client.start(cp);
    server.start(sp);
    const up = pattern(3 << 20, 1);
    const down = pattern(2 << 20, 2);
    await Promise.all([send(client, cp, up), send(server, sp, down)]);
    await Promise.all([sp.until(() => sp.ended), cp.until(() => cp.ended)]);
    assert.deepEqual(sp.joined(), up);
    assert.deepEqual(cp.joined(), down);
    client.close();
    server.close();
    l.close();
  });

  test("half-close: after the client's FIN the server can still send", async () => {
    const { l, client, server } = await pair();
    const cp = new Probe();
    const sp = new Probe();
    client.start(cp);
    server.start(sp);
    client.write(new TextEncoder().encode("request"));
    client.end();
    await sp.until(() => sp.ended);
    assert.equal(new TextDecoder().decode(sp.joined()), "request");
    assert.equal(cp.ended, false);
    server.write(new TextEncoder().encode("reply after FIN"));
    server.end();
    await cp.until(() => cp.ended);
    assert.equal(new TextDecoder().decode(cp.joined()), "reply after FIN");
    assert.equal(cp.err, null);
    assert.equal(sp.err, null);
    client.close();
    server.close();
    l.close();
  });

  test("pause stops data events until resume, and nothing is lost", async () => {
    const { l, client, server } = await pair();
    const cp = new Probe();
    const sp = new Probe();
    server.pause();
    server.start(sp);
    client.start(cp);
    client.write(new TextEncoder().encode("held"));
    // A round trip the other way proves the bytes had time to arrive while paused.
    server.write(new TextEncoder().encode("ping"));
    await cp.until(() => cp.bytes === 4);
    assert.equal(sp.bytes, 0);
    server.resume();
    await sp.until(() => sp.bytes === 4);
    assert.equal(new TextDecoder().decode(sp.joined()), "held");
    client.close();
    server.close();
    l.close();
  });

  test("write reports backpressure and drain follows once the reader catches up", async () => {
    const { l, client, server } = await pair();
    const cp = new Probe();
    const sp = new Probe();
    server.pause();
    server.start(sp);
    client.start(cp);
    const chunk = pattern(65536, 3);
    let writes = 0;
    while (client.write(chunk)) {
      writes++;
      assert.ok(writes < 10_000, "write never reported backpressure");
    }
    server.resume();
    await cp.until(() => cp.drains > 0);
    await sp.until(() => sp.bytes === (writes + 1) * 65536);
    client.close();
    server.close();
    l.close();
  });

  test("addresses are normalized: a dual-stack listener sees IPv4 clients as IPv4", async () => {
    const { l, client, server } = await pair("");
    assert.equal(server.remote.host, "127.0.0.1");
    assert.equal(server.remote.family, 4);
    assert.equal(server.local.host, "127.0.0.1");
    assert.equal(client.remote.port, l.addr.port);
    assert.equal(server.remote.port, client.local.port);
    client.close();
    server.close();
    l.close();
  });

  test("data and FIN that arrive before start() wait for it and come in order", async () => {
    const { l, client, server } = await pair();
    server.start(new Probe());
    server.write(new TextEncoder().encode("banner"));
    server.end();
    // Round trips on a second connection give the first one event-loop turns in which its
    // bytes and FIN reach the adapter before anyone started it.
    const other = await pair();
    const op = new Probe();
    const osp = new Probe();
    other.client.start(op);
    other.server.start(osp);
    for (let i = 1; i <= 3; i++) {
      other.client.write(new Uint8Array([i]));
      await osp.until(() => osp.bytes === i);
    }
    const cp = new Probe();
    client.start(cp);
    await cp.until(() => cp.ended);
    assert.equal(new TextDecoder().decode(cp.joined()), "banner");
    assert.equal(cp.bytesAtEnd, 6);
    for (const c of [client, server, other.client, other.server]) c.close();
    l.close();
    other.l.close();
  });

  test("a connection not yet started holds back a flood: the sender waits, nothing is lost", async () => {
    const { l, client, server } = await pair();
    const cp = new Probe();
    client.start(cp);
    // More than the kernel's socket buffers hold: unless the unstarted side stops reading, it
    // would all be taken in while nobody owns the connection.
    const flood = pattern(32 << 20, 5);
    client.write(flood);
    const other = await pair();
    const osp = new Probe();
    other.client.start(new Probe());
    other.server.start(osp);
    // Round trips on another connection: time enough for the flood to be taken in whole if
    // nothing stops it (drain would fire), and it stops at once if that happens.
    for (let i = 1; i <= 1000 && cp.drains === 0; i++) {
      other.client.write(new Uint8Array([i & 0xff]));
      await osp.until(() => osp.bytes === i);
    }
    assert.equal(cp.drains, 0, "the whole flood was taken in before start()");
    const sp = new Probe();
    server.start(sp);
    await sp.until(() => sp.bytes === flood.length);
    await cp.until(() => cp.drains > 0);
    assert.deepEqual(sp.joined(), flood);
    for (const c of [client, server, other.client, other.server]) c.close();
    l.close();
    other.l.close();
  });

  test("an accepted connection's local address is the one it was accepted on", async () => {
    for (const host of ["127.0.0.1", ""]) {
      const { l, client, server } = await pair(host);
      assert.deepEqual(server.local, { host: "127.0.0.1", port: l.addr.port, family: 4 });
      assert.deepEqual(client.remote, server.local);
      assert.deepEqual(client.local, server.remote);
      client.close();
      server.close();
      l.close();
    }
  });

  test("start() again hands the connection to a new owner", async () => {
    const { l, client, server } = await pair();
    const first = new Probe();
    const second = new Probe();
    server.start(first);
    client.start(new Probe());
    client.write(new TextEncoder().encode("a"));
    await first.until(() => first.bytes === 1);
    server.start(second);
    client.write(new TextEncoder().encode("b"));
    await second.until(() => second.bytes === 1);
    assert.equal(first.bytes, 1);
    client.close();
    server.close();
    l.close();
  });

  test("a refused connect rejects", async () => {
    const l = await runtime.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close(), () => {});
    const port = l.addr.port;
    l.close();
    await assert.rejects(runtime.connect({ host: "127.0.0.1", port, timeoutMs: 2000 }));
  });

  test("a peer that resets produces one error and no further events", async () => {
    const { l, client, server } = await pair();
    const cp = new Probe();
    client.start(cp);
    // Unread data at close makes the kernel send RST instead of FIN.
    server.start({ data() {}, end() {}, drain() {}, error() {} });
    server.pause();
    client.write(pattern(1000));
    // Whether those bytes are still unread (RST at once) or arrive after the close (RST in
    // reply to them), the client's writes must end in one error.
    server.close();
    const big = pattern(1 << 20);
    for (let i = 0; i < 64 && cp.err === null; i++) {
      client.write(big);
      await cp.until(() => cp.drains > 0 || cp.err !== null || cp.ended);
      cp.drains = 0;
    }
    await cp.until(() => cp.err !== null);
    assert.ok(cp.err instanceof Error);
    client.close();
    l.close();
  });
});
