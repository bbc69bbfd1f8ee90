/**
 * Names of listeners and backends: they show up in logs, metric labels and `to:`.
 *
 * @module
 */

import type { Walker, YamlNode } from "./yaml_walk.ts";

// No ":" so that a `to:` with a colon is always an address, never a backend name.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Whether `name` may name a listener or backend; reports it at `key` when not. */
export function checkName(
  w: Walker,
  key: YamlNode,
  path: string,
  what: string,
  name: string,
): boolean {
  if (NAME.test(name)) return true;
  w.error(key, path, `bad ${what} name "${name}": use letters, digits, ".", "-" and "_"`);
  return false;
}
