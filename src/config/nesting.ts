/**
 * A guard in front of the YAML parser, which recurses once per nesting level and so overflows
 * the stack on a few thousand levels (`- - - - ...` found by the fuzzer): text nested deeper
 * than any config needs is refused with its position before it is parsed.
 *
 * @module
 */

/** The deepest a config may nest; real ones need under ten levels. */
export const MAX_NESTING = 256;

/** A block indicator (`- `, `? `, `: `) at `i`: the character, then a space or the line end. */
function indicator(text: string, i: number): boolean {
  const c = text[i];
  if (c !== "-" && c !== "?" && c !== ":") return false;
  const next = text[i + 1];
  return next === undefined || next === " " || next === "\n" || next === "\r";
}

/**
 * Where `text` first nests deeper than {@link MAX_NESTING} levels (1-based line and column),
 * or null. Counts conservatively: each column of indentation and each block indicator on a
 * line (`a: b: c:` nests too) is a level, plus the flow collections (`[`, `{`) still open.
 * Quotes and comments are not skipped: a stray quote (the fuzzer made one) would hide what
 * follows, and no real config has hundreds of brackets or `: ` in a string. Linear in the text.
 */
export function findTooDeep(text: string): { line: number; col: number } | null {
  let flow = 0;
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const start = i;
    let depth = 0;
    while (text[i] === " ") {
      if (++depth + flow > MAX_NESTING) return { line, col: i - start + 1 };
      i++;
    }
    for (; i < text.length && text[i] !== "\n"; i++) {
      const c = text[i];
      if (c === "[" || c === "{") flow++;
      else if ((c === "]" || c === "}") && flow > 0) flow--;
      else if (indicator(text, i)) depth++;
      else continue;
      if (depth + flow > MAX_NESTING) return { line, col: i - start + 1 };
    }
    i++;
    line++;
  }
  return null;
}
