/**
 * The ACME manager's host in a single process: challenges go to this process's table, and
 * certificates to its store. (With `workers:`, the supervisor's host sends both to its workers:
 * src/workers/acme.ts.)
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Certificates } from "../tls/certificates.ts";
import type { Challenges } from "./challenges.ts";
import type { AcmeHost } from "./manager.ts";

/** A host that serves what the manager obtains from `certs`, answering from `challenges`. */
export function localAcmeHost(
  log: Logger,
  certs: Certificates,
  challenges: Challenges,
): AcmeHost {
  return {
    log,
    answers: {
      addHttp: (token, keyAuthorization) =>
        Promise.resolve(challenges.addHttp(token, keyAuthorization)),
      removeHttp: (token) => Promise.resolve(challenges.removeHttp(token)),
      addAlpn: (name, certPem, keyPem) => challenges.addAlpn(name, certPem, keyPem),
      removeAlpn: (name) => Promise.resolve(challenges.removeAlpn(name)),
    },
    install: (id, cert) =>
      void certs.put(id, { certPem: cert.certPem, keyPem: cert.keyPem, source: "acme" }),
    uninstall: (id) => certs.remove(id),
    report: (id, names, nextRenewal, lastError) =>
      certs.setStatus(id, {
        names,
        nextRenewal: nextRenewal === null ? null : new Date(nextRenewal),
        lastError,
      }),
    count: (result) => void certs.acmeOrders[result]++,
  };
}
