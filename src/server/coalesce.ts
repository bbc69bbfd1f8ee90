/**
 * One run at a time, and no request lost: what SIGHUP needs. A reload reads the config file
 * when it starts, so a SIGHUP that comes while one is running may be about an edit that run
 * did not see; dropping it would leave that edit unapplied until the next signal. Running it
 * at once would overlap two reloads. So it waits, and any number of signals that come during
 * one run need only one more run (it reads the file as it is then).
 *
 * @module
 */

/**
 * Wraps `fn` so that its runs never overlap and no call is lost. A call while nothing runs
 * starts `fn` at once (synchronously, up to its first await). A call during a run makes one
 * more run follow it; every call made before that follow-up starts shares it. The promise a
 * call returns settles like the run that covers it: one that started no earlier than the call.
 * A run that fails does not stop the follow-up.
 */
export function coalesced(fn: () => Promise<void>): () => Promise<void> {
  /** The run in progress; null when idle. */
  let running: Promise<void> | null = null;
  /** The run that follows it, shared by the calls made meanwhile; null when none is due. */
  let next: Promise<void> | null = null;

  const start = (): Promise<void> => {
    // async: a synchronous throw from fn becomes this run's rejection.
    const run = (async () => await fn())();
    running = run;
    const idle = () => {
      if (running === run) running = null;
    };
    run.then(idle, idle);
    return run;
  };
  const follow = (): Promise<void> => {
    next = null;
    return start();
  };

  return () => {
    // `next` first: between a run's end and its follow-up's start, a call joins the follow-up.
    if (next !== null) return next;
    if (running === null) return start();
    next = running.then(follow, follow);
    return next;
  };
}
