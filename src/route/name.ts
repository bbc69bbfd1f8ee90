/**
 * Host and SNI names in the one form routing compares: the config's route names and the
 * names sniffers extract both go through {@link normalizeName}.
 *
 * @module
 */

/**
 * Lower-cases `name` and drops what does not take part in matching: IPv6 brackets and a
 * ":port" ("[::1]:8080" → "::1", "Example.COM:443" → "example.com"), and trailing dots
 * ("example.com." → "example.com"), so that normalizing twice changes nothing. A bare IPv6
 * literal ("::1") is kept whole.
 */
export function normalizeName(name: string): string {
  let s = name.toLowerCase();
  const bracket = s.startsWith("[") ? s.indexOf("]") : -1;
  if (bracket > 0) s = s.slice(1, bracket);
  else {
    const colon = s.indexOf(":");
    if (colon >= 0 && s.indexOf(":", colon + 1) < 0) s = s.slice(0, colon);
  }
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x2e) end--;
  return s.slice(0, end);
}
