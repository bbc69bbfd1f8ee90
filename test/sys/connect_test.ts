/**
 * Sockets made through FFI on loopback (src/sys/ under the runtime's FFI adapter): a
 * non-blocking connect from a chosen source awaited off the event loop and adopted by the
 * runtime, refusals as clear errors, many connects in flight at once (Bun's poll thread), and
 * an IP_TRANSPARENT listening socket adopted by `Runtime.listen({ fd })` (root only).
 */

import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { runtime } from "../../src/runtime/mod.ts";
import type { Conn } from "../../src/runtime/types.ts";
import { SysError } from "../../src/sys/errno.ts";
import { closeFd, localAddress } from "../../src/sys/socket.ts";
import { connectFrom, listenTransparent } from "../../src/sys/transparent.ts";
import { freePort } from "../helpers/clients.ts";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Reads `conn` to its end; resolves with the text. */
function readAll(conn: Conn): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    conn.start({
      data: (c) => (text += new TextDecoder().decode(c)),
      end: () => {
        conn.close();
        resolve(text);
      },
      drain: () => {},
      error: reject,
    });
  });
}

describe(`FFI sockets on loopback (${runtime.name})`, () => {
  let server: net.Server;
  let port = 0;

  before(async () => {
    // Echoes what it got with the peer's address, once the client half-closes.
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      let got = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => (got += d));
      s.on("end", () => s.end(`${s.remoteAddress} ${got}`));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  test("connects from a chosen source, then the runtime adopts the connected fd", async () => {
    const fd = await connectFrom({
      host: "127.0.0.1",
      port,
      source: { host: "127.0.0.2", port: 0 },
      transparent: false,
      device: null,
      timeoutMs: 5000,
    });
    assert.equal(localAddress(fd).host, "127.0.0.2");
    const conn = await runtime.adopt(fd);
    assert.equal(conn.remote.port, port);
    const reply = readAll(conn);
    conn.write(new TextEncoder().encode("ping"));
    conn.end();
    assert.equal(await reply, "127.0.0.2 ping");
  });

  test("a refused connect is a SysError naming the address", async () => {
    const closed = await freePort();
    await assert.rejects(
      connectFrom({
        host: "127.0.0.1",
        port: closed,
        source: null,
        transparent: false,
        device: null,
        timeoutMs: 5000,
      }),
      (e: unknown) =>
        e instanceof SysError && e.code === "ECONNREFUSED" &&
        e.message === `connect 127.0.0.1:${closed}: ECONNREFUSED (Connection refused)`,
    );
  });

  test("binding an address that is not local, without IP_TRANSPARENT, says so", async () => {
    await assert.rejects(
      connectFrom({
        host: "127.0.0.1",
        port,
        source: { host: "198.51.100.9", port: 0 },
        transparent: false,
        device: null,
        timeoutMs: 5000,
      }),
      /^SysError: bind 198\.51\.100\.9:0: EADDRNOTAVAIL .*not an address of this host/,
    );
  });

  test("64 connects in flight at once all complete, and the event loop keeps running", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const replies = await Promise.all(
        Array.from({ length: 64 }, async (_, i) => {
          const fd = await connectFrom({
            host: "127.0.0.1",
            port,
            source: { host: `127.0.0.${3 + (i % 8)}`, port: 0 },
            transparent: false,
            device: null,
            timeoutMs: 5000,
          });
          const conn = await runtime.adopt(fd);
          const reply = readAll(conn);
          conn.write(new TextEncoder().encode(`n${i}`));
          conn.end();
          return await reply;
        }),
      );
      replies.forEach((r, i) => assert.equal(r, `127.0.0.${3 + (i % 8)} n${i}`));
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0, "timers ran while connects were in flight");
  });

  test("an IP_TRANSPARENT listening socket is adopted by Runtime.listen({ fd })", async (t) => {
    if (!isRoot) {
      console.log("skipped: IP_TRANSPARENT needs root (CAP_NET_ADMIN)");
      return t.skip("IP_TRANSPARENT needs root (CAP_NET_ADMIN)");
    }
    const fd = listenTransparent("127.0.0.1", 0);
    const bound = localAddress(fd);
    let accepted: Conn | null = null;
    const listener = await runtime.listen(
      { host: "127.0.0.1", port: bound.port, fd },
      (c) => {
        accepted = c;
        c.start({
          data: () => {},
          end: () => {
            c.write(new TextEncoder().encode("hi"));
            c.end();
          },
          drain: () => {},
          error: () => {},
        });
      },
      () => {},
    );
    try {
      assert.equal(listener.addr.port, bound.port);
      const text = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: "127.0.0.1", port: bound.port, allowHalfOpen: true });
        let got = "";
        s.setEncoding("utf8");
        s.on("connect", () => s.end());
        s.on("data", (d: string) => (got += d));
        s.on("end", () => {
          s.destroy();
          resolve(got);
        });
        s.on("error", reject);
      });
      assert.equal(text, "hi");
      assert.equal(accepted!.local.port, bound.port);
      assert.equal(accepted!.local.host, "127.0.0.1");
    } finally {
      listener.close();
      (accepted as Conn | null)?.close();
    }
  });

  test("a failed listen closes its socket and names the address", () => {
    if (!isRoot) return;
    const fd = listenTransparent("127.0.0.1", 0);
    const { port: taken } = localAddress(fd);
    try {
      assert.throws(
        () => listenTransparent("127.0.0.1", taken),
        /^SysError: bind 127\.0\.0\.1:\d+: EADDRINUSE/,
      );
    } finally {
      closeFd(fd);
    }
  });
});
