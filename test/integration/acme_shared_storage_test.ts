/**
 * Two router processes on one storage folder (two machines on a shared volume, say) order a
 * certificate once. Pebble validates HTTP-01 on one port only, so router A is the one behind
 * it, through a front the test controls; router B listens elsewhere and shares the storage
 * and the CA. The front holds Pebble's validation of A's order (A is then ordering, under the
 * lock) until B has started and found the lock held; then A finishes, and B loads what A
 * stored.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  acmeConfig,
  acmeDirs,
  event,
  logged,
  servedSerial,
  startBackend,
  storedFolders,
  ValidationFront,
} from "../helpers/acme.ts";
import { curlTls, freePort } from "../helpers/clients.ts";
import { startPebble } from "../helpers/pebble.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";

const NAMES = ["a.shared.test", "b.shared.test"];

test("acme: two routers on one storage order once; the second waits and loads", async () => {
  const backend = await startBackend();
  const [httpA, tlsA, httpB, tlsB, validation] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const front = await ValidationFront.start(validation, httpA, "hold");
  const pebble = await startPebble({ httpPort: validation, tlsPort: await freePort() });
  const { storage, roots } = await acmeDirs(pebble);
  const config = (httpPort: number, tlsPort: number) =>
    acmeConfig({ pebble, storage, names: NAMES, httpPort, tlsPort, backend: backend.port });
  const routers: RouterProcess[] = [];
  try {
    const a = await startRouter(config(httpA, tlsA));
    routers.push(a);
    // Pebble validating means A holds the lock and is ordering.
    await front.seen();
    const b = await startRouter(config(httpB, tlsB));
    routers.push(b);
    const waiting = await event(
      b,
      (e) => e.msg === "certificate order: another instance holds the lock",
      "B to find the lock held",
    );
    assert.match(String(waiting.holder), new RegExp(`\\(pid ${a.child.pid} on `));

    front.release();
    const obtained = await event(a, (e) => e.msg === "certificate obtained", "A's order");
    const loaded = await event(b, (e) => e.msg === "certificate loaded", "B to load it");
    assert.equal(loaded.not_after, obtained.not_after);
    assert.equal(loaded.folder, obtained.folder);

    // One order in all; both serve its certificate.
    for (const r of [a, b]) {
      assert.equal(
        logged(r, "certificate obtained").length + logged(r, "certificate renewed").length,
        r === a ? 1 : 0,
      );
      assert.equal(logged(r, "certificate order failed").length, 0);
    }
    assert.deepEqual(storedFolders(storage, NAMES[0]), ["1"]);
    assert.equal(
      await servedSerial(NAMES[1], tlsB, roots),
      await servedSerial(NAMES[1], tlsA, roots),
    );
    const r = await curlTls(NAMES[0], tlsB, roots);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `backend saw ${NAMES[0]}:${tlsB}\n`);
  } finally {
    for (const r of routers) await r.stop();
    await front.close();
    backend.close();
    await pebble.close();
  }
});
