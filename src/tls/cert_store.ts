/**
 * The certificates a listener can terminate with, chosen by SNI against each certificate's
 * SAN DNS names: an exact name first, then a wildcard, else the first certificate.
 *
 * @module
 */

import tls from "node:tls";
import type { CertificateConfig } from "../config/types.ts";
import { type CertificateFiles, inspectCertificate } from "./inspect.ts";

/** Secure contexts built once per config generation. */
export class CertStore {
  #exact = new Map<string, tls.SecureContext>();
  #wild = new Map<string, tls.SecureContext>();
  #first: tls.SecureContext | null = null;

  /** Loads every pair; a pair that no longer loads (deleted since `check`) is skipped. */
  constructor(certs: readonly CertificateConfig[], onError: (msg: string) => void) {
    for (const c of certs) {
      const r = inspectCertificate(c.cert, c.key);
      if ("error" in r) {
        onError(r.error);
        continue;
      }
      this.#add(r.ok);
    }
  }

  #add(c: CertificateFiles): void {
    // Only http/1.1 is offered: the terminated path routes HTTP/1 requests one by one.
    const ctx = tls.createSecureContext({ cert: c.cert, key: c.key });
    this.#first ??= ctx;
    for (const n of c.names) {
      if (n.startsWith("*.")) {
        if (!this.#wild.has(n.slice(2))) this.#wild.set(n.slice(2), ctx);
      } else if (!this.#exact.has(n)) this.#exact.set(n, ctx);
    }
  }

  /** Whether any certificate loaded. */
  get empty(): boolean {
    return this.#first === null;
  }

  /** The context for `sni` (normalized), or the first certificate's. */
  select(sni: string | null): tls.SecureContext | null {
    if (sni !== null) {
      const exact = this.#exact.get(sni);
      if (exact !== undefined) return exact;
      const dot = sni.indexOf(".");
      // A wildcard covers exactly one label, as in certificate matching (RFC 6125).
      const wild = dot > 0 ? this.#wild.get(sni.slice(dot + 1)) : undefined;
      if (wild !== undefined) return wild;
    }
    return this.#first;
  }
}
