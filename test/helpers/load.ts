/**
 * Client load for chaos and soak runs: echo exchanges over fresh connections, in loops.
 */

import net from "node:net";

/** One connection's fate. */
export interface Exchange {
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  readonly why: string;
}

/**
 * Sends `payload` through `port`, half-closes, and expects exactly it back before the close.
 * Never rejects.
 */
export function exchange(
  port: number,
  payload: Uint8Array,
  deadlineMs = 10_000,
): Promise<Exchange> {
  const start = Date.now();
  return new Promise((resolve) => {
    let got = 0;
    let same = true;
    const s = net.connect({ host: "127.0.0.1", port });
    const finish = (ok: boolean, why: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ start, end: Date.now(), ok, why });
    };
    const timer = setTimeout(() => finish(false, "no close within the deadline"), deadlineMs);
    s.on("connect", () => s.end(payload));
    s.on("data", (c: Uint8Array) => {
      for (let i = 0; i < c.length && same; i++) same = c[i] === payload[got + i];
      got += c.length;
    });
    s.on("error", (e) => finish(false, e.message));
    s.on("close", () => {
      if (got === payload.length && same) finish(true, "");
      else {finish(
          false,
          `closed after ${got} of ${payload.length} bytes${same ? "" : " (corrupt)"}`,
        );}
    });
  });
}

/** Runs `loops` clients back to back until stop(); `onResult` sees every exchange. */
export function load(
  port: number,
  loops: number,
  payload: Uint8Array,
  onResult: (e: Exchange) => void,
): { stop: () => Promise<void> } {
  let stopped = false;
  const all = Array.from({ length: loops }, async () => {
    while (!stopped) onResult(await exchange(port, payload));
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(all);
    },
  };
}
