/// <reference path="../../src/runtime/bun_globals.d.ts" />
/**
 * The least a Bun TCP proxy can do per connection: accept, connect, copy both ways with
 * half-close, close. No routing, no logging, no timeouts, no backpressure (the bench's
 * responses are small): bench/floor.sh measures it beside HAProxy and Switchyard to show what
 * the runtime itself costs.
 *
 *   bun bench/floor/tcp_bun.ts LISTEN_PORT BACKEND_PORT
 */
const [listenPort, backendPort] = process.argv.slice(2).map(Number);

type Peer = { peer: Bun.Socket<Peer> | null; early: Uint8Array[]; ended: boolean };

Bun.listen<Peer>({
  hostname: "127.0.0.1",
  port: listenPort,
  allowHalfOpen: true,
  socket: {
    open(client) {
      client.data = { peer: null, early: [], ended: false };
      Bun.connect<Peer>({
        hostname: "127.0.0.1",
        port: backendPort,
        allowHalfOpen: true,
        socket: {
          open(server) {
            server.data = { peer: client, early: [], ended: false };
            client.data.peer = server;
            for (const b of client.data.early) server.write(b);
            if (client.data.ended) server.shutdown();
          },
          data(server, b) {
            server.data.peer?.write(b);
          },
          end(server) {
            server.data.peer?.shutdown();
          },
          close(server) {
            server.data.peer?.end();
          },
        },
      }).catch(() => client.end());
    },
    data(client, b) {
      if (client.data.peer) client.data.peer.write(b);
      else client.data.early.push(b);
    },
    end(client) {
      if (client.data.peer) client.data.peer.shutdown();
      else client.data.ended = true;
    },
    close(client) {
      client.data.peer?.end();
    },
  },
});

// Exit cleanly on SIGTERM so that `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));
