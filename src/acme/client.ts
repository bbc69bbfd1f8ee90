/**
 * One ACME order (RFC 8555), through acme-client: account, order, challenges answered by this
 * router (never by a self-check over public DNS, which a test CA's names do not resolve in),
 * finalize, certificate.
 *
 * acme-client throws plain errors that keep only a problem's `detail`; the logs need its `type`
 * and a rate limit's Retry-After too, so a response interceptor notes the last problem document
 * the CA sent. Orders therefore run one at a time in this process (which is also kinder to the
 * CA's rate limits). acme-client's own retries are off: a 429 would otherwise be waited out
 * inside the order, and the caller's backoff is the one policy.
 *
 * @module
 */

import acme from "acme-client";
import https from "node:https";
import tls from "node:tls";
import type { AcmeChallenge } from "../config/types.ts";
import { AcmeOrderError, type AcmeProblem } from "./order_error.ts";

const BAD_NONCE = "urn:ietf:params:acme:error:badNonce";

/** Puts challenge answers where the router's listeners find them, and takes them away. */
export interface ChallengeAnswers {
  /** Resolves once every process that serves the listeners answers the token. */
  addHttp(token: string, keyAuthorization: string): Promise<void>;
  removeHttp(token: string): Promise<void>;
  addAlpn(name: string, certPem: string, keyPem: string): Promise<void>;
  removeAlpn(name: string): Promise<void>;
}

/** What one order needs. */
export interface OrderRequest {
  readonly directory: string;
  /** Extra CA (PEM text) to trust for the directory's TLS, beside the usual roots. */
  readonly caPem: string | null;
  readonly accountKeyPem: string;
  /** The account's URL when it was registered before; null registers (or finds) it. */
  readonly accountUrl: string | null;
  readonly email: string | null;
  readonly names: readonly string[];
  readonly challenges: readonly AcmeChallenge[];
}

/** What an order gives. */
export interface OrderResult {
  /** The full chain, leaf first. */
  readonly certPem: string;
  /** The certificate's private key (new for every order). */
  readonly keyPem: string;
  readonly accountUrl: string;
}

/** What the interceptor noted during the order in progress. */
interface Noted {
  /** The last problem document the CA sent, badNonce aside. */
  problem: AcmeProblem | null;
  /**
   * The badNonce of the last response, if it was one: acme-client retries those itself, so one
   * is the cause only when its retries ran out (no other response came after it).
   */
  badNonce: AcmeProblem | null;
}
let noted: Noted | null = null;
/** The order in progress (orders run one at a time). */
let queue: Promise<unknown> = Promise.resolve();
let configuredCa: string | null | undefined;

// acme-client keeps its retry settings on its axios instance's defaults (untyped there).
const defaults = acme.axios.defaults as unknown as { acmeSettings: Record<string, unknown> };
defaults.acmeSettings = { ...defaults.acmeSettings, retryMaxAttempts: 0 };
acme.axios.interceptors.response.use((resp) => {
  if (noted !== null) {
    const problem = problemOf(resp.status, resp.data, resp.headers?.["retry-after"]);
    if (problem?.type === BAD_NONCE) noted.badNonce = problem;
    else {
      noted.badNonce = null;
      if (problem !== null) noted.problem = problem;
    }
  }
  return resp;
});

/** A problem document in a response: an HTTP error, or an object whose status is invalid. */
function problemOf(status: number, data: unknown, retryAfter: unknown): AcmeProblem | null {
  if (typeof data !== "object" || data === null) return null;
  const d = data as Record<string, unknown>;
  if (status >= 400) {
    return {
      status,
      type: typeof d.type === "string" ? d.type : null,
      detail: typeof d.detail === "string" ? d.detail : `HTTP ${status}`,
      retryAfterMs: parseRetryAfter(retryAfter),
    };
  }
  if (d.status !== "invalid") return null;
  // An invalid authorization carries the error on the challenge that failed.
  const challenges = Array.isArray(d.challenges) ? d.challenges : [];
  const failed = challenges.find((c) => typeof c === "object" && c !== null && c.error);
  const err = (d.error ?? failed?.error) as Record<string, unknown> | undefined;
  if (err === undefined) return null;
  return {
    status: null,
    type: typeof err.type === "string" ? err.type : null,
    detail: typeof err.detail === "string" ? err.detail : "invalid",
    retryAfterMs: null,
  };
}

/** Retry-After as seconds or an HTTP date (RFC 9110 section 10.2.3), in ms from now. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | null {
  if (typeof value !== "string" || value.trim() === "") return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date names its day and month; Date.parse would take "-5" for a year.
  if (!/^[A-Za-z]{3},/.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Trusts `caPem` (beside the usual roots) for every request to the directory. */
function trust(caPem: string | null): void {
  if (configuredCa === caPem) return;
  configuredCa = caPem;
  acme.axios.defaults.httpsAgent = caPem === null
    ? undefined
    : new https.Agent({ ca: [...tls.rootCertificates, caPem], keepAlive: true });
}

/** A new P-256 private key, PEM (account keys and certificate keys). */
export async function newKey(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey()).toString();
}

/** Runs one order, after any other order of this process has finished. */
export function order(req: OrderRequest, answers: ChallengeAnswers): Promise<OrderResult> {
  const run = queue.then(() => orderNow(req, answers));
  queue = run.catch(() => {});
  return run;
}

async function orderNow(req: OrderRequest, answers: ChallengeAnswers): Promise<OrderResult> {
  trust(req.caPem);
  const note: Noted = { problem: null, badNonce: null };
  noted = note;
  try {
    const client = new acme.Client({
      directoryUrl: req.directory,
      accountKey: req.accountKeyPem,
      ...(req.accountUrl === null ? {} : { accountUrl: req.accountUrl }),
      // Polls for a challenge's and the order's result: soon at first, at most every 10 s.
      backoffAttempts: 12,
      backoffMin: 500,
      backoffMax: 10_000,
    });
    const keyPem = await newKey();
    const [, csr] = await acme.crypto.createCsr(
      { commonName: req.names[0], altNames: [...req.names] },
      keyPem,
    );
    const certPem = await client.auto({
      csr,
      ...(req.email === null ? {} : { email: req.email }),
      termsOfServiceAgreed: true,
      skipChallengeVerification: true,
      challengePriority: [...req.challenges],
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        const name = authz.identifier.value;
        // The types list only http-01 and dns-01; the CA may offer tls-alpn-01 too.
        const type: string = challenge.type;
        if (type === "http-01") {
          await answers.addHttp(challenge.token, keyAuthorization);
        } else if (type === "tls-alpn-01") {
          // ECDSA P-256: the key the self-answered handshake signs with (src/tls/tls13/).
          const key = await acme.crypto.createPrivateEcdsaKey("P-256");
          const [, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, key);
          await answers.addAlpn(name, cert.toString(), key.toString());
        } else {
          throw new Error(
            `the CA offers no challenge of ${req.challenges.join(", ")} for "${name}" ` +
              `(only ${type})`,
          );
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        const type: string = challenge.type;
        if (type === "http-01") await answers.removeHttp(challenge.token);
        else if (type === "tls-alpn-01") await answers.removeAlpn(authz.identifier.value);
      },
    });
    return { certPem: certPem.toString(), keyPem, accountUrl: client.getAccountUrl() };
  } catch (err) {
    const detail = (err as Error).message;
    throw new AcmeOrderError(
      note.badNonce ?? note.problem ?? { status: null, type: null, detail, retryAfterMs: null },
    );
  } finally {
    noted = null;
  }
}
