/**
 * Opens N idle TCP connections to HOST:PORT and holds them, for the RSS-per-connection test of
 * bench/run.sh (wrk cannot open connections and then stay silent).
 *
 *   bun bench/idle_client.ts HOST PORT N [HOLD_SECONDS]
 *
 * Prints `ready OPEN FAILED` on stdout once every attempt has connected or failed, then holds
 * the connections until SIGTERM/SIGINT or HOLD_SECONDS (default 120, so it never outlives a
 * broken run), and prints `closed-early K` for connections the other side closed meanwhile.
 * Runs unchanged on Bun and Deno (node:net only).
 *
 * @module
 */

import net from "node:net";
import process from "node:process";

const [host, portArg, countArg, holdArg] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
const holdSeconds = Number(holdArg ?? 120);
if (!host || !Number.isInteger(port) || !Number.isInteger(count) || count < 1) {
  process.stderr.write("usage: idle_client.ts HOST PORT N [HOLD_SECONDS]\n");
  process.exit(2);
}

/** Connects in parallel but not all at once, so the listen backlog never overflows. */
const CONCURRENCY = 100;

const sockets: net.Socket[] = [];
let open = 0;
let failed = 0;
let started = 0;
let ready = false;
let closedEarly = 0;

function settle(): void {
  if (!ready && open + failed === count) {
    ready = true;
    process.stdout.write(`ready ${open} ${failed}\n`);
  }
  while (started < count && started - open - failed < CONCURRENCY) connectOne();
}

function connectOne(): void {
  started++;
  let connected = false;
  const s = net.connect({ host, port });
  s.on("connect", () => {
    connected = true;
    open++;
    settle();
  });
  s.on("error", () => {}); // counted in "close"
  s.on("close", () => {
    if (!connected) {
      failed++;
      settle();
    } else if (ready) closedEarly++;
  });
  sockets.push(s);
}

function finish(): void {
  process.stdout.write(`closed-early ${closedEarly}\n`);
  for (const s of sockets) s.destroy();
  process.exit(0);
}

process.on("SIGTERM", finish);
process.on("SIGINT", finish);
setTimeout(finish, holdSeconds * 1000);
settle();
