/**
 * Walking a parsed YAML document while collecting positioned problems.
 *
 * Every problem is pinned to the node it is about (FILE:LINE:COL) and to its key path
 * ("listeners.web.routes[2].to"), and the walk never stops at the first one.
 *
 * @module
 */

import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter } from "yaml";
import type { ConfigProblem, ProblemSite } from "./types.ts";
import { didYouMean } from "./suggest.ts";

/** A position-carrying YAML node (scalar, map, list or alias). */
export type YamlNode = { range?: [number, number, number] | null };

/** One `key: value` of a map. `node` is null when the value is missing or `null`. */
export interface Entry {
  readonly key: YamlNode;
  readonly node: YamlNode | null;
  readonly path: string;
}

/** The path of `key` below `path`. */
export function child(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** The path of list item `index` below `path`. */
export function item(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** A short description of what a node holds, for "expected X, got Y" messages. */
export function describe(node: YamlNode | null): string {
  if (node === null) return "nothing";
  if (isMap(node)) return "a map";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    return typeof v === "string" ? `"${v}"` : String(v);
  }
  return "an unsupported node";
}

/** Collects problems for one file and resolves aliases. */
export class Walker {
  readonly problems: ConfigProblem[] = [];

  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document.Parsed,
  ) {}

  /** The line `node` starts on (1 when it has no position). */
  lineOf(node: YamlNode): number {
    return node.range ? this.lines.linePos(node.range[0]).line : 1;
  }

  /** Reports an error at `node` (1:1 when the node has no position). */
  error(node: YamlNode | null, path: string, message: string): void {
    this.report(node, path, message, "error");
  }

  /** Reports a warning at `node`. */
  warn(node: YamlNode | null, path: string, message: string): void {
    this.report(node, path, message, "warning");
  }

  /** Reports a problem at a source offset (used for YAML syntax errors). */
  reportAt(offset: number, message: string, severity: "error" | "warning"): void {
    const { line, col } = this.lines.linePos(offset);
    this.problems.push({ file: this.file, line, col, path: "", message, severity });
  }

  /** Where a problem about `node` points (1:1 when the node has no position). */
  site(node: YamlNode | null, path: string): ProblemSite {
    const offset = node?.range?.[0];
    if (offset === undefined) return { file: this.file, line: 1, col: 1, path };
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col, path };
  }

  private report(
    node: YamlNode | null,
    path: string,
    message: string,
    severity: "error" | "warning",
  ): void {
    this.problems.push({ ...this.site(node, path), message, severity });
  }

  /** The node an alias points to; null for a null scalar (a key written without a value). */
  resolve(node: unknown): YamlNode | null {
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (target === undefined) return null;
      node = target;
    }
    if (node === null || node === undefined) return null;
    if (isScalar(node) && node.value === null) return null;
    return node as YamlNode;
  }

  /**
   * The entries of the map in `entry`, reporting non-text keys, duplicate keys and keys not in
   * `known` (with a suggestion). Returns null, after reporting, when `node` is not a map.
   */
  map(
    entry: Entry,
    known: readonly string[] | null,
    hints?: Readonly<Record<string, string>>,
  ): Map<string, Entry> | null {
    const { node, path } = entry;
    if (!isMap(node)) {
      this.error(node ?? entry.key, path, `expected a map, got ${describe(node)}`);
      return null;
    }
    const entries = new Map<string, Entry>();
    for (const pair of node.items) {
      const key = this.resolve(pair.key);
      if (!isScalar(key) || typeof key.value !== "string" && typeof key.value !== "number") {
        this.error(key ?? node, path, `keys must be plain text, got ${describe(key)}`);
        continue;
      }
      const name = String(key.value);
      const first = entries.get(name);
      if (first !== undefined) {
        this.error(key, path, `duplicate key "${name}" (first at line ${this.lineOf(first.key)})`);
      } else if (known !== null && !known.includes(name)) {
        this.error(key, path, `unknown key "${name}"${didYouMean(name, known, hints)}`);
      } else {
        entries.set(name, { key, node: this.resolve(pair.value), path: child(path, name) });
      }
    }
    return entries;
  }

  /** The items of `entry`: a list's items, or the value itself when it is a single value. */
  list(entry: Entry): Entry[] {
    if (!isSeq(entry.node)) return [entry];
    return entry.node.items.map((n, i) => ({
      key: (n ?? entry.node) as YamlNode,
      node: this.resolve(n),
      path: item(entry.path, i),
    }));
  }
}
