/**
 * The supervisor's ACME side (src/workers/acme.ts) over fake worker slots: a challenge resolves
 * only once every live worker acknowledged it (a worker that exits meanwhile does not hold it
 * up; one that refuses or does not answer fails an addition, never a removal), certificates go
 * to the supervisor's store and to every worker, and a starting worker's state carries what is
 * current; and the worker side applying that state to a real store and challenge table.
 */

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { describe, test } from "node:test";
import { Challenges } from "../../src/acme/challenges.ts";
import type { StoredCertificate } from "../../src/acme/storage.ts";
import { Logger } from "../../src/log/logger.ts";
import { Certificates } from "../../src/tls/certificates.ts";
import { type AcmeWorkers, applyAcmeState, SupervisorAcme } from "../../src/workers/acme.ts";
import type { FromWorker, ToWorker } from "../../src/workers/protocol.ts";
import type { Slot } from "../../src/workers/slots.ts";
import { selfSigned } from "../helpers/certs.ts";

/** A pair for `names`, as PEM text. */
function pem(names: string[]): { certPem: string; keyPem: string } {
  const c = selfSigned(names);
  return { certPem: c.cert, keyPem: c.key };
}

/** A pair for `names` as the manager holds it. */
function stored(names: string[]): StoredCertificate {
  const now = Date.now();
  return {
    ...pem(names),
    names,
    notBefore: now,
    notAfter: now + 2 * 86_400_000,
    issued: now,
    folder: "/nowhere",
  };
}

function slot(id: number, admitted = true): Slot {
  return {
    id,
    child: {} as ChildProcess,
    pid: 1000 + id,
    state: "ready",
    admitted,
    gen: 0,
    since: Date.now(),
    restarts: 0,
    streak: 0,
    last: null,
    left: null,
    error: null,
    retiring: false,
    timer: null,
    pending: new Map(),
  };
}

interface Request {
  readonly slot: Slot;
  readonly m: ToWorker;
  readonly timeoutMs: number;
  answer(r: FromWorker | null): void;
}

/** Slots whose requests the test answers by hand. */
class FakeWorkers implements AcmeWorkers {
  readonly list: Slot[];
  readonly broadcasts: ToWorker[] = [];
  readonly requests: Request[] = [];
  #seq = 0;

  constructor(slots: Slot[]) {
    this.list = slots;
  }

  broadcast(m: ToWorker): void {
    this.broadcasts.push(m);
  }

  request(s: Slot, make: (seq: number) => ToWorker, timeoutMs: number) {
    return new Promise<FromWorker | null>((resolve) => {
      this.requests.push({ slot: s, m: make(++this.#seq), timeoutMs, answer: resolve });
    });
  }

  /** Acknowledges every request not answered yet to worker `id`. */
  ack(id: number, error?: string): void {
    for (const r of this.requests.filter((r) => r.slot.id === id)) {
      const seq = (r.m as { seq: number }).seq;
      r.answer(error === undefined ? { t: "ack", seq } : { t: "ack", seq, error });
    }
  }
}

class Lines {
  readonly lines: Record<string, unknown>[] = [];
  readonly log = new Logger("json", {}, () => {}, (t) => {
    for (const l of t.split("\n")) if (l !== "") this.lines.push(JSON.parse(l));
  });
  events(): Record<string, unknown>[] {
    this.log.flush();
    return this.lines;
  }
}

/** Whether `p` settled by the time pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setTimeout(r, 0));
  return done;
}

describe("SupervisorAcme: challenges", () => {
  test("an addition resolves once every live worker acknowledged it; a new worker's state has it", async () => {
    const workers = new FakeWorkers([slot(1), slot(2), slot(3, false)]);
    const acme = new SupervisorAcme(new Lines().log, workers);
    const added = acme.host.answers.addHttp("tok", "tok.thumb");
    // Recorded before it goes out: a worker admitted from now on starts with it.
    assert.deepEqual(acme.state().challenges, [
      { op: "add_http", token: "tok", keyAuthorization: "tok.thumb" },
    ]);
    // Worker 3 reads no messages yet: it gets the state with its start instead.
    assert.deepEqual(workers.requests.map((r) => r.slot.id), [1, 2]);
    assert.deepEqual(workers.requests.map((r) => (r.m as { change: unknown }).change), [
      { op: "add_http", token: "tok", keyAuthorization: "tok.thumb" },
      { op: "add_http", token: "tok", keyAuthorization: "tok.thumb" },
    ]);
    assert.ok(workers.requests.every((r) => r.m.t === "challenge"));
    workers.ack(1);
    assert.equal(await settled(added), false);
    workers.ack(2);
    await added;

    const removed = acme.host.answers.removeHttp("tok");
    assert.deepEqual(acme.state().challenges, []);
    workers.ack(1);
    workers.ack(2);
    await removed;
  });

  test("tls-alpn-01 certificates go the same way, by name", async () => {
    const workers = new FakeWorkers([slot(1)]);
    const acme = new SupervisorAcme(new Lines().log, workers);
    const added = acme.host.answers.addAlpn("a.test", "CERT", "KEY");
    workers.ack(1);
    await added;
    assert.deepEqual(acme.state().challenges, [
      { op: "add_alpn", name: "a.test", certPem: "CERT", keyPem: "KEY" },
    ]);
    const removed = acme.host.answers.removeAlpn("a.test");
    workers.ack(1);
    await removed;
    assert.deepEqual(acme.state().challenges, []);
  });

  test("a worker that exits meanwhile does not hold an addition up", async () => {
    const gone = slot(2);
    const workers = new FakeWorkers([slot(1), gone]);
    const acme = new SupervisorAcme(new Lines().log, workers);
    const added = acme.host.answers.addHttp("tok", "ka");
    workers.ack(1);
    gone.child = null;
    workers.requests[1].answer(null);
    await added;
  });

  test("a worker that refuses or does not answer fails an addition, and only a warning for a removal", async () => {
    const lines = new Lines();
    const workers = new FakeWorkers([slot(1), slot(2)]);
    const acme = new SupervisorAcme(lines.log, workers, { ackTimeoutMs: 50 });
    const refused = acme.host.answers.addAlpn("a.test", "x", "y");
    workers.ack(1);
    workers.ack(2, "bad certificate");
    await assert.rejects(refused, /not answered by every worker: worker 2: bad certificate/);
    assert.equal(workers.requests[0].timeoutMs, 50);

    workers.requests.length = 0;
    const silent = acme.host.answers.addHttp("tok", "ka");
    workers.ack(2);
    // Worker 1 is still there and said nothing: the request timed out.
    workers.requests[0].answer(null);
    await assert.rejects(silent, /worker 1 did not acknowledge within 50 ms/);

    workers.requests.length = 0;
    const removal = acme.host.answers.removeHttp("tok");
    workers.ack(2);
    workers.requests[0].answer(null);
    await removal;
    const warn = lines.events().find((e) =>
      e.msg === "ACME challenge not removed from every worker"
    );
    assert.ok(warn !== undefined);
    assert.equal(warn.level, "warn");
    assert.deepEqual(acme.state().challenges, [
      { op: "add_alpn", name: "a.test", certPem: "x", keyPem: "y" },
    ]);
  });
});

describe("SupervisorAcme: certificates", () => {
  test("installed: in the supervisor's store and pushed to every worker; in a starting worker's state", () => {
    const workers = new FakeWorkers([slot(1), slot(2)]);
    const acme = new SupervisorAcme(new Lines().log, workers);
    const names = ["a.test", "b.test"];
    const when = Date.now() + 3600_000;
    acme.host.report("a.test", names, null, null);
    assert.deepEqual(workers.broadcasts, [
      { t: "certificate_status", id: "a.test", names, lastError: null },
    ]);
    assert.deepEqual(acme.certificates.list().map((c) => [c.names, c.source, c.notAfter]), [
      [names, "acme", null],
    ]);

    const cert = stored(names);
    acme.host.install("a.test", cert);
    acme.host.count("ok");
    // Unchanged status: nothing more goes out.
    acme.host.report("a.test", names, when, null);
    assert.deepEqual(workers.broadcasts.slice(1), [
      { t: "certificate", id: "a.test", certPem: cert.certPem, keyPem: cert.keyPem },
    ]);
    const [view] = acme.certificates.list();
    assert.deepEqual(view.names, names);
    assert.ok(view.notAfter !== null);
    assert.equal(view.nextRenewal?.getTime(), when);
    assert.equal(acme.certificates.acmeOrders.ok, 1);
    assert.deepEqual(acme.state().certificates, [
      {
        id: "a.test",
        names,
        lastError: null,
        pem: { certPem: cert.certPem, keyPem: cert.keyPem },
      },
    ]);

    acme.host.report("a.test", names, when, "rate limited");
    assert.deepEqual(workers.broadcasts.at(-1), {
      t: "certificate_status",
      id: "a.test",
      names,
      lastError: "rate limited",
    });

    acme.host.uninstall("a.test");
    assert.deepEqual(workers.broadcasts.at(-1), { t: "certificate_removed", id: "a.test" });
    assert.deepEqual(acme.certificates.list(), []);
    assert.deepEqual(acme.state().certificates, []);
  });

  test("a pair the store refuses goes to no worker", () => {
    const workers = new FakeWorkers([slot(1)]);
    const acme = new SupervisorAcme(new Lines().log, workers);
    const a = stored(["a.test"]);
    const b = stored(["a.test"]);
    assert.throws(() => acme.host.install("a.test", { ...a, keyPem: b.keyPem }), /does not belong/);
    assert.deepEqual(workers.broadcasts, []);
    assert.deepEqual(acme.state().certificates, []);
  });
});

describe("a worker applies the supervisor's state", () => {
  test("certificates serve by SNI, challenges answer; a bad pair is logged and skipped", async () => {
    const lines = new Lines();
    const target = { certificates: new Certificates(lines.log), challenges: new Challenges() };
    const good = pem(["a.test"]);
    const other = pem(["b.test"]);
    const alpn = pem(["a.test"]);
    await applyAcmeState(target, lines.log, {
      certificates: [
        { id: "a.test", names: ["a.test"], lastError: null, pem: good },
        {
          id: "b.test",
          names: ["b.test"],
          lastError: null,
          pem: { ...other, keyPem: good.keyPem },
        },
        { id: "c.test", names: ["c.test"], lastError: "pending", pem: null },
      ],
      challenges: [
        { op: "add_http", token: "tok", keyAuthorization: "tok.ka" },
        { op: "add_alpn", name: "a.test", ...alpn },
      ],
    });
    assert.ok(target.certificates.select("a.test") !== null);
    assert.deepEqual(
      target.certificates.list().map((c) => [c.names, c.notAfter !== null, c.lastError]),
      [[["a.test"], true, null], [["b.test"], false, null], [["c.test"], false, "pending"]],
    );
    assert.match(target.certificates.unavailable, /c\.test: not obtained from the ACME CA yet/);
    assert.equal(target.challenges.httpAnswer("/.well-known/acme-challenge/tok"), "tok.ka");
    assert.ok(target.challenges.alpnIdentity("a.test") !== null);
    const err = lines.events().find((e) => e.msg === "ACME certificate not installed");
    assert.equal(err?.id, "b.test");
  });
});
