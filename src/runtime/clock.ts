/**
 * A coarse clock for the data path: reading `clock.now` costs a property load, where
 * `Date.now()` per chunk would cost a call. Idle timeouts only need second-level precision.
 *
 * One interval timer sweeps every watched item, and runs deadlines made with `after()`: on
 * Deno a setTimeout and its clearTimeout cost ~3 µs per pair (measured), paid per connection
 * for connect and inspect timeouts, where adding to and deleting from a Set costs ~0.1 µs.
 *
 * @module
 */

/** Milliseconds since the epoch, refreshed by `tick()`. */
export const clock = { now: Date.now() };

/** Something the sweeper checks on every tick. */
export interface Sweepable {
  /** Called with the current time on every tick until unwatched. */
  sweep(now: number): void;
}

const items = new Set<Sweepable>();
let timer: ReturnType<typeof setInterval> | null = null;

/** Tick period; idle timeouts and deadlines fire up to this much late. */
export const TICK_MS = 250;

function tick(): void {
  clock.now = Date.now();
  // Stopped here rather than in unwatch(): a process whose only watched item comes and goes
  // per connection would otherwise start and stop the interval per connection. An idle
  // process still exits, one tick later.
  if (items.size === 0) {
    clearInterval(timer!);
    timer = null;
    return;
  }
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

/** Stops checking `it`. */
export function unwatch(it: Sweepable): void {
  items.delete(it);
}

/** A callback due at a time; see {@link after}. */
export class Deadline implements Sweepable {
  #at: number;
  #fire: (() => void) | null;

  constructor(ms: number, fire: () => void) {
    this.#at = Date.now() + ms;
    this.#fire = fire;
    watch(this);
  }

  sweep(now: number): void {
    if (now < this.#at) return;
    const fire = this.#fire;
    this.cancel();
    fire?.();
  }

  /** Makes sure the callback does not run; harmless after it ran. */
  cancel(): void {
    this.#fire = null;
    unwatch(this);
  }
}

/**
 * Runs `fire` once `ms` have passed, up to {@link TICK_MS} late: for timeouts that bound how
 * long something may take (connect, inspect), not for ones whose length users time.
 */
export function after(ms: number, fire: () => void): Deadline {
  return new Deadline(ms, fire);
}
