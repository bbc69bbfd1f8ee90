/**
 * Checking the ACME storage folder, a pass after parsing (which reads no files): the account
 * key, certificates and lock files go there, so it must be a folder this process can write
 * in, or one it can create.
 *
 * @module
 */

import { accessSync, constants, type Stats, statSync } from "node:fs";
import { dirname } from "node:path";
import type { ConfigProblem, ProblemSite } from "./types.ts";

/** Whether this process may create files in the folder `path`. */
function isWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What is at `path`: its stats, null when nothing is, or why it could not be looked at. */
function statOf(path: string): Stats | null | { reason: string } {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // ENOTDIR: a folder on the way is a file, so nothing is there either.
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    return { reason: (err as Error).message };
  }
}

/**
 * The problem with the storage folder `path`, pointing at `site`; null when it is a writable
 * folder or can be created (its parent is one). `writable` is there for tests: root may
 * write anywhere.
 */
export function checkStorage(
  path: string,
  site: ProblemSite,
  writable: (folder: string) => boolean = isWritable,
): ConfigProblem | null {
  const fix = "set acme.storage to a folder Switchyard can write to";
  const problem = (message: string): ConfigProblem => ({ ...site, message, severity: "error" });
  const found = statOf(path);
  if (found === null) {
    const parent = dirname(path);
    const above = statOf(parent);
    if (above !== null && "reason" in above) {
      return problem(`cannot check storage "${path}": ${above.reason}`);
    }
    const missing = `storage "${path}" does not exist and cannot be created: "${parent}"`;
    if (above === null) return problem(`${missing} does not exist; create it, or ${fix}`);
    if (!above.isDirectory()) return problem(`${missing} is not a folder; ${fix}`);
    if (!writable(parent)) return problem(`${missing} is not writable; create it, or ${fix}`);
    return null;
  }
  if ("reason" in found) return problem(`cannot check storage "${path}": ${found.reason}`);
  if (!found.isDirectory()) return problem(`storage "${path}" is not a folder: ${fix}`);
  if (!writable(path)) return problem(`storage "${path}" is not writable: ${fix}`);
  return null;
}
