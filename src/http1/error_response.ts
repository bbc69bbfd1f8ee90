/**
 * The small responses the router answers itself (refusals, no route, backend failures, ACME
 * challenges). They always close the connection: after an error the request stream may be out
 * of sync, and an ACME validator asks once.
 *
 * @module
 */

const REASONS: Record<number, string> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  408: "Request Timeout",
  414: "URI Too Long",
  417: "Expectation Failed",
  421: "Misdirected Request",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The reason phrase for `status`. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Error";
}

/**
 * A complete `status` response with a one-line text body, closing the connection. For a HEAD
 * request (`head`), the same head without the body (RFC 9110 section 9.3.2): Content-Length
 * still gives the length a GET would have received.
 */
export function errorResponse(status: number, detail?: string, head = false): Uint8Array {
  const body = `${status} ${reasonPhrase(status)}${detail ? `: ${detail}` : ""}\n`;
  return new TextEncoder().encode(
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${new TextEncoder().encode(body).length}\r\nConnection: close\r\n` +
      `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n${head ? "" : body}`,
  );
}

/** A 200 with `body` as text/plain (no body for HEAD), closing the connection. */
export function textResponse(body: string, head: boolean): Uint8Array {
  const bytes = new TextEncoder().encode(body);
  return new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${bytes.length}\r\n` +
      `Connection: close\r\nCache-Control: no-store\r\n\r\n${head ? "" : body}`,
  );
}

/** The status code a sniffer's `invalid` reason starts with ("431: ..."), else 400. */
export function statusOf(reason: string): number {
  const m = /^(\d{3}):/.exec(reason);
  return m ? Number(m[1]) : 400;
}
