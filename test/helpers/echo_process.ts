/**
 * An echo server in its own process (run under the test's runtime), so that a test can kill
 * it the way a backend really dies: SIGKILL, the kernel closing its sockets.
 *
 * Run directly, it listens on 127.0.0.1:<argv port> and prints "ready <port>".
 */

import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { scriptCommand } from "./runtime.ts";

/** A running echo process. */
export class EchoProcess {
  private constructor(readonly child: ChildProcess, readonly port: number) {}

  /** Starts one on `port` (0: any free port); resolves once it listens. */
  static start(port = 0): Promise<EchoProcess> {
    const [cmd, args] = scriptCommand(fileURLToPath(import.meta.url), [String(port)]);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
      let out = "";
      child.stdout!.setEncoding("utf8");
      child.stdout!.on("data", (s: string) => {
        out += s;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(new EchoProcess(child, Number(m[1])));
      });
      child.once("exit", (code) => reject(new Error(`echo process exited (${code}): ${out}`)));
    });
  }

  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      process.kill(this.child.pid!, "SIGKILL");
    });
  }
}

function main(): void {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
    process.stdout.write(`ready ${(server.address() as net.AddressInfo).port}\n`);
  });
}

// Deno's process.argv[1] and Bun's are this file when it is the program being run.
if (process.argv[1] === fileURLToPath(import.meta.url)) main();
