/**
 * The least a Deno TCP proxy can do per connection: accept, connect, copy both ways with
 * half-close, close. No routing, no logging, no timeouts: bench/floor.sh measures it beside
 * HAProxy and Switchyard to show what the runtime itself costs.
 *
 *   deno run -A bench/floor/tcp_deno.ts LISTEN_PORT BACKEND_PORT
 */
const [listenPort, backendPort] = Deno.args.map(Number);

async function copy(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  // 4 KiB, as Switchyard's first read on Deno: a pending read pins its buffer, which is most
  // of what an idle connection costs (the idle case of bench/floor.sh).
  const buf = new Uint8Array(4096);
  try {
    for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
      for (let o = 0; o < n;) o += await to.write(buf.subarray(o, n));
    }
    await to.closeWrite();
  } catch {
    // A reset ends this direction; the close below releases both sockets.
  }
}

async function relay(client: Deno.TcpConn): Promise<void> {
  client.setNoDelay(true);
  try {
    const server = await Deno.connect({ hostname: "127.0.0.1", port: backendPort });
    server.setNoDelay(true);
    await Promise.all([copy(client, server), copy(server, client)]);
    server.close();
  } catch {
    // Backend unreachable: drop the client.
  }
  client.close();
}

for await (const c of Deno.listen({ hostname: "127.0.0.1", port: listenPort })) relay(c);
