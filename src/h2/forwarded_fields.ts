/**
 * The forwarded headers a listener adds, for a request that goes to its backend as an HTTP/2
 * header list (an `http2: true` backend): the same rules as src/http1/forwarded.ts applies to an
 * HTTP/1 head. X-Forwarded-For and Forwarded extend the last field of that name (the chain of
 * proxies stays one list), X-Forwarded-Proto and X-Forwarded-Host replace what the client sent,
 * and new fields go last. Names are lower-case, as HTTP/2 requires.
 *
 * @module
 */

import type { ForwardedHeader } from "../config/types.ts";
import { forwardedElement, type ForwardedFacts } from "../http1/forwarded.ts";
import type { FieldList } from "./connection.ts";

/** `fields` with `headers` added for `f`; `fields` itself when there is nothing to add. */
export function addForwardedFields(
  fields: FieldList,
  headers: readonly ForwardedHeader[],
  f: ForwardedFacts,
): FieldList {
  if (headers.length === 0) return fields;
  const want = new Set(headers);
  const out: [string, string][] = [];
  let lastXff = -1;
  let lastFwd = -1;
  for (const [name, value] of fields) {
    if (name === "x-forwarded-proto" && want.has("x-forwarded-proto")) continue;
    if (name === "x-forwarded-host" && want.has("x-forwarded-host")) continue;
    if (name === "x-forwarded-for") lastXff = out.length;
    if (name === "forwarded") lastFwd = out.length;
    out.push([name, value]);
  }
  if (want.has("x-forwarded-for")) {
    if (lastXff >= 0) out[lastXff] = ["x-forwarded-for", `${out[lastXff][1]}, ${f.client}`];
    else out.push(["x-forwarded-for", f.client]);
  }
  if (want.has("forwarded")) {
    const el = forwardedElement(f);
    if (lastFwd >= 0) out[lastFwd] = ["forwarded", `${out[lastFwd][1]}, ${el}`];
    else out.push(["forwarded", el]);
  }
  if (want.has("x-forwarded-proto")) out.push(["x-forwarded-proto", f.proto]);
  if (want.has("x-forwarded-host") && f.host !== null) out.push(["x-forwarded-host", f.host]);
  return out;
}
