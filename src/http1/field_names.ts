/**
 * Common header field names, lower-cased without `toLowerCase`: a head parser asks for the
 * lower-case name of each field, and on Bun `toLowerCase` of a fresh slice costs about 65 ns
 * (a nine-field nginx response head: 0.56 us of lower-casing, 0.33 us through this table).
 * The strings returned are the same few constants every time, so later Set and Map lookups
 * (connection-specific fields, HPACK's static table) hash them once.
 *
 * @module
 */

/** The names recognized, lower-case. */
export const COMMON_NAMES: readonly string[] = [
  "accept",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "access-control-allow-origin",
  "age",
  "alt-svc",
  "authorization",
  "cache-control",
  "connection",
  "content-disposition",
  "content-encoding",
  "content-length",
  "content-range",
  "content-security-policy",
  "content-type",
  "cookie",
  "date",
  "etag",
  "expires",
  "forwarded",
  "host",
  "if-modified-since",
  "if-none-match",
  "keep-alive",
  "last-modified",
  "link",
  "location",
  "origin",
  "pragma",
  "proxy-connection",
  "range",
  "referer",
  "retry-after",
  "server",
  "set-cookie",
  "strict-transport-security",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "vary",
  "via",
  "www-authenticate",
  "x-content-type-options",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-frame-options",
  "x-real-ip",
  "x-request-id",
];

/** The common names by length. */
const BY_LENGTH: (string[] | undefined)[] = [];
for (const name of COMMON_NAMES) (BY_LENGTH[name.length] ??= []).push(name);

/**
 * The lower-cased name of the token `text[start, end)` when it is a common one (any case),
 * else undefined. `text` must hold only token characters there: `c | 0x20` lower-cases a
 * letter and leaves "-" and digits alone, and no other token character maps onto a letter,
 * "-" or a digit of a common name.
 */
export function commonName(text: string, start: number, end: number): string | undefined {
  const list = BY_LENGTH[end - start];
  if (list === undefined) return undefined;
  next: for (const name of list) {
    for (let i = 0; i < name.length; i++) {
      if ((text.charCodeAt(start + i) | 0x20) !== name.charCodeAt(i)) continue next;
    }
    return name;
  }
  return undefined;
}
