/**
 * Listener settings that are more than a single value: `accept_proxy` and `forwarded`.
 *
 * @module
 */

import { isMap, isScalar } from "yaml";
import { parseCidr } from "../net/cidr.ts";
import { readCidrs } from "./addresses.ts";
import { readEnum, readList } from "./scalars.ts";
import type { AcceptProxy, Cidr, ForwardedHeader } from "./types.ts";
import { describe, type Entry, type Walker } from "./yaml_walk.ts";

const FORWARDED: readonly ForwardedHeader[] = [
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
];

/** `accept_proxy: true` trusts PROXY headers from this host only. */
const LOOPBACK = ["127.0.0.0/8", "::1/128"];

/** `accept_proxy`: false (refuse PROXY headers), true (from loopback) or `{ from: [...] }`. */
export function readAcceptProxy(w: Walker, e: Entry): AcceptProxy | null {
  if (isScalar(e.node) && typeof e.node.value === "boolean") {
    if (!e.node.value) return null;
    return { from: LOOPBACK.map((c) => parseCidr(c) as Cidr) };
  }
  const expected = "expected true, false or { from: [CIDR, ...] }";
  if (!isMap(e.node)) {
    w.error(e.node ?? e.key, e.path, `${expected}, got ${describe(e.node)}`);
    return null;
  }
  const m = w.map(e, ["from"]);
  const from = m?.get("from");
  if (from === undefined) {
    w.error(e.node, e.path, `${expected}: "from" is missing`);
    return null;
  }
  return { from: readCidrs(w, from) };
}

/** `forwarded`: the headers an http listener adds, each named once. */
export function readForwarded(w: Walker, e: Entry): ForwardedHeader[] {
  const out: ForwardedHeader[] = [];
  for (const item of readList(w, e)) {
    const header = readEnum(w, item, FORWARDED);
    if (header === undefined) continue;
    if (out.includes(header)) w.error(item.node, item.path, `"${header}" is listed twice`);
    else out.push(header);
  }
  return out;
}
