/**
 * Which addresses belong to this host, for the `local` route key and for transparent mode
 * (a client on this host cannot be impersonated, so it is proxied plainly). One service for the
 * whole process: it reads the interface table at most every {@link LOCAL_REFRESH_MS}, so an
 * address added at run time is seen without reading the table on every connection.
 *
 * @module
 */

import os from "node:os";
import { normalizeMapped } from "../net/ip.ts";

/** The interface table, shaped as `os.networkInterfaces()` returns it. */
export type InterfaceLister = () => Readonly<
  Record<string, readonly { readonly address: string }[] | undefined>
>;

/** Interfaces are read again after this long (an address added at run time is seen). */
export const LOCAL_REFRESH_MS = 5000;

/** The addresses of this host, from an interface table read at most `refreshMs` ago. */
export class LocalAddresses {
  readonly #list: InterfaceLister;
  readonly #now: () => number;
  readonly #refreshMs: number;
  #own: ReadonlySet<string> | null = null;
  #at = 0;

  constructor(
    opts: { list?: InterfaceLister; now?: () => number; refreshMs?: number } = {},
  ) {
    this.#list = opts.list ?? (() => os.networkInterfaces());
    this.#now = opts.now ?? (() => performance.now());
    this.#refreshMs = opts.refreshMs ?? LOCAL_REFRESH_MS;
  }

  /** Whether `host` (normalized address text) is one of this host's own. */
  has(host: string): boolean {
    // All of 127/8 is loopback, not just the addresses configured on lo.
    return host.startsWith("127.") || this.#current().has(host);
  }

  #current(): ReadonlySet<string> {
    const now = this.#now();
    if (this.#own === null || now - this.#at > this.#refreshMs || now < this.#at) {
      const own = new Set<string>(["::1"]);
      for (const list of Object.values(this.#list())) {
        for (const a of list ?? []) own.add(normalizeMapped(a.address.toLowerCase()));
      }
      this.#own = own;
      this.#at = now;
    }
    return this.#own;
  }
}

/** This process's addresses: the one view that routing and transparent mode share. */
export const localAddresses: LocalAddresses = new LocalAddresses();
