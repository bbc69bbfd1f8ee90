/**
 * `tproxy-setup` print mode as a check (root only): in network namespaces made by this test, with
 * nothing set up it exits 1 and prints every command; once the set-up is in place (by `--apply`,
 * or by running what it printed) it exits 0 with every command commented out as present; with a
 * step removed it exits 1 and prints only that one; without CAP_NET_ADMIN it exits 1.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { after, describe, test } from "node:test";
import { exec } from "../helpers/clients.ts";
import { cliIn, inNs, isRoot, sh, Topology } from "../helpers/netns.ts";
import { runtimeName } from "../helpers/runtime.ts";

const SKIP = "needs root (network namespaces)";

/** Drops CAP_NET_ADMIN (and CAP_NET_RAW) for the command that follows, as for a plain user. */
const NO_NET_ADMIN = [
  "setpriv",
  "--bounding-set",
  "-net_admin,-net_raw",
  "--inh-caps",
  "-net_admin,-net_raw",
];

/** The command lines print mode prints (not commented out). */
const commands = (stdout: string) =>
  stdout.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));

describe(`tproxy-setup print mode exit status (${runtimeName})`, () => {
  // Its own tag: the namespaces must not collide with transparent_test's (same pid on Deno).
  const topo = new Topology(`t${process.pid % 1_000_000}`);

  after(() => {
    if (isRoot) topo.destroy();
  });

  test("a fresh namespace: exit 1 and every command; after --apply: exit 0", async (t) => {
    if (!isRoot) return t.skip(SKIP);
    const S = topo.scratch("fresh");
    const fresh = await cliIn(S, ["tproxy-setup"]);
    assert.equal(fresh.code, 1, fresh.stdout + fresh.stderr);
    const all = commands(fresh.stdout);
    assert.ok(all.includes("ip rule add fwmark 1 lookup 100"), fresh.stdout);
    assert.ok(all.includes("sysctl -w net.ipv4.ip_nonlocal_bind=1"), fresh.stdout);
    assert.ok(all.some((l) => /^(iptables|nft) /.test(l)), fresh.stdout);
    assert.match(
      fresh.stderr,
      new RegExp(`^switchyard: tproxy-setup: ${all.length} of ${all.length} steps missing`, "m"),
    );
    assert.equal(fresh.stderr.trim().split("\n").length, 1, `one line:\n${fresh.stderr}`);

    const apply = await cliIn(S, ["tproxy-setup", "--apply"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);

    const done = await cliIn(S, ["tproxy-setup"]);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.deepEqual(commands(done.stdout), [], "nothing left to run");
    assert.equal(done.stdout.match(/^# present: /gm)?.length, all.length, done.stdout);
    assert.equal(done.stderr, "");

    // One step gone: exit 1 again, and only that command is printed to run.
    sh(inNs(S, ["ip", "rule", "del", "fwmark", "1", "lookup", "100"]));
    const one = await cliIn(S, ["tproxy-setup"]);
    assert.equal(one.code, 1, one.stdout + one.stderr);
    assert.deepEqual(commands(one.stdout), ["ip rule add fwmark 1 lookup 100"]);
    assert.match(one.stderr, new RegExp(`: 1 of ${all.length} steps missing`));
  });

  test("what print mode prints, run as a script, completes the set-up (nft, --loopback)", async (t) => {
    if (!isRoot) return t.skip(SKIP);
    const S = topo.scratch("script");
    const args = ["tproxy-setup", "--firewall", "nft", "--loopback", "192.0.2.0/24"];
    const fresh = await cliIn(S, args);
    assert.equal(fresh.code, 1, fresh.stdout + fresh.stderr);
    assert.ok(commands(fresh.stdout).includes("ip addr add 192.0.2.1/24 dev lo scope host"));
    const ran = await exec("ip", inNs(S, ["sh", "-e"]).slice(1), 15_000, fresh.stdout);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    const done = await cliIn(S, args);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.deepEqual(commands(done.stdout), []);
  });

  test("without CAP_NET_ADMIN: exit 1 even where the set-up is in place", async (t) => {
    if (!isRoot) return t.skip(SKIP);
    const S = topo.scratch("nocap");
    const fresh = await cliIn(S, ["tproxy-setup"], NO_NET_ADMIN);
    assert.equal(fresh.code, 1, fresh.stdout + fresh.stderr);
    assert.match(fresh.stderr, /^switchyard: tproxy-setup: no CAP_NET_ADMIN\b.*steps missing/m);
    assert.equal(fresh.stderr.trim().split("\n").length, 1, `one line:\n${fresh.stderr}`);

    const apply = await cliIn(S, ["tproxy-setup", "--apply"]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    assert.equal((await cliIn(S, ["tproxy-setup"])).code, 0, "with the capability: complete");
    const set = await cliIn(S, ["tproxy-setup"], NO_NET_ADMIN);
    assert.equal(set.code, 1, set.stdout + set.stderr);
    assert.match(set.stderr, /no CAP_NET_ADMIN/);
    // --apply is unchanged: it refuses without the capability.
    const refused = await cliIn(S, ["tproxy-setup", "--apply"], NO_NET_ADMIN);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /--apply needs CAP_NET_ADMIN/);
  });
});
