/**
 * How an ACME order fails: kept apart from client.ts so that the renewal schedule can tell a
 * rate limit from other failures without loading acme-client, which is loaded by the first
 * order only (about 30 MiB of memory that a router without ACME never needs).
 *
 * @module
 */

/** What the CA said when an order failed. */
export interface AcmeProblem {
  /** The HTTP status of the failing response; null when the failure was not an HTTP answer. */
  readonly status: number | null;
  /** The problem document's `type`, e.g. `urn:ietf:params:acme:error:rateLimited`; or null. */
  readonly type: string | null;
  readonly detail: string;
  /** Retry-After of the failing response (ms), or null. */
  readonly retryAfterMs: number | null;
}

/** A failed order, with the CA's problem when it sent one. */
export class AcmeOrderError extends Error {
  constructor(readonly problem: AcmeProblem) {
    super(problem.type === null ? problem.detail : `${problem.type}: ${problem.detail}`);
  }

  /** The CA refused because of a rate limit. */
  get rateLimited(): boolean {
    return this.problem.status === 429 || this.problem.type === RATE_LIMITED;
  }
}

const RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited";
