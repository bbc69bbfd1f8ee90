/**
 * PROXY protocol v1 (text) and v2 (binary), per HAProxy's doc/proxy-protocol.txt: what a header
 * carries, shared by the decoder (`decode.ts`) and the encoders (`encode.ts`).
 *
 * @module
 */

/** One end of a proxied connection. */
export interface ProxyAddress {
  family: 4 | 6;
  /** Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6. */
  address: string;
  port: number;
}

/** A v2 type-length-value extension, as received. */
export interface ProxyTlv {
  type: number;
  /** A view into the sniffed buffer (not a copy): copy it if the buffer is reused. */
  value: Uint8Array;
}

/** A decoded PROXY header. */
export interface ProxyHeader {
  version: 1 | 2;
  /** `local`: the proxy itself opened the connection (health check); use the real endpoints. */
  command: "proxy" | "local";
  /** `null` for LOCAL, for v2 AF_UNSPEC or v1 UNKNOWN, and for AF_UNIX. */
  source: ProxyAddress | null;
  /** `null` exactly when `source` is. */
  destination: ProxyAddress | null;
  transport: "tcp" | "udp" | "unspec" | "unix";
  /**
   * Every v2 TLV except PP2_TYPE_NOOP padding, in wire order (ALPN and AUTHORITY included, also
   * decoded below; SSL kept raw with its sub-TLVs; CRC32C not verified). Empty for v1.
   */
  tlvs: readonly ProxyTlv[];
  /** PP2_TYPE_ALPN decoded as UTF-8 (e.g. "h2"). */
  alpn?: string;
  /** PP2_TYPE_AUTHORITY decoded as UTF-8: the host name the client asked for (e.g. TLS SNI). */
  authority?: string;
}

/** Registered v2 TLV types (section 2.2 of the spec). */
export const PP2_TYPE = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
});

/** The 12 bytes every v2 header starts with. */
export const V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);
/** The v2 signature, version/command, family and length bytes. */
export const V2_FIXED_LENGTH = 16;

/** Quotes untrusted text for a reason: JSON escapes control bytes, the cap bounds its size. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
