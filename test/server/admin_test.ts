/**
 * startAdmin: serves the app it is given on the admin address, and an address that cannot be
 * had is one error naming it (the same from Bun's synchronous throw and Deno's rejection).
 */

import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { startAdmin } from "../../src/server/admin.ts";

const listen = (port: number) => ({
  listen: { host: "127.0.0.1", port, family: 4 as const, text: `127.0.0.1:${port}` },
});

test("startAdmin serves the handler on the admin address", async () => {
  const admin = await startAdmin(listen(0), () => new Response("hello\n"));
  try {
    const res = await fetch(`http://127.0.0.1:${admin.addr.port}/`);
    assert.equal(await res.text(), "hello\n");
  } finally {
    await admin.close();
  }
});

test("an admin address taken by another socket: rejects with a message naming it", async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    await assert.rejects(
      startAdmin(listen(port), () => new Response("")),
      (err: Error) => err.message.startsWith(`admin: cannot listen on 127.0.0.1:${port}: `),
    );
  } finally {
    await new Promise<void>((r) => taken.close(() => r()));
  }
});
