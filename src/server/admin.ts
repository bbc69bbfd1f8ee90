/**
 * The admin endpoint's listener, started the same way by a single process and by a supervisor
 * (each passes the app that answers from its own state).
 *
 * @module
 */

import type { AdminConfig } from "../config/types.ts";
import { runtime } from "../runtime/mod.ts";
import type { FetchHandler, HttpServer } from "../runtime/types.ts";

/**
 * Serves `fetch` on the admin address; rejects with `admin: cannot listen on ADDRESS: reason`
 * when the address cannot be had.
 */
export async function startAdmin(admin: AdminConfig, fetch: FetchHandler): Promise<HttpServer> {
  const { host, port, text } = admin.listen;
  try {
    // Bun.serve throws synchronously where the Deno adapter rejects: the try catches both.
    return await runtime.serveHttp({ host, port }, fetch);
  } catch (err) {
    throw new Error(`admin: cannot listen on ${text}: ${(err as Error).message}`);
  }
}
