/**
 * A backend connection held by one owner, counted in its server's `active` until released.
 *
 * @module
 */

import type { Conn } from "../runtime/types.ts";
import type { ServerState } from "./balancer.ts";

/**
 * A connection to a server, held for one owner: it counts in the server's `active` (leastconn,
 * the fd budget) until `release()`, which is safe to call more than once, so every path that
 * ends the connection may call it without double-counting.
 */
export class Lease {
  readonly ok = true;
  #held = true;

  constructor(readonly conn: Conn, readonly server: ServerState) {}

  /** Gives the server's slot back (the first call only). */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.server.active--;
  }
}
