/**
 * The HTTP/2 backend connections of one client connection (`http2: true` backends): streams to
 * a backend share its connections, a new one is dialed only when none has room (the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS), and streams that arrive while one is being dialed wait for
 * it instead of dialing their own.
 *
 * @module
 */

import type { FieldList } from "../h2/connection.ts";
import type { DialFailure, DialResult } from "./dial.ts";
import { type BackendStreamOwner, H2BackendConn } from "./h2_backend.ts";

/** A stream opened on a backend connection. */
export interface BackendStream {
  readonly conn: H2BackendConn;
  readonly id: number;
}

/** The http2 backend connections of one client connection, by backend name. */
export class H2Backends {
  readonly #conns = new Map<string, H2BackendConn[]>();
  readonly #dialing = new Map<string, Promise<H2BackendConn | DialFailure>>();
  #closed = false;

  /**
   * `dial` connects to a server of the named backend (with its balancing and retries), for a
   * request to `host` (the SNI of a `tls: { sni: host }` backend; later streams share it).
   */
  constructor(readonly dial: (name: string, host: string | null) => Promise<DialResult>) {}

  /** Opens a stream to backend `name`, dialing a connection when none has room. */
  async open(
    name: string,
    host: string | null,
    fields: FieldList,
    endStream: boolean,
    owner: BackendStreamOwner,
  ): Promise<BackendStream | DialFailure> {
    // Twice at most: a fresh connection that has no room either cannot be helped by a third.
    for (let attempt = 0; attempt < 2; attempt++) {
      for (const conn of this.#conns.get(name) ?? []) {
        if (conn.available <= 0) continue;
        const id = conn.open(fields, endStream, owner);
        if (id !== null) return { conn, id };
      }
      const made = await (this.#dialing.get(name) ?? this.#dialNew(name, host));
      if (!(made instanceof H2BackendConn)) return made;
    }
    return { ok: false, reason: `backend "${name}": no HTTP/2 connection has room`, server: null };
  }

  /** The client connection ended: every connection closes (their streams were cancelled). */
  closeAll(reason: string): void {
    this.#closed = true;
    for (const conns of this.#conns.values()) for (const c of [...conns]) c.close(reason);
  }

  #dialNew(name: string, host: string | null): Promise<H2BackendConn | DialFailure> {
    const p = this.dial(name, host).then((r) => {
      this.#dialing.delete(name);
      if (!r.ok) return r;
      const conn = new H2BackendConn(r, (c) => this.#gone(name, c));
      if (this.#closed) conn.close("the client connection ended");
      const list = this.#conns.get(name) ?? [];
      list.push(conn);
      this.#conns.set(name, list);
      return conn;
    });
    this.#dialing.set(name, p);
    return p;
  }

  #gone(name: string, conn: H2BackendConn): void {
    const list = this.#conns.get(name);
    const at = list?.indexOf(conn) ?? -1;
    if (at >= 0) list!.splice(at, 1);
  }
}
