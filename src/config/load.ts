/**
 * Loading a config file: YAML in, a validated and deeply frozen {@link Config} out, with
 * every problem found (not just the first) positioned as `FILE:LINE:COL`.
 *
 * Parsing reads no files; checking the files it names is a pass after it (certificate and CA
 * files: `src/tls/check_files.ts`; the ACME storage folder: `check_acme.ts`), run for a file
 * loaded from disk or when asked.
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
import { checkCaFile, checkCertificateFiles } from "../tls/check_files.ts";
import { checkStorage } from "./check_acme.ts";
import { type FileUses, readDocument } from "./document.ts";
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
   * Also check the files after parsing: certificates (readable, key matches, not expired),
   * the ACME CA file (readable PEM) and storage folder (writable, or can be created).
   * On for files loaded from disk; off for text whose paths need not exist (tests, demo).
   */
  readonly checkFiles?: boolean;
}

/** Validates the YAML `text`; `file` names it in problems and anchors relative paths. */
export function parseConfig(text: string, file: string, opts: ParseOptions = {}): LoadResult {
  const parsed = parse(text, file);
  return settle(parsed.config, opts.checkFiles ? withFileProblems(parsed) : parsed.problems);
}

/** What parsing found: problems in the order reported, and what is left to check on disk. */
interface Parsed {
  /** Built despite errors (settling drops it); null when the text is not a config at all. */
  readonly config: Config | null;
  readonly problems: readonly ConfigProblem[];
  readonly files: FileUses;
}

/** Parses and validates `text`, reading no files. */
function parse(text: string, file: string): Parsed {
  const deep = findTooDeep(text);
  if (deep !== null) {
    const message = `nested deeper than ${MAX_NESTING} levels: a config needs a handful`;
    return {
      config: null,
      problems: [problem(file, deep.line, deep.col, message)],
      files: { certificates: [], acme: [] },
    };
  }
  const lineCounter = new LineCounter();
  // Duplicate keys are reported by the walker, which can say where the first one was.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const w = new Walker(file, lineCounter, doc);
  for (const e of doc.errors) w.reportAt(e.pos[0], e.message, "error");
  for (const e of doc.warnings) w.reportAt(e.pos[0], e.message, "warning");
  const files: FileUses = { certificates: [], acme: [] };
  // A document with syntax errors is only partly understood: checking its keys would
  // mostly report echoes of the syntax error.
  const config = doc.errors.length > 0 ? null : readDocument(
    w,
    { key: doc.contents ?? {}, node: w.resolve(doc.contents), path: "" },
    file,
    files,
  );
  return { config, problems: w.problems, files };
}

/** The problems of `parsed` and of the files it names, each where parsing reached its entry. */
function withFileProblems({ problems, files }: Parsed): ConfigProblem[] {
  const found = [
    ...files.certificates.map((c) => ({
      at: c.reportedBefore,
      problem: checkCertificateFiles(c.pair, c.site),
    })),
    ...files.acme.map((p) => ({
      at: p.reportedBefore,
      problem: p.kind === "ca" ? checkCaFile(p.path, p.site) : checkStorage(p.path, p.site),
    })),
  ].sort((a, b) => a.at - b.at);
  const all = [...problems];
  // Last place first, so that an insertion leaves the earlier places where they were (and
  // problems found at one place keep their order).
  for (const { at, problem } of found.reverse()) {
    if (problem !== null) all.splice(at, 0, problem);
  }
  return all;
}

/** Problems in file order (ties in the order reported), and the config only without errors. */
function settle(config: Config | null, problems: readonly ConfigProblem[]): LoadResult {
  const sorted = problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.p.col - b.p.col || a.i - b.i)
    .map(({ p }) => Object.freeze(p));
  const ok = sorted.every((p) => p.severity === "warning");
  return Object.freeze({ config: ok ? config : null, problems: Object.freeze(sorted) });
}

/** What loading a file gives: also the text read, so that it is read once per load. */
export interface FileLoadResult extends LoadResult {
  /** The file's text; null when it could not be read. */
  readonly source: string | null;
}

/**
 * Reads and validates the config file at `path`, then checks the files it names; an
 * unreadable config file is one problem at 1:1.
 */
export function loadConfigFile(path: string): FileLoadResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const unreadable = problem(path, 1, 1, `cannot read the config file: ${reason}`);
    return { ...settle(null, [unreadable]), source: null };
  }
  return Object.freeze({ ...parseConfig(text, path, { checkFiles: true }), source: text });
}

/** An error about the whole file, at `line`:`col`. */
function problem(file: string, line: number, col: number, message: string): ConfigProblem {
  return { file, line, col, path: "", message, severity: "error" };
}

/** `FILE:LINE:COL: path: message`, with "warning: " before the path for warnings. */
export function formatProblem(p: ConfigProblem): string {
  const severity = p.severity === "warning" ? "warning: " : "";
  const path = p.path === "" ? "" : `${p.path}: `;
  return `${p.file}:${p.line}:${p.col}: ${severity}${path}${p.message}`;
}
