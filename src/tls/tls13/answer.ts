/**
 * Answers one TLS 1.3 handshake in TypeScript, for the TLS-ALPN-01 validation (RFC 8737): the
 * validator only needs the handshake to complete and to see the challenge certificate, whose
 * critical acmeIdentifier extension Deno's TLS (rustls) refuses to load. So this process speaks
 * the server's side itself, on WebCrypto, on every runtime: ServerHello with an X25519 or P-256
 * share, TLS_AES_128_GCM_SHA256, the one certificate signed for with ECDSA P-256, and the
 * client's Finished checked; then close_notify. No application data is ever exchanged.
 *
 * @module
 */

import type { Conn, ConnHandlers } from "../../runtime/types.ts";
import { sniffClientHelloMessage, TLS_ALERT_HANDSHAKE_FAILURE } from "../client_hello.ts";
import { concat, cryptoBytes } from "../../wire/bytes.ts";
import { type Identity, signEcdsa } from "./identity.ts";
import {
  deriveSecret,
  finishedData,
  handshakeSecret,
  masterSecret,
  sha256,
} from "./key_schedule.ts";
import {
  certificate,
  certificateVerify,
  encryptedExtensions,
  FINISHED,
  finished,
  SERVER_VERIFY_PREFIX,
  serverHello,
} from "./messages.ts";
import { GROUP_X25519, type Offer, readOffer } from "./offer.ts";
import {
  CONTENT_ALERT,
  CONTENT_CHANGE_CIPHER_SPEC,
  CONTENT_HANDSHAKE,
  RecordCipher,
  sniffRecord,
} from "./record.ts";

/**
 * How the handshake ended: completed (the client sent a valid Finished) or why not; `sent` is
 * the byte count written to the client.
 */
export type AnswerResult =
  | { readonly ok: true; readonly sent: number }
  | { readonly ok: false; readonly error: string; readonly sent: number };

/** How long a closed answer waits for the client's FIN before closing anyway. */
const LINGER_MS = 1000;

/** The compatibility ChangeCipherSpec record (RFC 8446 §D.4). */
const CHANGE_CIPHER_SPEC = Uint8Array.of(CONTENT_CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1);

/**
 * Takes over `client`, whose first bytes `received` hold a ClientHello the sniffer accepted,
 * answers the handshake with `identity` and the ALPN protocol `protocol`, and closes the client.
 * `done` is called once, when the outcome is known; `timeoutMs` bounds the whole handshake.
 */
export function answerHandshake(
  client: Conn,
  received: Uint8Array,
  identity: Identity,
  protocol: string,
  timeoutMs: number,
  done: (r: AnswerResult) => void,
): void {
  new Answer(client, identity, protocol, done).run(received, timeoutMs);
}

interface ClientKeys {
  readonly cipher: RecordCipher;
  /** The verify_data the client's Finished must carry. */
  readonly finished: Uint8Array;
  /** Protects the close_notify that ends the exchange. */
  readonly serverApp: RecordCipher;
}

class Answer implements ConnHandlers {
  #inbox = new Uint8Array(0);
  #keys: ClientKeys | null = null;
  #busy = false;
  #settled = false;
  #closed = false;
  /** The client's FIN has arrived: nothing more will come. */
  #eof = false;
  #sent = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #linger: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly client: Conn,
    readonly identity: Identity,
    readonly protocol: string,
    readonly done: (r: AnswerResult) => void,
  ) {}

  run(received: Uint8Array, timeoutMs: number): void {
    const m = sniffClientHelloMessage(received);
    if (m.kind !== "match") {
      this.#fail("ClientHello: not a complete hello");
      return;
    }
    const offer = readOffer(m.value);
    if ("kind" in offer) {
      this.#write(TLS_ALERT_HANDSHAKE_FAILURE);
      this.#fail(offer.reason);
      return;
    }
    this.#inbox = received.slice(m.length);
    this.#timer = setTimeout(
      () => this.#fail(`handshake not done within ${timeoutMs} ms`),
      timeoutMs,
    );
    this.client.start(this);
    // The sniffing session paused the client to route; the client's Finished must be read.
    this.client.resume();
    this.#respond(m.value, offer).then(
      () => this.#pump(),
      (err: Error) => this.#fail(`handshake: ${err.message}`),
    );
  }

  data(chunk: Uint8Array): void {
    if (this.#settled) return;
    const next = new Uint8Array(this.#inbox.length + chunk.length);
    next.set(this.#inbox);
    next.set(chunk, this.#inbox.length);
    this.#inbox = next;
    this.#pump();
  }

  end(): void {
    if (this.#settled) {
      this.#close();
      return;
    }
    // Records that arrived with the FIN may still be waiting for a decryption.
    this.#eof = true;
    this.#pump();
  }

  drain(): void {}

  error(err: Error): void {
    this.#fail(err.message);
    this.#close();
  }

  /** Sends ServerHello through Finished and works out what the client's Finished must be. */
  async #respond(hello: Uint8Array, offer: Offer): Promise<void> {
    const { publicKey, shared } = await agree(offer);
    const sh = serverHello(
      crypto.getRandomValues(new Uint8Array(32)),
      offer.sessionId,
      offer.group,
      publicKey,
    );
    const hs = await handshakeSecret(shared);
    const toServerHello = await sha256(concat([hello, sh]));
    const serverHs = await deriveSecret(hs, "s hs traffic", toServerHello);
    const clientHs = await deriveSecret(hs, "c hs traffic", toServerHello);
    const ee = encryptedExtensions(this.protocol);
    const cert = certificate(this.identity.der);
    const toCert = await sha256(concat([hello, sh, ee, cert]));
    const signature = await signEcdsa(this.identity.key, concat([SERVER_VERIFY_PREFIX, toCert]));
    const cv = certificateVerify(signature);
    const toVerify = await sha256(concat([hello, sh, ee, cert, cv]));
    const sf = finished(await finishedData(serverHs, toVerify));
    const toFinished = await sha256(concat([hello, sh, ee, cert, cv, sf]));
    const flight = await (await RecordCipher.of(serverHs)).seal(
      CONTENT_HANDSHAKE,
      concat([ee, cert, cv, sf]),
    );
    if (this.#settled) return;
    const plain = concat([
      Uint8Array.of(CONTENT_HANDSHAKE, 3, 3, sh.length >> 8, sh.length & 0xff),
      sh,
    ]);
    // A client that sent a legacy session id expects the compatibility ChangeCipherSpec.
    const ccs = offer.sessionId.length > 0 ? CHANGE_CIPHER_SPEC : new Uint8Array(0);
    this.#write(concat([plain, ccs, flight]));
    this.#keys = {
      cipher: await RecordCipher.of(clientHs),
      finished: await finishedData(clientHs, toFinished),
      serverApp: await RecordCipher.of(
        await deriveSecret(await masterSecret(hs), "s ap traffic", toFinished),
      ),
    };
  }

  /** Reads the client's records until its Finished; one pass at a time. */
  async #pump(): Promise<void> {
    const keys = this.#keys;
    if (keys === null || this.#busy || this.#settled) return;
    this.#busy = true;
    try {
      for (;;) {
        const r = sniffRecord(this.#inbox);
        if (r.kind === "more") {
          if (this.#eof) this.#fail("client closed before its Finished");
          return;
        }
        if (r.kind !== "match") {
          this.#fail(r.kind === "invalid" ? r.reason : "not a TLS record");
          return;
        }
        this.#inbox = this.#inbox.subarray(r.length);
        const record = r.value;
        if (record.type === CONTENT_CHANGE_CIPHER_SPEC) continue;
        if (record.type === CONTENT_ALERT) {
          this.#fail(`client sent alert ${alertName(record.fragment)}`);
          return;
        }
        const opened = await keys.cipher.open(record);
        if (this.#settled) return;
        if ("kind" in opened) {
          this.#fail(opened.reason);
          return;
        }
        if (opened.type === CONTENT_ALERT) {
          this.#fail(`client sent alert ${alertName(opened.content)}`);
          return;
        }
        const c = opened.content;
        if (opened.type !== CONTENT_HANDSHAKE || c.length !== 36 || c[0] !== FINISHED) {
          this.#fail(`expected the client's Finished, got content type ${opened.type}`);
          return;
        }
        if (!sameBytes(c.subarray(4), keys.finished)) {
          this.#fail("the client's Finished does not verify");
          return;
        }
        const notify = await keys.serverApp.seal(CONTENT_ALERT, Uint8Array.of(1, 0));
        if (this.#settled) return;
        this.#write(notify);
        this.#settle(true, "");
        return;
      }
    } catch (err) {
      this.#fail(`handshake: ${(err as Error).message}`);
    } finally {
      this.#busy = false;
    }
  }

  #write(bytes: Uint8Array): void {
    this.#sent += bytes.length;
    this.client.write(bytes);
  }

  #fail(error: string): void {
    this.#settle(false, error);
  }

  /** Reports the outcome once and half-closes; the socket closes on the client's FIN. */
  #settle(ok: boolean, error: string): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.client.end();
    if (this.#eof) this.#close();
    else this.#linger = setTimeout(() => this.#close(), LINGER_MS);
    this.done(ok ? { ok, sent: this.#sent } : { ok, error, sent: this.#sent });
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#linger !== null) clearTimeout(this.#linger);
    this.client.close();
  }
}

/** An ephemeral key pair in the offered group, and the secret shared with the client's share. */
async function agree(offer: Offer): Promise<{ publicKey: Uint8Array; shared: Uint8Array }> {
  const algorithm = offer.group === GROUP_X25519
    ? { name: "X25519" }
    : { name: "ECDH", namedCurve: "P-256" };
  const pair = await crypto.subtle.generateKey(algorithm, true, ["deriveBits"]) as CryptoKeyPair;
  const peer = await crypto.subtle.importKey(
    "raw",
    cryptoBytes(offer.publicKey),
    algorithm,
    false,
    [],
  );
  const shared = await crypto.subtle.deriveBits(
    { name: algorithm.name, public: peer },
    pair.privateKey,
    256,
  );
  return {
    publicKey: new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)),
    shared: new Uint8Array(shared),
  };
}

/** Constant-time comparison of two equal-length byte arrays. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** An alert's description code, named for the common ones. */
function alertName(body: Uint8Array): string {
  const code = body.length >= 2 ? body[1] : -1;
  const names: Record<number, string> = {
    0: "close_notify",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    46: "certificate_unknown",
    48: "unknown_ca",
    51: "decrypt_error",
    70: "protocol_version",
    80: "internal_error",
    120: "no_application_protocol",
  };
  return `${code}${names[code] ? ` (${names[code]})` : ""}`;
}
