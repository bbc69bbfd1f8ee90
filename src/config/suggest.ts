/**
 * "Did you mean …?" suggestions for misspelled keys, enum values and names.
 *
 * @module
 */

/**
 * Edit distance counting insertions, deletions, substitutions and transpositions of two
 * adjacent characters (optimal string alignment), so "hots" is one edit from "host".
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0].push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2][j - 2] + 1);
      }
      rows[i].push(d);
    }
  }
  return rows[a.length][b.length];
}

/**
 * The candidate closest to `word`: within two edits (one when both are three characters or
 * shorter, so any two-letter word does not "match" every two-letter key), or one being a
 * prefix of the other (at least three characters, e.g. "health" for "health_check").
 * `hints` maps words users bring from other proxies to the key that plays their part here;
 * they are matched like candidates, so "backnd" finds "backend" and suggests its key.
 * Returns undefined when nothing is close.
 */
export function suggest(
  word: string,
  candidates: Iterable<string>,
  hints: Readonly<Record<string, string>> = {},
): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  // A misspelled hint word ("backnd") is as good a clue as a misspelled key.
  const pairs = [...candidates].map((c) => [c, c]).concat(Object.entries(hints));
  for (const [spelling, candidate] of pairs) {
    const c = spelling.toLowerCase();
    const limit = Math.max(w.length, c.length) <= 3 ? 1 : 2;
    const distance = editDistance(w, c);
    const prefix = Math.min(w.length, c.length) >= 3 && (c.startsWith(w) || w.startsWith(c));
    // A close spelling beats a mere prefix; both beat nothing.
    const score = distance <= limit ? distance : prefix ? limit + 1 : Infinity;
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` when a candidate is close to `word`, otherwise "". */
export function didYouMean(
  word: string,
  candidates: Iterable<string>,
  hints?: Readonly<Record<string, string>>,
): string {
  const s = suggest(word, candidates, hints);
  return s === undefined ? "" : ` (did you mean "${s}"?)`;
}
