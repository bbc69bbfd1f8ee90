/**
 * A reload from the config file, counted and logged the same way by a single process and by a
 * supervisor. The file is read once per reload; an invalid file, or a config the caller cannot
 * apply, leaves the old config serving.
 *
 * @module
 */

import { formatProblem, loadConfigFile } from "../config/load.ts";
import type { Config, ConfigProblem } from "../config/types.ts";
import type { Logger } from "../log/logger.ts";

/** A config file that loaded: its text, its config and its warnings. */
export interface ValidLoad {
  readonly source: string;
  readonly config: Config;
  /** Warnings only (a file with errors does not load). */
  readonly problems: readonly ConfigProblem[];
}

/** Reloads of one config file, and how many worked. */
export class FileReloads {
  /** Reloads that worked and that failed, for /status and /metrics. */
  readonly counts = { ok: 0, failed: 0 };

  constructor(readonly file: string, readonly log: Logger) {}

  /**
   * Loads the file and hands it to `apply`, which may resolve with fields to add to the
   * "reloaded" event. Logs "reloaded", or "reload failed: the old config keeps serving" with
   * the file's problems or the error `apply` threw. Resolves with whether it reloaded.
   */
  async run(
    apply: (loaded: ValidLoad) => Promise<Record<string, unknown> | void>,
  ): Promise<boolean> {
    try {
      const { source, config, problems } = loadConfigFile(this.file);
      if (source === null || config === null) {
        this.#failed({ problems: problems.map(formatProblem) });
        return false;
      }
      const fields = await apply({ source, config, problems });
      this.counts.ok++;
      this.log.event("info", "reloaded", {
        file: this.file,
        listeners: config.listeners.size,
        ...fields,
      });
      return true;
    } catch (err) {
      this.#failed({ error: (err as Error).message });
      return false;
    }
  }

  #failed(fields: Record<string, unknown>): void {
    this.counts.failed++;
    this.log.event("error", "reload failed: the old config keeps serving", fields);
  }
}
