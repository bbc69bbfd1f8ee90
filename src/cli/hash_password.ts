/**
 * `hash-password`: reads a password from stdin and prints its bcrypt hash, the form
 * `auth.basic.users` holds (`echo -n secret | switchyard hash-password`). The password comes
 * from stdin, never from an argument, so it does not show in `ps` or the shell's history.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import process from "node:process";
import bcrypt from "bcryptjs";

/** bcrypt's cost for new hashes: 2^12 rounds, about 250 ms per check in bcryptjs. */
export const HASH_COST = 12;

/** bcrypt uses the first 72 bytes of a password and ignores the rest. */
const MAX_PASSWORD_BYTES = 72;

/**
 * The first line of `input` (up to the first LF, a CR before it dropped; all of it when there
 * is no LF). Reading stops there, so typing the password and Enter is enough at a terminal.
 */
export async function readLine(input: AsyncIterable<Uint8Array | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk);
    const lf = buf.indexOf(0x0a);
    if (lf >= 0) {
      chunks.push(buf.subarray(0, lf));
      break;
    }
    chunks.push(buf);
  }
  const line = Buffer.concat(chunks).toString("utf8");
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** Runs the command; resolves with the exit code (0, or 1 with the reason on stderr). */
export async function hashPassword(
  input: AsyncIterable<Uint8Array | string> = process.stdin,
): Promise<number> {
  if (process.stdin.isTTY && input === process.stdin) {
    // The terminal echoes what is typed: say so rather than pretend it is hidden.
    process.stderr.write("password (shown as typed; pipe it in to hide it): ");
  }
  const password = await readLine(input);
  if (password === "") {
    process.stderr.write("switchyard: hash-password: empty password on stdin\n");
    return 1;
  }
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
    // Refused rather than hashed: bcrypt would silently accept any password sharing the first
    // 72 bytes.
    process.stderr.write(
      `switchyard: hash-password: password longer than ${MAX_PASSWORD_BYTES} bytes ` +
        "(bcrypt ignores the rest)\n",
    );
    return 1;
  }
  process.stdout.write(`${await bcrypt.hash(password, HASH_COST)}\n`);
  return 0;
}
