/**
 * `demo` is what a newcomer runs first: it must start, route by Host and by SNI as its
 * printed curl lines say, and stop cleanly on Ctrl-C.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { test } from "node:test";
import { exec } from "../helpers/clients.ts";
import { routerCommand } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

test(`demo routes by Host and by SNI and exits 0 on SIGINT (${runtimeName})`, async () => {
  const [cmd, args] = routerCommand(["demo"]);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (b) => {
      err += b;
      if (err.includes("curl http://127.0.0.1:9901/metrics")) resolve();
    });
    child.on("exit", () => reject(new Error(`demo exited early:\n${err}`)));
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await ready;
  const one = await exec("curl", ["-s", "-H", "Host: one.localhost", "http://127.0.0.1:8080/"]);
  assert.match(one.stdout, /^Hello from upstream one/);
  const two = await exec("curl", ["-s", "-H", "Host: two.localhost", "http://127.0.0.1:8080/"]);
  assert.match(two.stdout, /^Hello from upstream two/);
  const tls = await exec("curl", [
    "-s",
    "-k",
    "--resolve",
    "secure.localhost:8443:127.0.0.1",
    "https://secure.localhost:8443/",
  ]);
  assert.match(tls.stdout, /never decrypted/);
  // process.kill: Deno's child.kill() makes the exit event report the signal, not the code.
  process.kill(child.pid!, "SIGINT");
  assert.equal(await exited, 0);
});
