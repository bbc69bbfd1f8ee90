/**
 * `request_headers:` / `response_headers:` edits, on an HTTP/1 head as bytes and on an HTTP/2
 * header list. They run on every request or response of a route, so the actions are compiled
 * once (cached per actions object, which the frozen config never changes) and a head is
 * scanned once as bytes, making no strings: a field name is compared only when its length is
 * that of a named one, and a head nothing applies to is returned as it came.
 *
 * Semantics (names compare case-insensitively): `remove` deletes every field of those names;
 * `set` replaces every field of its name with one `Name: value` field where the first one was,
 * or adds it after the last field when there was none. A name both set and removed ends up
 * set. Names and values are byte strings (one char per byte, as heads are read); the config
 * loader keeps them to a token and to visible characters, and compiling refuses anything that
 * would break the head's framing (a TypeError on first use), whatever slipped past.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { HeaderActions } from "../../config/types.ts";
import { isToken } from "../../http1/fields.ts";

const CR = 0x0d;
const COLON = 0x3a;

/** A `set` entry, compiled. */
interface SetEntry {
  /** Position in `sets` (config order): appended fields keep that order. */
  readonly index: number;
  readonly lowerName: string;
  readonly value: string;
  /** `Name: value\r\n` as bytes, the line an HTTP/1 head receives. */
  readonly line: Uint8Array;
}

/** A named field, compiled: what happens to a field of that name. */
interface NameEntry {
  /** The lower-cased name as bytes, compared against a field's name bytes. */
  readonly lower: Uint8Array;
  /** null: the field is removed. */
  readonly set: SetEntry | null;
}

interface Compiled {
  /** Entries by name length: a field whose name has no entry here is skipped unread. */
  readonly byLength: readonly (readonly NameEntry[] | undefined)[];
  /** The same entries by lower-cased name, for HTTP/2 lists (names are strings there). */
  readonly byName: ReadonlyMap<string, SetEntry | null>;
  readonly sets: readonly SetEntry[];
}

const compiledCache = new WeakMap<HeaderActions, Compiled>();

/** The compiled form of `actions`, made on first use. */
function compiled(actions: HeaderActions): Compiled {
  let c = compiledCache.get(actions);
  if (c === undefined) {
    c = compile(actions);
    compiledCache.set(actions, c);
  }
  return c;
}

function compile(actions: HeaderActions): Compiled {
  const byName = new Map<string, SetEntry | null>();
  for (const name of actions.remove) {
    checkName(name);
    byName.set(name.toLowerCase(), null);
  }
  const sets: SetEntry[] = [];
  for (const [name, value] of actions.set) {
    checkName(name);
    // A CR or LF would end the line early and let a value add fields of its own.
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
        throw new TypeError(`header ${JSON.stringify(name)}: invalid character in value`);
      }
    }
    const lowerName = name.toLowerCase();
    // Set wins over remove of the same name; a repeated set keeps its first value.
    if (byName.get(lowerName)) continue;
    const entry: SetEntry = {
      index: sets.length,
      lowerName,
      value,
      line: Buffer.from(`${name}: ${value}\r\n`, "latin1"),
    };
    sets.push(entry);
    byName.set(lowerName, entry);
  }
  const byLength: NameEntry[][] = [];
  for (const [lowerName, set] of byName) {
    (byLength[lowerName.length] ??= []).push({ lower: Buffer.from(lowerName, "latin1"), set });
  }
  return { byLength, byName, sets };
}

function checkName(name: string): void {
  if (!isToken(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
}

/** Whether the `len` bytes at `at` spell `lower`, ASCII letters in either case. */
function nameMatches(head: Uint8Array, at: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    let b = head[at + i];
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== lower[i]) return false;
  }
  return true;
}

/** Whether `head[at..at+line.length)` equals `line` (the caller checked the length fits). */
function sameBytes(head: Uint8Array, at: number, line: Uint8Array): boolean {
  for (let i = 0; i < line.length; i++) if (head[at + i] !== line[i]) return false;
  return true;
}

/**
 * Applies `actions` to the HTTP/1 request or response head at the start of `head` (start
 * line, field lines, the empty line; a head the head parsers accepted, every line ending in
 * CRLF). The start line and every byte not in a removed or replaced field stay as they were,
 * bytes after the head included. Returns `head` itself when nothing changes (no field named,
 * and a `set` field already present once, exactly as it would be written), and also when
 * `head` holds no complete head.
 */
export function editHeadFields(head: Uint8Array, actions: HeaderActions): Uint8Array {
  const c = compiled(actions);
  if (c.sets.length === 0 && c.byName.size === 0) return head;
  const n = head.length;
  const firstEnd = head.indexOf(CR);
  if (firstEnd < 0) return head;
  // Edits as [start, end, set index or -1] triples in head order: the bytes from start to end
  // are replaced by that set's line (-1: by nothing). Made only when a field is named.
  let edits: number[] | null = null;
  // placed[i] = 1: sets[i] is in the output already; made when a set name is first met.
  let placed: Uint8Array | null = null;
  let end = -1;
  for (let p = firstEnd + 2; p < n;) {
    if (head[p] === CR) {
      end = p;
      break;
    }
    const e = head.indexOf(CR, p);
    if (e < 0) break;
    const colon = head.indexOf(COLON, p);
    const entries = colon > p && colon < e ? c.byLength[colon - p] : undefined;
    if (entries !== undefined) {
      for (const entry of entries) {
        if (!nameMatches(head, p, entry.lower)) continue;
        const set = entry.set;
        if (set !== null) {
          placed ??= new Uint8Array(c.sets.length);
          if (placed[set.index] === 0) {
            placed[set.index] = 1;
            // The first field of a set name becomes its line, unless it already is that line.
            const same = set.line.length === e + 2 - p && sameBytes(head, p, set.line);
            if (!same) (edits ??= []).push(p, e + 2, set.index);
            break;
          }
        }
        (edits ??= []).push(p, e + 2, -1);
        break;
      }
    }
    p = e + 2;
  }
  if (end < 0) return head;
  for (const set of c.sets) {
    if (placed === null || placed[set.index] === 0) (edits ??= []).push(end, end, set.index);
  }
  if (edits === null) return head;
  let size = n;
  for (let k = 0; k < edits.length; k += 3) {
    size -= edits[k + 1] - edits[k];
    if (edits[k + 2] >= 0) size += c.sets[edits[k + 2]].line.length;
  }
  const out = new Uint8Array(size);
  let from = 0;
  let to = 0;
  for (let k = 0; k < edits.length; k += 3) {
    out.set(head.subarray(from, edits[k]), to);
    to += edits[k] - from;
    if (edits[k + 2] >= 0) {
      const line = c.sets[edits[k + 2]].line;
      out.set(line, to);
      to += line.length;
    }
    from = edits[k + 1];
  }
  out.set(head.subarray(from), to);
  return out;
}

/** An HTTP/2 header field: lower-cased name (pseudo-headers start with ":") and value. */
export type FieldLine = readonly [name: string, value: string];

/**
 * Applies `actions` to an HTTP/2 header list (request or response): the same semantics as
 * {@link editHeadFields}, with names lower-cased in what it adds; pseudo-headers are never
 * touched. Returns `fields` itself when nothing changes, otherwise a new list.
 */
export function editFieldList(
  fields: readonly FieldLine[],
  actions: HeaderActions,
): readonly FieldLine[] {
  const c = compiled(actions);
  if (c.sets.length === 0 && c.byName.size === 0) return fields;
  // Copied on the first change only; until then `fields` itself is the answer.
  let out: FieldLine[] | null = null;
  // placed[i] = 1: sets[i] is in the output already.
  const placed = new Uint8Array(c.sets.length);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const name = field[0];
    const entry = name.charCodeAt(0) === COLON ? undefined : c.byName.get(name.toLowerCase());
    if (entry === undefined) {
      out?.push(field);
      continue;
    }
    if (entry !== null && placed[entry.index] === 0) {
      placed[entry.index] = 1;
      if (name === entry.lowerName && field[1] === entry.value) {
        out?.push(field);
        continue;
      }
      out ??= fields.slice(0, i);
      out.push([entry.lowerName, entry.value]);
      continue;
    }
    out ??= fields.slice(0, i);
  }
  for (const set of c.sets) {
    if (placed[set.index] === 1) continue;
    out ??= fields.slice();
    out.push([set.lowerName, set.value]);
  }
  return out ?? fields;
}
