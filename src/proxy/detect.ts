/**
 * What the first bytes of a connection are, for `tls` listeners (a ClientHello) and `auto`
 * listeners (TLS, HTTP/2 prior knowledge, HTTP/1, SSH, or unknown, as sslh does). Pure: it
 * combines the sniffers and never consumes bytes.
 *
 * @module
 */

import type { DetectedProtocol } from "../config/types.ts";
import { sniffH2Preface } from "../h2/preface.ts";
import { HEAD_LIMITS, sniffHttpRequestHead } from "../http1/request_head.ts";
import { sniffSshBanner } from "../ssh/banner.ts";
import { type ClientHello, sniffClientHello } from "../tls/client_hello.ts";
import { statusOf } from "../http1/error_response.ts";

/** What the bytes so far say. */
export type Detection =
  | { readonly kind: "more" }
  | {
    readonly kind: "found";
    readonly protocol: DetectedProtocol;
    /** tls: the ClientHello. */
    readonly hello?: ClientHello;
    /**
     * http: the host, path and method of the first request. h2c carries none: the HTTP/2 engine
     * routes each stream by its own `:authority`.
     */
    readonly host?: string | null;
    readonly path?: string;
    readonly method?: string | null;
  }
  | {
    readonly kind: "refuse";
    readonly outcome: "not_tls" | "malformed";
    readonly reason: string;
    /** HTTP status to answer with, for a client that speaks HTTP/1. */
    readonly status?: number;
  };

const MORE: Detection = Object.freeze({ kind: "more" });

/** A `tls` listener: only a complete, valid ClientHello passes. */
export function detectTls(bytes: Uint8Array): Detection {
  const r = sniffClientHello(bytes);
  switch (r.kind) {
    case "more":
      return MORE;
    case "no":
      return {
        kind: "refuse",
        outcome: "not_tls",
        reason: "first bytes are not a TLS handshake record",
      };
    case "invalid":
      return { kind: "refuse", outcome: "malformed", reason: r.reason };
    case "match":
      return { kind: "found", protocol: "tls", hello: r.value };
  }
}

/**
 * An `auto` listener. A complete message of any protocol wins; while any sniffer still needs
 * more, wait; bytes every sniffer rejects are `unknown` (routable as such).
 *
 * The order matters where one protocol's bytes could start another's:
 * - TLS first: a ClientHello record starts with 0x16, which no text protocol sends.
 * - The h2c connection preface next, because it reads like an HTTP/1 request line
 *   (`PRI * HTTP/2.0`); a proper prefix of it waits for more. It is h2c as soon as the 24
 *   preface bytes are in: the HTTP/2 engine (H2Session over H2Connection) takes every byte
 *   after it, answers what breaks HTTP/2 with the RFC 9113 error codes and routes each stream
 *   on its own, so nothing after the preface is judged here.
 * - SSH before HTTP/1, because an SSH banner line also starts like a request line.
 */
export function detectAuto(bytes: Uint8Array): Detection {
  let more = false;
  const tls = sniffClientHello(bytes);
  if (tls.kind === "match") return { kind: "found", protocol: "tls", hello: tls.value };
  if (tls.kind === "invalid") return { kind: "refuse", outcome: "malformed", reason: tls.reason };
  if (tls.kind === "more") return MORE;

  const h2c = sniffH2Preface(bytes);
  if (h2c.kind === "match") return { kind: "found", protocol: "h2c" };
  if (h2c.kind === "more") return MORE;

  const ssh = sniffSshBanner(bytes);
  if (ssh.kind === "match") return { kind: "found", protocol: "ssh" };
  if (ssh.kind === "more") more = true;

  const http = sniffHttpRequestHead(bytes, HEAD_LIMITS);
  if (http.kind === "match") {
    return {
      kind: "found",
      protocol: "http",
      host: http.value.host,
      path: http.value.path,
      method: http.value.method,
    };
  }
  if (http.kind === "more") more = true;
  if (more) return MORE;
  if (http.kind === "invalid") {
    return {
      kind: "refuse",
      outcome: "malformed",
      reason: http.reason,
      status: statusOf(http.reason),
    };
  }
  if (ssh.kind === "invalid") return { kind: "refuse", outcome: "malformed", reason: ssh.reason };
  return { kind: "found", protocol: "unknown" };
}
