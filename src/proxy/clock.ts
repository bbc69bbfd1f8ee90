/**
 * A coarse clock for the data path: reading `clock.now` costs a property load, where
 * `Date.now()` per chunk would cost a call. Idle timeouts only need second-level precision.
 *
 * @module
 */

/** Milliseconds since the epoch, refreshed by `tick()`. */
export const clock = { now: Date.now() };

/** Something the sweeper checks on every tick. */
export interface Sweepable {
  /** Called with the current time; returns false once the item is finished. */
  sweep(now: number): void;
}

const items = new Set<Sweepable>();
let timer: ReturnType<typeof setInterval> | null = null;

/** Tick period; idle timeouts fire up to this much late. */
export const TICK_MS = 250;

function tick(): void {
  clock.now = Date.now();
  for (const it of items) it.sweep(clock.now);
}

/** Starts checking `it` on every tick until `unwatch(it)`. */
export function watch(it: Sweepable): void {
  items.add(it);
  if (timer === null) {
    clock.now = Date.now();
    timer = setInterval(tick, TICK_MS);
  }
}

/** Stops checking `it`; the timer stops with the last item so an idle process can exit. */
export function unwatch(it: Sweepable): void {
  items.delete(it);
  if (items.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}
