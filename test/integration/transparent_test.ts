/**
 * Transparent proxying end to end, in network namespaces made by this test (root only):
 * client ── proxy (the router, HAProxy) ── backend, with the proxy's kernel set up by
 * `switchyard tproxy-setup --apply`. Backends report the address each connection came from.
 *
 * HAProxy (`source 0.0.0.0 usesrc client`) runs through the same namespaces first, so that a
 * failure in the plumbing (kernel, netfilter, routes) is told apart from a router fault: every
 * router test names HAProxy's result when it fails.
 *
 * Addresses (documentation ranges, only inside the namespaces):
 *   client 198.51.100.2, 2001:db8:1::2; proxy 198.51.100.1, 2001:db8:1::1 | 203.0.113.1,
 *   2001:db8:2::1; backend 203.0.113.2, 2001:db8:2::2; the loopback alias range
 *   203.0.113.128/25 on the proxy's lo (backend 203.0.113.140); foreign addresses caught by
 *   TPROXY: 198.51.100.128/25.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import type { HaproxyProcess } from "../helpers/haproxy.ts";
import {
  cliIn,
  connectFrom,
  inNs,
  isRoot,
  type Peer,
  peerInfo,
  sh,
  startHaproxyIn,
  startPeer,
  startRouterIn,
  Topology,
} from "../helpers/netns.ts";
import { exec } from "../helpers/clients.ts";
import { type RouterProcess } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const HELLO = fileURLToPath(
  new URL("../fixtures/clienthello/curl-openssl3.bin", import.meta.url),
);

const SKIP = "needs root (network namespaces, IP_TRANSPARENT)";
let toldSkip = false;

const CONFIG = `
defaults: { connect_timeout: 1s }
listeners:
  t_client: { bind: [":7001"], protocol: tcp, default: be_client }
  t_clientip: { bind: [":7002"], protocol: tcp, default: be_clientip }
  t_tls:
    bind: [":7003"]
    protocol: tls
    routes: [{ sni: a.test, to: be_client }]
  t_http: { bind: [":7004"], protocol: http, default: be_client }
  t_literal: { bind: ["198.51.100.1:7005"], protocol: tcp, default: be_literal }
  t_alias: { bind: ["198.51.100.1:7006"], protocol: tcp, default: be_alias }
  t_timeout: { bind: ["198.51.100.1:7007"], protocol: tcp, default: be_blackhole }
  t_inbound:
    bind: ["0.0.0.0:7010"]
    protocol: tcp
    transparent: true
    routes: [{ dst: 198.51.100.201/32, to: be_inbound_dst }]
    default: be_inbound
backends:
  be_client:
    servers: ["203.0.113.2:9000", "[2001:db8:2::2]:9000"]
    balance: roundrobin
    source: { usesrc: client }
  be_clientip:
    servers: ["203.0.113.2:9000", "[2001:db8:2::2]:9000"]
    source: { usesrc: clientip }
  be_literal: { servers: ["203.0.113.2:9000"], source: { usesrc: 198.51.100.77 } }
  be_alias:
    servers: ["203.0.113.140:9001"]
    source: { usesrc: client, address: 203.0.113.129 }
  be_blackhole: { servers: ["203.0.113.2:9009"], source: { usesrc: client } }
  be_inbound: { servers: ["203.0.113.2:9000"], proxy_protocol: v1 }
  be_inbound_dst: { servers: ["203.0.113.2:9002"], proxy_protocol: v1 }
`;

/** HAProxy doing what the router does, on ports 60xx of the same proxy namespace. */
const HAPROXY = `
listen hp4
  bind 198.51.100.1:6001
  server s 203.0.113.2:9000 source 0.0.0.0 usesrc client
listen hp6
  bind [2001:db8:1::1]:6001
  server s [2001:db8:2::2]:9000 source [::] usesrc client
listen hp_alias
  bind 198.51.100.1:6006
  server s 203.0.113.140:9001 source 203.0.113.129 usesrc client
listen hp_inbound
  bind 0.0.0.0:6010 transparent
  server s 203.0.113.2:9000 send-proxy
`;

const hostOf = (hp: string) => hp.slice(0, hp.lastIndexOf(":")).replace(/^\[|\]$/g, "");

describe(`transparent proxying in network namespaces (${runtimeName})`, () => {
  const topo = new Topology(String(process.pid % 1_000_000));
  const peers: Peer[] = [];
  let haproxy: HaproxyProcess | null = null;
  let router: RouterProcess | null = null;
  let setupError: Error | null = null;
  /** HAProxy's result through the same plumbing: null until its test ran. */
  let plumbing: string | null = null;

  before(async () => {
    if (!isRoot) return;
    try {
      topo.create();
      const P = topo.proxy;
      // The proxy's kernel set-up, by the command under test (verified by HAProxy below).
      const r = await cliIn(P, ["tproxy-setup", "--apply", "--loopback", "203.0.113.128/25"]);
      if (r.code !== 0) throw new Error(`tproxy-setup --apply failed:\n${r.stdout}${r.stderr}`);
      // Inbound: connections to foreign addresses go to a transparent listener (TPROXY).
      const tproxy = (dst: string, port: number) =>
        sh(inNs(P, [
          ..."iptables -t mangle -A PREROUTING -p tcp -d".split(" "),
          dst,
          ..."-j TPROXY --tproxy-mark 1 --on-port".split(" "),
          String(port),
        ]));
      tproxy("198.51.100.250", 6010);
      tproxy("198.51.100.128/25", 7010);
      // A server that never answers, for the connect timeout.
      sh(inNs(topo.backend, "iptables -A INPUT -p tcp --dport 9009 -j DROP".split(" ")));
      peers.push(
        await startPeer(topo.backend, [
          "203.0.113.2:9000",
          "[2001:db8:2::2]:9000",
          "203.0.113.2:9002",
        ]),
      );
      peers.push(await startPeer(P, ["203.0.113.140:9001"]));
      haproxy = await startHaproxyIn(P, HAPROXY, [6001, 6006, 6010]);
      router = await startRouterIn(P, CONFIG);
    } catch (err) {
      setupError = err as Error;
    }
  });

  after(async () => {
    if (!isRoot) return;
    await router?.stop().catch(() => {});
    await haproxy?.stop().catch(() => {});
    for (const p of peers) await p.stop().catch(() => {});
    topo.destroy();
  });

  /** Skips without root; fails on a set-up error; else runs `body`. */
  function ready(t: { skip(msg: string): void }): boolean {
    if (!isRoot) {
      // deno test reports a node:test skip as "ok": say it too, once.
      if (!toldSkip) console.log(`skipped: transparent proxying tests ${SKIP}`);
      toldSkip = true;
      t.skip(SKIP);
      return false;
    }
    if (setupError !== null) throw setupError;
    return true;
  }

  /** Runs a router check; a failure names what HAProxy did through the same namespaces. */
  async function routerCheck(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      const e = err as Error;
      const hp = plumbing === "ok"
        ? "router fault: HAProxy works through the same namespaces"
        : `set-up fault? HAProxy through the same namespaces: ${plumbing ?? "not run"}`;
      e.message = `${hp}\n${e.message}\nrouter stderr:\n${router?.stderrLines.join("\n")}`;
      throw e;
    }
  }

  test("the namespace plumbing carries HAProxy's usesrc client (IPv4, IPv6, alias, TPROXY)", async (t) => {
    if (!ready(t)) return;
    try {
      const C = topo.client;
      const [v4, v6, alias, inbound] = await Promise.all([
        connectFrom(C, "198.51.100.1", 6001),
        connectFrom(C, "2001:db8:1::1", 6001),
        connectFrom(C, "198.51.100.1", 6006),
        connectFrom(C, "198.51.100.250", 6010),
      ]);
      assert.equal(peerInfo(v4.response).peer, v4.local, "IPv4 usesrc client");
      assert.equal(peerInfo(v6.response).peer, v6.local, "IPv6 usesrc client");
      assert.equal(peerInfo(alias.response).peer, alias.local, "loopback alias");
      assert.match(
        peerInfo(inbound.response).first,
        /^PROXY TCP4 198\.51\.100\.2 198\.51\.100\.250 /,
      );
      plumbing = "ok";
    } catch (err) {
      plumbing = (err as Error).message;
      throw err;
    }
  });

  test("tproxy-setup --apply is idempotent (iptables, nft) and check warns until it ran", async (t) => {
    if (!ready(t)) return;
    const again = await cliIn(topo.proxy, [
      "tproxy-setup",
      "--apply",
      "--loopback",
      "203.0.113.128/25",
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /^applied/m, "a second run changes nothing");
    assert.match(again.stdout, /^verified/m);

    const S = topo.scratch("s");
    const file = join(mkdtempSync(join(tmpdir(), "switchyard-tp-")), "c.yaml");
    writeFileSync(file, CONFIG);
    // The alias address exists (check can tell it is on lo), its source rule does not yet.
    sh(inNs(S, "ip addr add 203.0.113.129/25 dev lo scope host".split(" ")));
    const before = await cliIn(S, ["check", "-c", file]);
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.stderr, /warning: transparent proxying/);
    assert.match(before.stderr, /ip rule add fwmark 1 lookup 100/);
    assert.match(before.stderr, /ip -6 route add local ::\/0 dev lo table 100/);
    assert.match(before.stderr, /range of 203\.0\.113\.129 on lo/);

    for (let i = 0; i < 2; i++) {
      const r = await cliIn(S, [
        "tproxy-setup",
        "--apply",
        "--firewall",
        "nft",
        "--loopback",
        "203.0.113.128/25",
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^verified/m);
      if (i === 1) assert.doesNotMatch(r.stdout, /^applied/m);
    }
    const rules = sh(inNs(S, ["nft", "list", "chain", "inet", "switchyard", "divert"]));
    assert.match(rules, /socket transparent 1 meta mark set 0x00000001 accept/);
    const clean = await cliIn(S, ["check", "-c", file]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.doesNotMatch(clean.stderr, /warning/);
  });

  test("usesrc client: the backend sees the client's own address and port (tcp, IPv4 and IPv6)", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const [v4, v6] = await Promise.all([
        connectFrom(topo.client, "198.51.100.1", 7001),
        connectFrom(topo.client, "2001:db8:1::1", 7001),
      ]);
      assert.equal(v4.error, undefined);
      assert.equal(peerInfo(v4.response).peer, v4.local);
      assert.equal(peerInfo(v4.response).local, "203.0.113.2:9000");
      assert.equal(v6.error, undefined);
      assert.equal(peerInfo(v6.response).peer, v6.local);
      assert.equal(peerInfo(v6.response).local, "[2001:db8:2::2]:9000");
    });
  });

  test("usesrc clientip: the client's address, a port of the kernel's choice (IPv4 and IPv6)", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const [v4, v6] = await Promise.all([
        connectFrom(topo.client, "198.51.100.1", 7002),
        connectFrom(topo.client, "2001:db8:1::1", 7002),
      ]);
      assert.equal(hostOf(peerInfo(v4.response).peer), "198.51.100.2");
      assert.equal(hostOf(peerInfo(v6.response).peer), "2001:db8:1::2");
    });
  });

  test("a tls listener passes the ClientHello through from the client's address", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const [v4, v6] = await Promise.all([
        connectFrom(topo.client, "198.51.100.1", 7003, { file: HELLO }),
        connectFrom(topo.client, "2001:db8:1::1", 7003, { file: HELLO }),
      ]);
      for (const r of [v4, v6]) {
        const info = peerInfo(r.response);
        assert.equal(info.peer, r.local);
        assert.equal(info.first.charCodeAt(0), 0x16, "the ClientHello reached the backend");
      }
    });
  });

  test("an http listener: the backend sees the client's address and no added header", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const curl = (url: string) =>
        exec("ip", inNs(topo.client, ["curl", "-sS", "-g", "--max-time", "8", url]).slice(1));
      const [v4, v6] = await Promise.all([
        curl("http://198.51.100.1:7004/v4"),
        curl("http://[2001:db8:1::1]:7004/v6"),
      ]);
      assert.equal(v4.code, 0, v4.stderr);
      assert.equal(hostOf(peerInfo(v4.stdout).peer), "198.51.100.2");
      assert.equal(v6.code, 0, v6.stderr);
      assert.equal(hostOf(peerInfo(v6.stdout).peer), "2001:db8:1::2");
      const head = peerInfo(v4.stdout).first;
      assert.match(head, /^GET \/v4 HTTP\/1\.1\r\n/);
      assert.doesNotMatch(head, /forwarded|^PROXY/im);
    });
  });

  test("a backend with an IPv4 and an IPv6 server always gets the client's family", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const runs = await Promise.all([
        ...[1, 2, 3].map(() => connectFrom(topo.client, "198.51.100.1", 7001)),
        ...[1, 2, 3].map(() => connectFrom(topo.client, "2001:db8:1::1", 7001)),
      ]);
      for (const r of runs) {
        const info = peerInfo(r.response);
        assert.equal(info.peer, r.local);
        assert.equal(
          info.local,
          r.local.startsWith("[") ? "[2001:db8:2::2]:9000" : "203.0.113.2:9000",
        );
      }
    });
  });

  test("usesrc with an IP literal binds that address", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const r = await connectFrom(topo.client, "198.51.100.1", 7005);
      assert.equal(hostOf(peerInfo(r.response).peer), "198.51.100.77");
    });
  });

  test("a client on the proxy's own host is proxied plainly", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const P = topo.proxy;
      const [own, lo4, lo6] = await Promise.all([
        connectFrom(P, "198.51.100.1", 7001),
        connectFrom(P, "127.0.0.1", 7001),
        connectFrom(P, "::1", 7001),
      ]);
      // From the proxy's own address on the backend link, not the (local) client's.
      assert.equal(hostOf(peerInfo(own.response).peer), "203.0.113.1");
      assert.equal(hostOf(peerInfo(lo4.response).peer), "203.0.113.1");
      assert.equal(hostOf(peerInfo(lo6.response).peer), "2001:db8:2::1");
    });
  });

  test("the seed's same-host loopback-alias set-up works with address:", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const r = await connectFrom(topo.client, "198.51.100.1", 7006);
      assert.equal(r.error, undefined);
      const info = peerInfo(r.response);
      assert.equal(info.peer, r.local);
      assert.equal(info.local, "203.0.113.140:9001");
    });
  });

  test("a transparent: true listener accepts connections to foreign addresses (TPROXY) and routes on them", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const [a, b] = await Promise.all([
        connectFrom(topo.client, "198.51.100.200", 443),
        connectFrom(topo.client, "198.51.100.201", 8443),
      ]);
      // The PROXY header's destination is the accepted socket's local address: the original one.
      const port = (hp: string) => hp.slice(hp.lastIndexOf(":") + 1);
      const ia = peerInfo(a.response);
      assert.match(
        ia.first,
        new RegExp(`^PROXY TCP4 198\\.51\\.100\\.2 198\\.51\\.100\\.200 ${port(a.local)} 443\r\n`),
      );
      assert.equal(ia.local, "203.0.113.2:9000", "the default backend");
      // `dst:` routes on that original destination.
      const ib = peerInfo(b.response);
      assert.match(
        ib.first,
        new RegExp(`^PROXY TCP4 198\\.51\\.100\\.2 198\\.51\\.100\\.201 ${port(b.local)} 8443\r\n`),
      );
      assert.equal(ib.local, "203.0.113.2:9002", "the backend of the dst route");
      // The access log says where each client was going: the original destination.
      const ra = await router!.waitForAccess((x) => x.client === a.local, "the .200 record");
      assert.equal(ra.dst, "198.51.100.200:443");
      const rb = await router!.waitForAccess((x) => x.client === b.local, "the .201 record");
      assert.equal(rb.dst, "198.51.100.201:8443");
    });
  });

  test("a transparent connect that times out is a connect failure and blocks nothing", async (t) => {
    if (!ready(t)) return;
    await routerCheck(async () => {
      const t0 = Date.now();
      const stamp = <T>(p: Promise<T>) => p.then((v) => ({ v, at: Date.now() - t0 }));
      // The pending connect waits off the event loop: a connection started with it completes
      // long before its connect_timeout (1 s) fires.
      const [slow, fast] = await Promise.all([
        stamp(connectFrom(topo.client, "198.51.100.1", 7007)),
        stamp(connectFrom(topo.client, "198.51.100.1", 7001)),
      ]);
      assert.equal(slow.v.response, "");
      assert.ok(slow.at < 6000, `closed after connect_timeout (${slow.at} ms)`);
      assert.equal(peerInfo(fast.v.response).peer, fast.v.local);
      assert.ok(fast.at + 300 < slow.at, `fast ${fast.at} ms, slow ${slow.at} ms`);
      const rec = await router!.waitForAccess((a) => a.listener === "t_timeout", "timeout log");
      assert.equal(rec.outcome, "connect_failed");
      assert.match(String(rec.reason), /timed out after 1000 ms/);
    });
  });

  test("without CAP_NET_ADMIN (and CAP_NET_RAW), usesrc and transparent listeners are start-up errors", async (t) => {
    if (!ready(t)) return;
    const S = topo.scratch("n");
    const dir = mkdtempSync(join(tmpdir(), "switchyard-nocap-"));
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const usesrc = write(
      "usesrc.yaml",
      `listeners: { l: { bind: ["127.0.0.1:0"], default: app } }
backends: { app: { servers: ["127.0.0.1:9"], source: { usesrc: client } } }
`,
    );
    const inbound = write(
      "inbound.yaml",
      `listeners: { tp: { bind: ["198.51.100.250:7010"], transparent: true, default: "127.0.0.1:9" } }
`,
    );
    // The kernel lets either capability set IP_TRANSPARENT: drop both.
    const drop = [
      "setpriv",
      "--bounding-set",
      "-net_admin,-net_raw",
      "--inh-caps",
      "-net_admin,-net_raw",
    ];
    const a = await cliIn(S, ["run", "-c", usesrc], drop, 10_000);
    assert.equal(a.code, 1, a.stdout + a.stderr);
    assert.match(
      a.stderr,
      /backend \\"app\\": source usesrc client: setsockopt IP_TRANSPARENT: EPERM/,
    );
    assert.match(a.stderr, /CAP_NET_ADMIN/);
    const b = await cliIn(S, ["run", "-c", inbound], drop, 10_000);
    assert.equal(b.code, 1, b.stdout + b.stderr);
    assert.match(
      b.stderr,
      /listener \\"tp\\": cannot bind 198\.51\.100\.250:7010: .*EPERM.*CAP_NET_ADMIN/,
    );
  });
});
