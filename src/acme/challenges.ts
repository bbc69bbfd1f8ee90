/**
 * The ACME challenges this process answers while an order is pending: HTTP-01 tokens (answered
 * by http and auto listeners before routing) and TLS-ALPN-01 certificates (answered by tls and
 * auto listeners to a ClientHello that offers only `acme-tls/1`). The ACME manager fills it; in
 * worker mode the supervisor's manager fills every worker's copy.
 *
 * @module
 */

import { type Identity, identityFromPem } from "../tls/tls13/identity.ts";

/** Where HTTP-01 tokens are fetched from (RFC 8555 section 8.3). */
export const HTTP01_PREFIX = "/.well-known/acme-challenge/";

/** The ALPN protocol name of TLS-ALPN-01 (RFC 8737). */
export const ACME_TLS_ALPN = "acme-tls/1";

/** Pending challenges, looked up per request or ClientHello (a map lookup, nothing more). */
export class Challenges {
  readonly #http = new Map<string, string>();
  readonly #alpn = new Map<string, Identity>();
  /** The latest addAlpn per name, so that one finishing after a newer call or a removal loses. */
  readonly #alpnLatest = new Map<string, symbol>();

  /** Answers `GET /.well-known/acme-challenge/<token>` with `keyAuthorization`. */
  addHttp(token: string, keyAuthorization: string): void {
    this.#http.set(token, keyAuthorization);
  }

  removeHttp(token: string): void {
    this.#http.delete(token);
  }

  /**
   * Presents the challenge certificate to `acme-tls/1` handshakes for `name` once its key is
   * loaded. Rejects when the pair cannot be used (it must be an ECDSA P-256 PKCS#8 key: the
   * handshake is answered by src/tls/tls13/).
   */
  async addAlpn(name: string, certPem: string, keyPem: string): Promise<void> {
    const mine = Symbol(name);
    this.#alpnLatest.set(name, mine);
    const identity = await identityFromPem(certPem, keyPem);
    if (this.#alpnLatest.get(name) === mine) this.#alpn.set(name, identity);
  }

  removeAlpn(name: string): void {
    this.#alpnLatest.delete(name);
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
  alpnIdentity(sni: string | null): Identity | null {
    if (sni === null || this.#alpn.size === 0) return null;
    return this.#alpn.get(sni) ?? null;
  }
}
