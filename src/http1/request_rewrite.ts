/**
 * The few request-head changes a forwarding proxy owes its backend (RFC 9110, 9112, 9113), made
 * only when the head sniffer flagged one (`HttpRequestHead.rewrite`): the common head goes on
 * byte for byte.
 *
 * - An h2c upgrade offer is removed: "h2c" leaves Upgrade, HTTP2-Settings goes, and so do the
 *   Connection options naming them. A backend that accepted it would turn the connection into
 *   an HTTP/2 pipe on which the client reaches any authority past per-request routing (the h2c
 *   smuggling attack). Other upgrades (WebSocket) stay.
 * - A repeated Content-Length is sent once (RFC 9110 section 8.6).
 * - An absolute-form target's authority replaces the Host field (RFC 9112 section 3.2.2): the
 *   request was routed by it, so the backend must see the same host.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { latin1 } from "./fields.ts";
import { type HttpRequestHead, upgradeProtocol } from "./request_head.ts";

/** A request head as it is forwarded. */
export interface RewrittenHead {
  /** The head, ending in CRLFCRLF. */
  readonly bytes: Uint8Array;
  /** The upgrade protocols still offered, joined by ", ", or null (see HttpRequestHead.upgrade). */
  readonly upgrade: string | null;
}

/** Whether `target` is in absolute form (not origin-, asterisk- or authority-form). */
function isAbsoluteForm(head: HttpRequestHead): boolean {
  return head.method !== "CONNECT" && head.target.charCodeAt(0) !== 0x2f && head.target !== "*";
}

/** The elements of an Upgrade field value that may be forwarded: all but h2c, trimmed. */
function keptUpgrades(value: string): string[] {
  const kept: string[] = [];
  for (const item of value.split(",")) {
    const p = upgradeProtocol(item);
    if (p !== "" && p !== "h2c") kept.push(item.trim());
  }
  return kept;
}

/**
 * Rewrites the head at the start of `bytes` (parsed as `head`) as the module describes. Field
 * lines that need no change are kept exactly as sent.
 */
export function rewriteRequestHead(bytes: Uint8Array, head: HttpRequestHead): RewrittenHead {
  const lines = latin1(bytes, 0, head.headerEnd - 4).split("\r\n");
  const upgrades: string[] = [];
  for (const [name, value] of head.headers) {
    if (name.toLowerCase() === "upgrade") upgrades.push(...keptUpgrades(value));
  }
  const absolute = isAbsoluteForm(head);
  const out: string[] = [lines[0]];
  let sawLength = false;
  let sawHost = false;
  let connectionUpgrade = false;
  head.headers.forEach(([name, value], i) => {
    switch (name.toLowerCase()) {
      case "content-length":
        if (sawLength) return;
        sawLength = true;
        break;
      case "http2-settings":
        return;
      case "upgrade": {
        const items = keptUpgrades(value);
        if (items.length > 0) out.push(`${name}: ${items.join(", ")}`);
        return;
      }
      case "connection": {
        const options = value.split(",").map((o) => o.trim()).filter((o) => {
          const lower = o.toLowerCase();
          if (lower === "upgrade") return upgrades.length > 0;
          return lower !== "" && lower !== "http2-settings";
        });
        if (options.some((o) => o.toLowerCase() === "upgrade")) connectionUpgrade = true;
        if (options.length > 0) out.push(`${name}: ${options.join(", ")}`);
        return;
      }
      case "host":
        sawHost = true;
        if (absolute) {
          out.push(`${name}: ${head.hostRaw}`);
          return;
        }
    }
    out.push(lines[i + 1]);
  });
  // HTTP/1.0 may send an absolute-form target without Host.
  if (absolute && !sawHost) out.push(`Host: ${head.hostRaw}`);
  out.push("", "");
  const upgrade = head.version === "1.1" && connectionUpgrade && upgrades.length > 0
    ? upgrades.join(", ")
    : null;
  return { bytes: Buffer.from(out.join("\r\n"), "latin1"), upgrade };
}

/**
 * Whether a 101 response may pass: every protocol its Upgrade field names was offered by the
 * request as forwarded (`offered`, see RewrittenHead.upgrade). A 101 without Upgrade does not
 * say what the connection became, so it may not pass either (RFC 9110 section 15.2.2).
 */
export function switchAllowed(
  offered: string | null,
  response: readonly (readonly [string, string])[],
): boolean {
  if (offered === null) return false;
  const allowed = new Set(offered.split(",").map(upgradeProtocol));
  let named = false;
  for (const [name, value] of response) {
    if (name.toLowerCase() !== "upgrade") continue;
    for (const item of value.split(",")) {
      const p = upgradeProtocol(item);
      if (p === "") continue;
      if (!allowed.has(p)) return false;
      named = true;
    }
  }
  return named;
}
