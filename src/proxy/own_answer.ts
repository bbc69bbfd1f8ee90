/**
 * The answers the router gives itself on HTTP routes (#18: 403, 401, 429, redirects, `respond`),
 * as HTTP/1 bytes or an HTTP/2 header list, with the response-header actions of the route and
 * of the listener applied, as they are to backend responses.
 *
 * @module
 */

import type { HeaderActions, RouteConfig } from "../config/types.ts";
import { reasonPhrase } from "../http1/error_response.ts";
import { editFieldList, editHeadFields } from "../route/actions/headers.ts";
import { latin1Bytes } from "../wire/bytes.ts";
import type { GateAnswer } from "./route_gate.ts";

const encoder = new TextEncoder();

/** The response-header edits for a response on `route`: the route's, then the listener's. */
export function responseEdits(
  route: RouteConfig | null,
  listener: HeaderActions | null,
): HeaderActions[] {
  const out: HeaderActions[] = [];
  if (route?.responseHeaders !== undefined) out.push(route.responseHeaders);
  if (listener !== null) out.push(listener);
  return out;
}

/** `head` (an HTTP/1 response head) with `edits` applied in order. */
export function editResponseHead(head: Uint8Array, edits: readonly HeaderActions[]): Uint8Array {
  let out = head;
  for (const e of edits) out = editHeadFields(out, e);
  return out;
}

/** `bytes` (a whole HTTP/1 response, head and body) with `edits` applied to its head. */
export function editResponse(bytes: Uint8Array, edits: readonly HeaderActions[]): Uint8Array {
  if (edits.length === 0) return bytes;
  let end = 0;
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      end = i + 1;
      break;
    }
  }
  const head = editResponseHead(bytes.subarray(0, end), edits);
  const out = new Uint8Array(head.length + bytes.length - end);
  out.set(head);
  out.set(bytes.subarray(end), head.length);
  return out;
}

function bodyOf(a: GateAnswer): Uint8Array {
  return encoder.encode(a.body ?? `${a.status} ${reasonPhrase(a.status)}\n`);
}

/** Whether the answer's own headers already name a content type. */
function typed(a: GateAnswer): boolean {
  return a.headers.some(([n]) => n.toLowerCase() === "content-type");
}

/**
 * `a` as HTTP/1 bytes; `head`: the request was HEAD (no body, same length). The connection
 * closes after it (the request's body, if any, is not read).
 */
export function http1Answer(
  a: GateAnswer,
  head: boolean,
  edits: readonly HeaderActions[],
): Uint8Array {
  const body = bodyOf(a);
  let text = `HTTP/1.1 ${a.status} ${reasonPhrase(a.status)}\r\n`;
  for (const [n, v] of a.headers) text += `${n}: ${v}\r\n`;
  if (body.length > 0 && !typed(a)) text += "Content-Type: text/plain; charset=utf-8\r\n";
  text += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const h = editResponseHead(latin1Bytes(text), edits);
  if (head || body.length === 0) return h;
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  return out;
}

/** `a` as an HTTP/2 header list and body. */
export function h2Answer(
  a: GateAnswer,
  edits: readonly HeaderActions[],
): { fields: [string, string][]; body: Uint8Array } {
  const body = bodyOf(a);
  let fields: readonly (readonly [string, string])[] = [
    [":status", String(a.status)],
    ...a.headers.map(([n, v]) => [n.toLowerCase(), v] as [string, string]),
    ...(body.length > 0 && !typed(a)
      ? [["content-type", "text/plain; charset=utf-8"] as [string, string]]
      : []),
    ["content-length", String(body.length)],
  ];
  for (const e of edits) fields = editFieldList(fields, e);
  return { fields: fields.map(([n, v]) => [n, v]), body };
}
