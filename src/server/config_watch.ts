/**
 * `watch: true` (or `run --watch`): a reload when the config file changes, through the very
 * reload SIGHUP asks for (the caller's), so it is validated the same way and an invalid file
 * leaves the old config serving. A single process and a supervisor each hold one; workers
 * never watch (their supervisor reloads them).
 *
 * The directory is watched, not the file: a watch on the file follows its inode, and neither
 * of the usual ways to replace a file keeps the inode. An editor writes a new file and renames
 * it over the old one. A Kubernetes ConfigMap volume holds `switchyard.yaml -> ..data/switchyard.yaml`
 * and `..data -> ..2026_12_03_…`; the kubelet writes a new timestamped directory, renames a new
 * `..data` symlink over the old one and deletes the old directory, so the file's path never
 * changes while everything behind it does. Each of these is an event in the directory. When
 * the file is a symlink into another directory (not below its own), that directory is watched
 * too, so an edit of the target is seen.
 *
 * Events are only a hint: after the directory has been quiet for {@link WATCH_DEBOUNCE_MS},
 * the file is read and its text compared with the text last seen, and only a different text
 * reloads. So a burst of events (an editor's several writes, the kubelet's five renames) makes
 * one reload, and events for other files, `touch`, or a rewrite with the same text make none.
 *
 * @module
 */

import { type FSWatcher, readFileSync, realpathSync, watch } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import type { Logger } from "../log/logger.ts";

/** How long the directory must be quiet after an event before the file is read. */
export const WATCH_DEBOUNCE_MS = 200;
/** The longest a stream of events may put the read off. */
const WATCH_MAX_DELAY_MS = 2_000;
/** After a watch failed (its directory went away), how long before it is set up again. */
const WATCH_RETRY_MS = 1_000;

/** Watches one config file; see the module docs. */
export class ConfigWatch {
  /** The text last seen; null: the file could not be read then. */
  #seen: string | null = null;
  /** One watcher per directory. */
  readonly #watchers = new Map<string, FSWatcher>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** When the first event of the burst the timer waits out came (ms since the epoch). */
  #burstStart = 0;
  #on = false;
  /** Directories whose watch could not be set up, so that each is logged once. */
  readonly #failing = new Set<string>();

  /**
   * `flag`: `run --watch`, which watches whatever the config's `watch:` says. `changed` is
   * called when the file's text differs from the text last seen; it should start a reload
   * (SIGHUP's).
   */
  constructor(
    readonly file: string,
    readonly flag: boolean,
    readonly log: Logger,
    readonly changed: () => void,
  ) {}

  /**
   * Starts or stops watching as `--watch` or `config.watch` say: at start, and after every
   * reload that worked (it may have changed `watch:`). `source`: the text `config` was loaded
   * from, which later reads are compared with (so an edit made before the watch started still
   * counts as one).
   */
  follow(config: { readonly watch: boolean }, source: string): void {
    this.#seen = source;
    const on = this.flag || config.watch;
    if (on === this.#on) return;
    if (!on) {
      this.stop();
      this.log.event("info", "config watch stopped", { file: this.file });
      return;
    }
    this.#on = true;
    this.#rewatch();
    this.log.event("info", "watching the config file", {
      file: this.file,
      directories: [...this.#watchers.keys()],
    });
  }

  /** Stops watching (on shutdown, or when a reload turned `watch:` off). */
  stop(): void {
    this.#on = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    this.#failing.clear();
  }

  /** The directories to watch: the file's, and its symlink target's when that is elsewhere. */
  #directories(): string[] {
    const own = dirname(resolve(this.file));
    let target: string;
    try {
      target = dirname(realpathSync(this.file));
    } catch {
      return [own]; // no file (yet): its directory says when it comes
    }
    // A target below the file's own directory (the kubelet's ..data/…) changes through an
    // entry of that directory, and its timestamped directory is deleted at the next update.
    // (Not startsWith(".."): the kubelet's directories are named "..data" and "..2026_…".)
    const rel = relative(own, target);
    const below = rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel);
    return below ? [own] : [own, target];
  }

  /** Watches what {@link #directories} names now, and nothing else. */
  #rewatch(): void {
    const dirs = this.#directories();
    for (const [dir, w] of this.#watchers) {
      if (dirs.includes(dir)) continue;
      w.close();
      this.#watchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, () => this.#event());
        w.on("error", (err: Error) => this.#failed(dir, w, err));
        this.#watchers.set(dir, w);
        this.#failing.delete(dir);
      } catch (err) {
        this.#failed(dir, null, err as Error);
      }
    }
  }

  /** A watch could not be set up or broke: logged once per directory, retried later. */
  #failed(dir: string, w: FSWatcher | null, err: Error): void {
    if (w !== null) {
      w.close();
      if (this.#watchers.get(dir) === w) this.#watchers.delete(dir);
    }
    if (!this.#failing.has(dir)) {
      this.#failing.add(dir);
      this.log.event("warn", "config watch failed: retrying", { dir, error: err.message });
    }
    if (this.#on) this.#schedule(WATCH_RETRY_MS);
  }

  /** An event in a watched directory: read the file once things are quiet. */
  #event(): void {
    if (this.#on) this.#schedule(WATCH_DEBOUNCE_MS);
  }

  #schedule(delayMs: number): void {
    const now = Date.now();
    if (this.#timer === null) this.#burstStart = now;
    else clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(delayMs, this.#burstStart + WATCH_MAX_DELAY_MS - now));
    this.#timer = setTimeout(() => this.#check(), wait);
  }

  #check(): void {
    this.#timer = null;
    if (!this.#on) return;
    // The symlink may point elsewhere now, and a failed watch gets another try.
    this.#rewatch();
    let text: string | null;
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      // Gone or unreadable: the reload reports why, once, and the old config keeps serving.
      text = null;
    }
    if (text === this.#seen) return;
    this.#seen = text;
    this.log.event("info", "config file changed: reloading", { file: this.file });
    this.changed();
  }
}
