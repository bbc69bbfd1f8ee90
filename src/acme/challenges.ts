/**
 * The ACME challenges this process answers while an order is pending: HTTP-01 tokens (answered
 * by http and auto listeners before routing) and TLS-ALPN-01 certificates (answered by tls and
 * auto listeners to a ClientHello that offers only `acme-tls/1`). The ACME manager fills it; in
 * worker mode the supervisor's manager fills every worker's copy.
 *
 * @module
 */

import tls from "node:tls";

/** Where HTTP-01 tokens are fetched from (RFC 8555 section 8.3). */
export const HTTP01_PREFIX = "/.well-known/acme-challenge/";

/** The ALPN protocol name of TLS-ALPN-01 (RFC 8737). */
export const ACME_TLS_ALPN = "acme-tls/1";

/** Pending challenges, looked up per request or ClientHello (a map lookup, nothing more). */
export class Challenges {
  readonly #http = new Map<string, string>();
  readonly #alpn = new Map<string, tls.SecureContext>();

  /** Answers `GET /.well-known/acme-challenge/<token>` with `keyAuthorization`. */
  addHttp(token: string, keyAuthorization: string): void {
    this.#http.set(token, keyAuthorization);
  }

  removeHttp(token: string): void {
    this.#http.delete(token);
  }

  /** Presents the challenge certificate to `acme-tls/1` handshakes for `name`. */
  addAlpn(name: string, certPem: string, keyPem: string): void {
    this.#alpn.set(name, tls.createSecureContext({ cert: certPem, key: keyPem }));
  }

  removeAlpn(name: string): void {
    this.#alpn.delete(name);
  }

  /**
   * The key authorization to answer a request for `path` with, or null: the path is not a
   * pending token (any other path under the prefix routes as usual, so a backend can run its
   * own ACME client).
   */
  httpAnswer(path: string): string | null {
    if (this.#http.size === 0 || !path.startsWith(HTTP01_PREFIX)) return null;
    return this.#http.get(path.slice(HTTP01_PREFIX.length)) ?? null;
  }

  /** The challenge certificate for `sni`, or null when none is pending for it. */
  alpnContext(sni: string | null): tls.SecureContext | null {
    if (sni === null || this.#alpn.size === 0) return null;
    return this.#alpn.get(sni) ?? null;
  }
}
