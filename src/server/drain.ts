/**
 * Waiting out a drain: once an instance stopped accepting, its live connections get until a
 * deadline to finish.
 *
 * @module
 */

import type { Instance } from "../proxy/instance.ts";

/** How often a draining process checks whether its last connection has ended. */
const DRAIN_POLL_MS = 50;

/**
 * Resolves once `instance` has no live connection or `timeoutMs` has passed, with the number
 * of connections still open then (they close with the process).
 */
export function waitForConnections(instance: Instance, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (instance.active > 0 && Date.now() < deadline) return;
      clearInterval(poll);
      resolve(instance.active);
    }, DRAIN_POLL_MS);
  });
}
