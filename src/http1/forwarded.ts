/**
 * Adding the forwarded headers a listener is configured with to a request head, touching
 * nothing else: X-Forwarded-For and Forwarded are appended to the last existing field of that
 * name (the chain of proxies stays in one list), X-Forwarded-Proto and X-Forwarded-Host replace
 * whatever the client sent (a client must not choose them), and new fields go last.
 *
 * @module
 */

import type { ForwardedHeader } from "../config/types.ts";
import { latin1 } from "./fields.ts";
import { alloc, latin1Bytes } from "../wire/bytes.ts";

/** What the router knows about the request it forwards. */
export interface ForwardedFacts {
  /** Client address, normalized (never IPv4-mapped). */
  readonly client: string;
  readonly proto: "http" | "https";
  /** The Host as the client sent it, or null. */
  readonly host: string | null;
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An RFC 7239 value: a token as is, anything else (IPv6, host:port) quoted. */
function forwardedValue(v: string): string {
  return TCHAR.test(v) ? v : `"${v.replace(/["\\]/g, "\\$&")}"`;
}

/** The RFC 7239 forwarded-element for this hop. IPv6 nodes are bracketed (and so quoted). */
export function forwardedElement(f: ForwardedFacts): string {
  const node = f.client.includes(":") ? `[${f.client}]` : f.client;
  let el = `for=${forwardedValue(node)};proto=${f.proto}`;
  if (f.host !== null) el += `;host=${forwardedValue(f.host)}`;
  return el;
}

/** Header names this module adds or changes. */
const FORWARDED_NAMES = new Set([
  "x-forwarded-for",
  "forwarded",
  "x-forwarded-proto",
  "x-forwarded-host",
]);

/** The fields to add when the client sent none of them. */
function newFields(headers: readonly ForwardedHeader[], f: ForwardedFacts): string {
  let out = "";
  if (headers.includes("x-forwarded-for")) out += `X-Forwarded-For: ${f.client}\r\n`;
  if (headers.includes("forwarded")) out += `Forwarded: ${forwardedElement(f)}\r\n`;
  if (headers.includes("x-forwarded-proto")) out += `X-Forwarded-Proto: ${f.proto}\r\n`;
  if (headers.includes("x-forwarded-host") && f.host !== null) {
    out += `X-Forwarded-Host: ${f.host}\r\n`;
  }
  return out;
}

/** `head` with `fields` (CRLF-terminated lines) inserted before its final CRLF. */
function appendFields(head: Uint8Array, fields: string): Uint8Array {
  const at = head.length - 2;
  const out = alloc(head.length + fields.length);
  // The whole head, then the fields over its final CRLF: no view of `head` to make (a view of
  // a fresh socket chunk costs an ArrayBuffer on Bun).
  out.set(head);
  for (let i = 0; i < fields.length; i++) out[at + i] = fields.charCodeAt(i);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/**
 * The fields `headers` adds for `f` to a request whose fields are `sent`, as CRLF-terminated
 * lines to go before the head's final CRLF, when the client sent none of the forwarded fields
 * (the usual case); null when it sent some, and the head must go through addForwarded.
 */
export function forwardedLines(
  headers: readonly ForwardedHeader[],
  f: ForwardedFacts,
  sent: readonly (readonly [string, string])[],
): string | null {
  if (sent.some(([name]) => FORWARDED_NAMES.has(name.toLowerCase()))) return null;
  return newFields(headers, f);
}

/**
 * Returns `head` (a complete request head ending in CRLFCRLF) with `headers` added for `f`.
 * Returns `head` itself when there is nothing to add.
 */
export function addForwarded(
  head: Uint8Array,
  headers: readonly ForwardedHeader[],
  f: ForwardedFacts,
  sent?: readonly (readonly [string, string])[],
): Uint8Array {
  if (headers.length === 0) return head;
  // The common case: the client sent none of these, so the new fields only go before the
  // final CRLF, with no need to rewrite the head line by line.
  const added = sent === undefined ? null : forwardedLines(headers, f, sent);
  if (added !== null) return appendFields(head, added);
  const lines = latin1(head, 0, head.length - 4).split("\r\n");
  const want = new Set(headers);
  let lastXff = -1;
  let lastFwd = -1;
  const kept: string[] = [lines[0]];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const name = line.slice(0, line.indexOf(":")).toLowerCase();
    if (name === "x-forwarded-proto" && want.has("x-forwarded-proto")) continue;
    if (name === "x-forwarded-host" && want.has("x-forwarded-host")) continue;
    if (name === "x-forwarded-for") lastXff = kept.length;
    if (name === "forwarded") lastFwd = kept.length;
    kept.push(line);
  }
  if (want.has("x-forwarded-for")) {
    if (lastXff >= 0) kept[lastXff] = `${kept[lastXff].trimEnd()}, ${f.client}`;
    else kept.push(`X-Forwarded-For: ${f.client}`);
  }
  if (want.has("forwarded")) {
    const el = forwardedElement(f);
    if (lastFwd >= 0) kept[lastFwd] = `${kept[lastFwd].trimEnd()}, ${el}`;
    else kept.push(`Forwarded: ${el}`);
  }
  if (want.has("x-forwarded-proto")) kept.push(`X-Forwarded-Proto: ${f.proto}`);
  if (want.has("x-forwarded-host") && f.host !== null) kept.push(`X-Forwarded-Host: ${f.host}`);
  return latin1Bytes(kept.join("\r\n") + "\r\n\r\n");
}
