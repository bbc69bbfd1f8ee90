/**
 * Loading a config file: YAML in, a validated and deeply frozen {@link Config} out, with
 * every problem found (not just the first) positioned as `FILE:LINE:COL`.
 *
 * @example
 * ```ts
 * const { config, problems } = loadConfigFile("switchyard.yaml");
 * for (const p of problems) console.error(formatProblem(p));
 * ```
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { readDocument } from "./document.ts";
import { findTooDeep, MAX_NESTING } from "./nesting.ts";
import type { Config, ConfigProblem } from "./types.ts";
import { Walker } from "./yaml_walk.ts";

/** What loading gives: a config only when there are no errors (warnings are fine). */
export interface LoadResult {
  readonly config: Config | null;
  /** Errors and warnings, in file order. */
  readonly problems: readonly ConfigProblem[];
}

/** Options for {@link parseConfig}. */
export interface ParseOptions {
  /**
   * Also read the certificate files and check them (readable, key matches, not expired).
   * On for files loaded from disk; off for text whose paths need not exist (tests, demo).
   */
  readonly checkFiles?: boolean;
}

/** Validates the YAML `text`; `file` names it in problems and anchors relative paths. */
export function parseConfig(text: string, file: string, opts: ParseOptions = {}): LoadResult {
  const deep = findTooDeep(text);
  if (deep !== null) {
    return oneProblem(
      file,
      deep.line,
      deep.col,
      `nested deeper than ${MAX_NESTING} levels: a config needs a handful`,
    );
  }
  const lineCounter = new LineCounter();
  // Duplicate keys are reported by the walker, which can say where the first one was.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const w = new Walker(file, lineCounter, doc);
  for (const e of doc.errors) w.reportAt(e.pos[0], e.message, "error");
  for (const e of doc.warnings) w.reportAt(e.pos[0], e.message, "warning");
  // A document with syntax errors is only partly understood: checking its keys would
  // mostly report echoes of the syntax error.
  const config = doc.errors.length > 0 ? null : readDocument(
    w,
    { key: doc.contents ?? {}, node: w.resolve(doc.contents), path: "" },
    file,
    opts.checkFiles ?? false,
  );
  const problems = w.problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.p.col - b.p.col || a.i - b.i)
    .map(({ p }) => Object.freeze(p));
  const ok = problems.every((p) => p.severity === "warning");
  return Object.freeze({ config: ok ? config : null, problems: Object.freeze(problems) });
}

/** What loading a file gives: also the text read, so that it is read once per load. */
export interface FileLoadResult extends LoadResult {
  /** The file's text; null when it could not be read. */
  readonly source: string | null;
}

/** Reads and validates the config file at `path`; an unreadable file is one problem at 1:1. */
export function loadConfigFile(path: string): FileLoadResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ...oneProblem(path, 1, 1, `cannot read the config file: ${reason}`), source: null };
  }
  return Object.freeze({ ...parseConfig(text, path, { checkFiles: true }), source: text });
}

/** A result with no config and the one error that stopped loading. */
function oneProblem(file: string, line: number, col: number, message: string): LoadResult {
  const problem: ConfigProblem = { file, line, col, path: "", message, severity: "error" };
  return Object.freeze({ config: null, problems: Object.freeze([Object.freeze(problem)]) });
}

/** `FILE:LINE:COL: path: message`, with "warning: " before the path for warnings. */
export function formatProblem(p: ConfigProblem): string {
  const severity = p.severity === "warning" ? "warning: " : "";
  const path = p.path === "" ? "" : `${p.path}: `;
  return `${p.file}:${p.line}:${p.col}: ${severity}${path}${p.message}`;
}
