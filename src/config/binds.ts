/**
 * Bind conflicts: two sockets on the same port whose addresses overlap cannot both listen.
 *
 * @module
 */

import type { Endpoint } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

/** One endpoint something wants to listen on. */
export interface BindUse {
  readonly endpoint: Endpoint;
  readonly entry: Entry;
  /** Who binds it, for messages: `listener "web"` or `admin`. */
  readonly owner: string;
}

/**
 * Whether binding both `a` and `b` fails. ":PORT" and "[::]:PORT" (dual-stack) take the port
 * on every address; "0.0.0.0:PORT" on every IPv4 address (and names, which may resolve to
 * one).
 */
function overlaps(a: Endpoint, b: Endpoint): boolean {
  // Port 0 asks the kernel for a free port each time, so two such binds never collide.
  if (a.port !== b.port || a.port === 0) return false;
  return a.host === b.host || covers(a, b) || covers(b, a);
}

function covers(wide: Endpoint, other: Endpoint): boolean {
  if (wide.host === "" || wide.host === "::") return true;
  return wide.host === "0.0.0.0" && other.family !== 6;
}

/** Reports every bind that overlaps an earlier one. */
export function checkBinds(w: Walker, binds: readonly BindUse[]): void {
  binds.forEach((b, i) => {
    const first = binds.slice(0, i).find((a) => overlaps(a.endpoint, b.endpoint));
    if (first === undefined) return;
    const line = ` (line ${w.lineOf(first.entry.key)})`;
    const what = first.endpoint.text === b.endpoint.text
      ? `"${b.endpoint.text}" is already bound by ${first.owner}${line}`
      : `"${b.endpoint.text}" overlaps "${first.endpoint.text}" of ${first.owner}${line}`;
    w.error(b.entry.node, b.entry.path, what);
  });
}
