/**
 * What one accepted connection costs Deno itself, with no proxy around it: listens, accepts
 * N connections (from bench/idle_client.ts) and prints the RSS and V8 heap growth per
 * connection, holding each with a pending read of BYTES (or none). This is the floor under
 * Switchyard's "KiB per idle connection" on Deno: a proxied idle connection holds two.
 *
 *   deno run -A bench/deno_conn_memory.ts PORT N [BYTES|none]
 *   bun bench/idle_client.ts 127.0.0.1 PORT N 20   # in another shell
 *
 * @module
 */

const [portArg, countArg, bytesArg] = Deno.args;
const port = Number(portArg);
const count = Number(countArg);
if (!Number.isInteger(port) || !Number.isInteger(count) || count < 1) {
  console.error("usage: deno_conn_memory.ts PORT N [BYTES|none]");
  Deno.exit(2);
}
const readBytes = bytesArg === "none" ? 0 : Number(bytesArg ?? 512);

const listener = Deno.listen({ hostname: "127.0.0.1", port });
const held: Deno.Conn[] = [];
const before = Deno.memoryUsage();
for await (const conn of listener) {
  held.push(conn);
  // A pending read pins its buffer and the op's state, as an idle proxied connection does.
  if (readBytes > 0) conn.read(new Uint8Array(readBytes)).catch(() => {});
  if (held.length === count) break;
}
// Let the last reads be issued before measuring.
await new Promise((r) => setTimeout(r, 500));
const after = Deno.memoryUsage();
const kib = (v: number) => (v / 1024 / count).toFixed(1);
console.log(
  `${count} connections, pending read ${readBytes === 0 ? "none" : `${readBytes} B`}: ` +
    `RSS +${kib(after.rss - before.rss)} KiB, V8 heap +${
      kib(after.heapUsed - before.heapUsed)
    } KiB per connection`,
);
Deno.exit(0);
