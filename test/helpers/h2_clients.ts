/**
 * Real HTTP/2 clients for integration tests, with their output parsed: curl --http2 (one
 * request, TLS with ALPN or h2c), nghttp (several streams on one connection, per-stream status,
 * headers, body and trailers), h2load (load, and its summary), node:http2 (one session whose
 * streams carry any :authority) and headless Chromium (the protocol a browser ends up on).
 * Each was checked against nginx's HTTP/2 (test/integration/h2_clients_test.ts).
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { exec } from "./clients.ts";

/** Header fields as curl's `%{header_json}` and nghttp give them: lower-case names, every value. */
export type HeaderLists = Record<string, string[]>;

// --- curl --------------------------------------------------------------------------------------

/** Options for {@link curlH2}. */
export interface CurlH2Options {
  /** `--resolve`, e.g. `"a.test:8443:127.0.0.1"`: connect there, with SNI and :authority a.test. */
  resolve?: string;
  /** `--cacert`: the PEM file to trust. */
  cacert?: string;
  /** `-k`: accept any certificate. */
  insecure?: boolean;
  /**
   * `--http2-prior-knowledge` (h2c: the preface at once, no Upgrade). Without it an http:// URL
   * sends an HTTP/1.1 request offering `Upgrade: h2c`, and an https:// URL offers ALPN h2 and
   * http/1.1.
   */
  priorKnowledge?: boolean;
  /** More curl arguments, e.g. `["-X", "POST", "--data-binary", "@file"]`. */
  extra?: string[];
}

/** What {@link curlH2} saw. */
export interface CurlH2Result {
  /** curl's exit code (0: a response was received, whatever its status). */
  code: number;
  /** The response status; 0 when there was none. */
  status: number;
  /** curl's `%{http_version}`: "2", "1.1", "1"; "0" when there was no response. */
  httpVersion: string;
  body: string;
  /** The final response's header fields (no pseudo-headers). */
  headers: HeaderLists;
  /** curl's own messages (errors), without the write-out. */
  stderr: string;
}

// The write-out goes to stderr (%{stderr}), so stdout is the body alone. curl's messages come
// before it; the marker keeps them apart. %{header_json} (curl 7.83) is last: it spans lines
// and always ends with "\n}".
const CURL_MARK = "::curl_h2::";
const CURL_WRITE_OUT =
  `%{stderr}\n${CURL_MARK}%{http_version} %{response_code}\n${CURL_MARK}%{header_json}\n`;
const CURL_TAIL = new RegExp(`\\n${CURL_MARK}(\\S+) (\\d+)\\n${CURL_MARK}(\\{[\\s\\S]*?\\n\\})\\n`);

/** One request with `curl -sS --http2` (or `--http2-prior-knowledge`), parsed. */
export async function curlH2(url: string, opts: CurlH2Options = {}): Promise<CurlH2Result> {
  const args = [
    "-sS",
    "--max-time",
    "10",
    opts.priorKnowledge ? "--http2-prior-knowledge" : "--http2",
  ];
  if (opts.resolve !== undefined) args.push("--resolve", opts.resolve);
  if (opts.cacert !== undefined) args.push("--cacert", opts.cacert);
  if (opts.insecure) args.push("-k");
  args.push(...(opts.extra ?? []), "-w", CURL_WRITE_OUT, url);
  const r = await exec("curl", args);
  const m = CURL_TAIL.exec(r.stderr);
  // No write-out: curl was killed (exec's timeout) before it finished.
  if (m === null) {
    return {
      code: r.code,
      status: 0,
      httpVersion: "0",
      body: r.stdout,
      headers: {},
      stderr: r.stderr,
    };
  }
  return {
    code: r.code,
    status: Number(m[2]),
    httpVersion: m[1],
    body: r.stdout,
    headers: JSON.parse(m[3]) as HeaderLists,
    stderr: r.stderr.slice(0, m.index) + r.stderr.slice(m.index + m[0].length),
  };
}

// --- nghttp ------------------------------------------------------------------------------------

/** Options for {@link nghttpGet}. */
export interface NghttpOptions {
  /**
   * `-H ':authority: VALUE'` on every request. nghttp has no --resolve: it connects to the URL's
   * host, and with this override it also sends that name (without the port) as SNI. So:
   * `https://127.0.0.1:PORT/x` with `authority: "a.test:PORT"`.
   */
  authority?: string;
  /** More request header fields, `"name: value"` each (`-H`). */
  headers?: string[];
  /** More nghttp arguments, e.g. `["-d", FILE]` (POST the file). */
  extra?: string[];
  timeoutMs?: number;
}

/** One URL's stream, as {@link nghttpGet} read it from `nghttp -v`. */
export interface NghttpResponse {
  url: string;
  /** Which connection (0, 1, …): nghttp opens one per scheme, host and port, in turn. */
  connection: number;
  /** null: no stream was opened for this URL. */
  streamId: number | null;
  /** null: no final response head arrived. */
  status: number | null;
  headers: HeaderLists;
  /** The exact bytes (a Buffer, as from node:http2: a download's hash can be checked). */
  body: Buffer;
  trailers: HeaderLists;
  /** Why the stream did not complete: `RST_STREAM CODE`, "no response"; null when it did. */
  error: string | null;
}

/** What {@link nghttpGet} saw. */
export interface NghttpResult {
  /** nghttp's exit code; 0 even when requests failed (nghttp 1.52), see `responses[].error`. */
  code: number;
  /** The ALPN protocol of each TLS connection, in order ("The negotiated protocol:"). */
  negotiated: string[];
  responses: NghttpResponse[];
  /** nghttp's `[ERROR]` lines (stdout and stderr), e.g. a peer that does not speak HTTP/2. */
  errors: string[];
  /** The whole `-v` output, for failure messages. */
  stdout: string;
  stderr: string;
}

/** A request as nghttp sent it (its `send HEADERS` frame), and what came back on its stream. */
interface SentStream {
  connection: number;
  streamId: number;
  scheme: string;
  authority: string;
  path: string;
  stream: StreamState;
}

/** One stream while parsing: the header block being received, the head, trailers, body. */
interface StreamState {
  block: [string, string][];
  head: [string, string][] | null;
  trailers: [string, string][];
  /** Body bytes, one character per byte (latin1). */
  body: string;
  ended: boolean;
  reset: string | null;
}

/** What the frame log says, before it is matched with the URLs. */
interface NghttpLog {
  sent: SentStream[];
  negotiated: string[];
  errors: string[];
}

function lists(fields: [string, string][]): HeaderLists {
  const out: HeaderLists = {};
  for (const [k, v] of fields) (out[k] ??= []).push(v);
  return out;
}

// A debug line of `nghttp -v` with its indented continuation lines, and where one may start.
const NGHTTP_LINE = /\[ *\d+\.\d+\] ([^\n]*)\n((?: {10}[^\n]*\n)*)/y;
const NGHTTP_STAMP = /\[ *\d+\.\d+\] /g;

/**
 * Parses `nghttp -v` stdout, read as latin1 (one character per byte). nghttp writes response
 * bodies to the same stdout as they arrive, so a DATA frame's bytes come before its "recv DATA
 * frame <length=N>" line; its length (less padding) says how many. They are not always in one
 * piece: nghttp sends WINDOW_UPDATEs between two reads of one frame, and logs them there.
 */
function parseNghttp(text: string): NghttpLog {
  const log: NghttpLog = { sent: [], negotiated: [], errors: [] };
  let streams = new Map<number, StreamState>();
  let connection = -1;
  const stream = (id: number): StreamState => {
    let s = streams.get(id);
    if (s === undefined) {
      s = { block: [], head: null, trailers: [], body: "", ended: false, reset: null };
      streams.set(id, s);
    }
    return s;
  };
  // Text outside debug lines since the last received frame: a DATA frame's bytes so far, or
  // nghttp's own messages ("The negotiated protocol: h2").
  let pending = "";
  const flush = (text: string) => {
    for (const l of text.split("\n").map((x) => x.trim()).filter((x) => x !== "")) {
      const proto = /^The negotiated protocol: (\S+)$/.exec(l);
      if (proto !== null) log.negotiated.push(proto[1]);
      else log.errors.push(l);
    }
  };
  let pos = 0;
  while (pos < text.length) {
    NGHTTP_LINE.lastIndex = pos;
    const line = NGHTTP_LINE.exec(text);
    if (line === null) {
      // Up to the next debug line.
      let end = text.length;
      NGHTTP_STAMP.lastIndex = pos + 1;
      for (let m; (m = NGHTTP_STAMP.exec(text)) !== null;) {
        NGHTTP_LINE.lastIndex = m.index;
        if (NGHTTP_LINE.test(text)) {
          end = m.index;
          break;
        }
      }
      pending += text.slice(pos, end);
      pos = end;
      continue;
    }
    pos = NGHTTP_LINE.lastIndex;
    const [, head, more] = line;
    let m: RegExpExecArray | null;
    if ((m = /^send HEADERS frame <[^>]*stream_id=(\d+)>$/.exec(head)) !== null) {
      const field = (name: string) => new RegExp(`^ {10}${name}: (.*)$`, "m").exec(more)?.[1] ?? "";
      log.sent.push({
        connection,
        streamId: Number(m[1]),
        scheme: field(":scheme"),
        authority: field(":authority"),
        path: field(":path"),
        stream: stream(Number(m[1])),
      });
      continue;
    }
    if (head.startsWith("send ")) continue; // may fall between two pieces of one DATA frame
    if ((m = /^recv DATA frame <length=(\d+), flags=0x([0-9a-f]+), stream_id=(\d+)>$/.exec(head))) {
      const flags = parseInt(m[2], 16);
      // PADDED: "(padlen=N)" follows, N counting the Pad Length byte too.
      const pad = flags & 0x08 ? Number(/\(padlen=(\d+)\)/.exec(more)?.[1] ?? 0) : 0;
      const cut = Math.max(0, pending.length - (Number(m[1]) - pad));
      const s = stream(Number(m[3]));
      s.body += pending.slice(cut);
      if (flags & 0x01) s.ended = true;
      pending = pending.slice(0, cut);
    }
    flush(pending);
    pending = "";
    if (head === "Connected") {
      connection++;
      streams = new Map();
    } else if ((m = /^recv \(stream_id=(\d+)\) (:?[^:]+): (.*)$/.exec(head)) !== null) {
      stream(Number(m[1])).block.push([m[2], m[3]]);
    } else if (
      (m = /^recv HEADERS frame <[^>]*flags=0x([0-9a-f]+), stream_id=(\d+)>$/.exec(head))
    ) {
      const s = stream(Number(m[2]));
      const status = s.block.find(([k]) => k === ":status")?.[1];
      // A block with :status is a head (1xx: interim, dropped); one without, trailers.
      if (status === undefined) s.trailers.push(...s.block);
      else if (!status.startsWith("1")) s.head = s.block;
      s.block = [];
      if (parseInt(m[1], 16) & 0x01) s.ended = true;
    } else if ((m = /^recv RST_STREAM frame <[^>]*stream_id=(\d+)>$/.exec(head)) !== null) {
      stream(Number(m[1])).reset = `RST_STREAM ${/error_code=([^(\s]+)/.exec(more)?.[1] ?? "?"}`;
    } else if (head.startsWith("[ERROR]")) {
      log.errors.push(head);
    }
  }
  flush(pending);
  return log;
}

/** The response on a stream nghttp sent, for `url`. */
function nghttpResponse(url: string, req: SentStream): NghttpResponse {
  const s = req.stream;
  const head = s.head ?? [];
  return {
    url,
    connection: req.connection,
    streamId: req.streamId,
    status: s.head === null ? null : Number(head.find(([k]) => k === ":status")![1]),
    headers: lists(head.filter(([k]) => !k.startsWith(":"))),
    body: Buffer.from(s.body, "latin1"),
    trailers: lists(s.trailers),
    error: s.reset ?? (s.ended ? null : "no response"),
  };
}

/**
 * GETs `urls` with `nghttp -v` (all streams to one scheme://host:port share a connection), and
 * parses each stream's response from the frame log: status, headers, body (its exact bytes, so
 * a body need not end in a newline), trailers, or the RST_STREAM that ended it. An http:// URL
 * is h2c with prior knowledge (nghttp's default; its Upgrade path, `-u`, is not parsed). nghttp
 * does not verify certificates (a failure is only a warning on stderr). A URL is matched with
 * its stream by scheme, :authority and path as `new URL()` normalises them (no `..`, spaces
 * escaped), so give URLs in that form.
 */
export async function nghttpGet(urls: string[], opts: NghttpOptions = {}): Promise<NghttpResult> {
  // identity: nghttp would write a gzip body inflated, and its length would not be the frame's.
  const args = ["-v", "-H", "accept-encoding: identity"];
  if (opts.authority !== undefined) args.push("-H", `:authority: ${opts.authority}`);
  for (const h of opts.headers ?? []) args.push("-H", h);
  args.push(...(opts.extra ?? []), ...urls);
  // Buffers, not exec's strings: a body need not be UTF-8, and its length must stay bytes.
  const { code, stdout, stderr } = await new Promise<
    { code: number; stdout: Buffer; stderr: Buffer }
  >((resolve) => {
    execFile(
      "nghttp",
      args,
      { encoding: "buffer", timeout: opts.timeoutMs ?? 15_000, maxBuffer: 64 << 20 },
      (err, out, errOut) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: out, stderr: errOut });
      },
    );
  });
  const log = parseNghttp(stdout.toString("latin1"));
  const taken = new Set<SentStream>();
  // Each URL takes the first stream nghttp sent for its scheme, :authority and path.
  const responses = urls.map((url): NghttpResponse => {
    const u = new URL(url);
    const authority = opts.authority ?? u.host;
    const req = log.sent.find((x) =>
      !taken.has(x) && x.scheme === u.protocol.slice(0, -1) && x.authority === authority &&
      x.path === u.pathname + u.search
    );
    if (req === undefined) {
      const none = { connection: -1, streamId: null, status: null, error: "not sent" };
      return { url, ...none, headers: {}, body: Buffer.alloc(0), trailers: {} };
    }
    taken.add(req);
    return nghttpResponse(url, req);
  });
  const errText = stderr.toString("utf8");
  const errors = [...log.errors, ...errText.split("\n").filter((l) => l.includes("[ERROR]"))];
  return {
    code,
    negotiated: log.negotiated,
    responses,
    errors,
    stdout: stdout.toString("utf8"),
    stderr: errText,
  };
}

// --- h2load ------------------------------------------------------------------------------------

/** Options for {@link h2load}. */
export interface H2loadOptions {
  /** `-c`: connections. */
  clients: number;
  /** `-m`: concurrent streams per connection. */
  streams: number;
  /** `-n`: requests in all. */
  requests: number;
  /**
   * The URL is http:// and is spoken as h2c with prior knowledge (`-p h2c`, h2load's default for
   * http://, named so a test that means h2c states it; an https:// URL then throws).
   */
  h2c?: boolean;
  /** `--connect-to HOST[:PORT]`: connect there, with SNI and :authority from the URL. */
  connectTo?: string;
  /** More h2load arguments, e.g. `["-H", "x: y"]`, `["--h1"]`. */
  extra?: string[];
  timeoutMs?: number;
}

/** h2load's summary. */
export interface H2loadResult {
  /** h2load's exit code; 0 even when every request failed (nghttp2 1.52). */
  code: number;
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  reqPerSec: number;
  /** `{ "2xx": n, "3xx": n, "4xx": n, "5xx": n }`. */
  statusCounts: Record<string, number>;
  /** "h2", "h2c", "http/1.1"; null when no connection got that far. */
  protocol: string | null;
  /** "TLSv1.3", …; null for cleartext or no handshake. */
  tlsProtocol: string | null;
  stdout: string;
  stderr: string;
}

/** Runs h2load and parses its summary; throws (with the output) when it printed none. */
export async function h2load(url: string, opts: H2loadOptions): Promise<H2loadResult> {
  if (opts.h2c && !url.startsWith("http://")) {
    throw new Error(`h2load: h2c needs http://, not ${url}`);
  }
  const args = [
    "-c",
    String(opts.clients),
    "-m",
    String(opts.streams),
    "-n",
    String(opts.requests),
  ];
  if (opts.h2c) args.push("-p", "h2c");
  if (opts.connectTo !== undefined) args.push("--connect-to", opts.connectTo);
  args.push(...(opts.extra ?? []), url);
  const r = await exec("h2load", args, opts.timeoutMs ?? 30_000);
  const reqs =
    /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/
      .exec(r.stdout);
  const rate = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(r.stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(r.stdout);
  if (reqs === null || rate === null || codes === null) {
    throw new Error(`h2load printed no summary (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return {
    code: r.code,
    total: Number(reqs[1]),
    done: Number(reqs[2]),
    succeeded: Number(reqs[3]),
    failed: Number(reqs[4]),
    errored: Number(reqs[5]),
    timeout: Number(reqs[6]),
    reqPerSec: Number(rate[1]),
    statusCounts: { "2xx": +codes[1], "3xx": +codes[2], "4xx": +codes[3], "5xx": +codes[4] },
    protocol: /^Application protocol: (\S+)$/m.exec(r.stdout)?.[1] ?? null,
    tlsProtocol: /^TLS Protocol: (\S+)$/m.exec(r.stdout)?.[1] ?? null,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}

// --- node:http2 --------------------------------------------------------------------------------

/** One request for {@link h2Requests}. */
export interface H2Request {
  authority: string;
  path: string;
  /** Default GET. */
  method?: string;
  body?: string | Uint8Array;
  headers?: Record<string, string | string[]>;
}

/** One response of {@link h2Requests}. */
export interface H2Response {
  /** 0 when the stream failed before a response head. */
  status: number;
  /** As node:http2 gives them, `:status` included. */
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
  /** The stream's error (e.g. "… NGHTTP2_REFUSED_STREAM"); null when it completed. */
  error: string | null;
}

/** Options for {@link h2Requests}. */
export interface H2RequestsOptions {
  /** PEM text of the CA to trust (TLS). */
  ca?: string;
  /** SNI and the name the certificate must carry (the URL's host when not given). */
  servername?: string;
  timeoutMs?: number;
}

/** One stream on `session`: its response, trailers and body, or the error that ended it. */
function h2Stream(session: http2.ClientHttp2Session, r: H2Request): Promise<H2Response> {
  return new Promise((resolve) => {
    const stream = session.request(
      { ...r.headers, ":method": r.method ?? "GET", ":path": r.path, ":authority": r.authority },
      { endStream: r.body === undefined },
    );
    const res: H2Response = {
      status: 0,
      headers: {},
      body: Buffer.alloc(0),
      trailers: {},
      error: null,
    };
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      res.headers = h;
      res.status = Number(h[":status"]);
    });
    stream.on("trailers", (t) => (res.trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(Buffer.from(c)));
    stream.on("end", () => resolve({ ...res, body: Buffer.concat(chunks) }));
    stream.on(
      "error",
      (e: Error) => resolve({ ...res, body: Buffer.concat(chunks), error: e.message }),
    );
    if (r.body !== undefined) stream.end(r.body);
  });
}

/**
 * Sends every request on ONE node:http2 session to `connectUrl` (`https://127.0.0.1:PORT` with
 * `servername`, or `http://…` for h2c with prior knowledge), all at once, each with its own
 * :authority; resolves with the responses in order once all ended and the session closed.
 * Rejects when the session fails (refused, TLS error, no ALPN h2, GOAWAY with an error) or
 * within `timeoutMs` (default 10 s). A stream's own failure is its response's `error`.
 */
export function h2Requests(
  connectUrl: string,
  requests: H2Request[],
  opts: H2RequestsOptions = {},
): Promise<H2Response[]> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const session = http2.connect(connectUrl, { ca: opts.ca, servername: opts.servername });
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new Error(`h2Requests: no answers from ${connectUrl} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    session.on("error", fail);
    session.on("close", () => fail(new Error(`h2Requests: ${connectUrl} closed the session`)));
    // Opened only once the server's SETTINGS are in: Bun 1.4.5 emits "connect" before it
    // applied them, and streams opened then all go out at once, ignoring the server's
    // SETTINGS_MAX_CONCURRENT_STREAMS (those past it get REFUSED_STREAM from nginx); after
    // "remoteSettings" it queues them. Deno emits "remoteSettings" before "connect".
    session.once("remoteSettings", async () => {
      const responses = await Promise.all(requests.map((r) => h2Stream(session, r)));
      session.removeAllListeners("close");
      session.close(() => {
        clearTimeout(timer);
        resolve(responses);
      });
    });
  });
}

// --- Chromium ----------------------------------------------------------------------------------

/** Options for {@link chromiumNextHop}. */
export interface ChromiumOptions {
  /** `--host-resolver-rules`, e.g. `"MAP a.test 127.0.0.1"` (the URL's port is kept). */
  hostResolverRules: string;
  /**
   * The server's certificate (PEM file): accepted by its public key
   * (`--ignore-certificate-errors-spki-list`), so another certificate fails the load. Without
   * it, any certificate is accepted (`--ignore-certificate-errors`).
   */
  caFile?: string;
  timeoutMs?: number;
}

/** What {@link chromiumNextHop} found. */
export interface ChromiumResult {
  /** The navigation's `nextHopProtocol` ("h2", "http/1.1"); null with `reason`. */
  protocol: string | null;
  /** Why there is no protocol: no chromium, a failed load (net::ERR_…), a timeout. */
  reason: string | null;
  /** How long the run took, start to exit. */
  ms: number;
}

/** The first `name` on PATH, like `which`. */
function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/**
 * Whether a live process is left in process group `pgid` (Linux /proc). Zombies do not count:
 * whoever adopted them reaps them in its own time (here, up to a second later).
 */
function groupAlive(pgid: number): boolean {
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "latin1");
      // After "(comm) ": state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state !== "Z" && Number(pgrp) === pgid) return true;
    } catch {
      // exited meanwhile
    }
  }
  return false;
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's SPKI list wants it. */
function spkiHash(pemFile: string): string {
  const spki = new X509Certificate(readFileSync(pemFile)).publicKey.export({
    type: "spki",
    format: "der",
  });
  return createHash("sha256").update(spki).digest("base64");
}

/** A minimal DevTools-protocol client over one page target's WebSocket. */
async function devtools(wsUrl: string) {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`DevTools: cannot connect to ${wsUrl}`));
  });
  let next = 1;
  const waiting = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  ws.onmessage = (ev) => {
    const m = JSON.parse(String(ev.data));
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  };
  return {
    call<T>(method: string, params: Record<string, unknown>): Promise<T> {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) =>
        waiting.set(
          id,
          (m) => m.error ? reject(new Error(m.error.message)) : resolve(m.result as T),
        )
      );
    },
    close: () => ws.close(),
  };
}

// Resolves at the load event, with the protocol of the page's own navigation.
const NEXT_HOP = `new Promise((resolve) => {
  const done = () => resolve(performance.getEntriesByType("navigation")[0]?.nextHopProtocol ?? "");
  if (document.readyState === "complete") done(); else addEventListener("load", done);
})`;

/**
 * Loads `url` in headless Chromium (`--headless --no-sandbox --disable-gpu`, a fresh profile,
 * `--host-resolver-rules`) and reads the navigation's `nextHopProtocol` over the DevTools
 * protocol (`--remote-debugging-port`), so any page works, not only one that reports it
 * itself. Resolves with `protocol: null` and a reason when there is no `chromium` on PATH or
 * the page does not load. A run takes about 1–3 s.
 */
export async function chromiumNextHop(url: string, opts: ChromiumOptions): Promise<ChromiumResult> {
  const start = Date.now();
  const bin = which("chromium");
  if (bin === null) {
    return { protocol: null, reason: "no chromium on PATH (apt-get install chromium)", ms: 0 };
  }
  const profile = mkdtempSync(join(tmpdir(), "switchyard-chromium-"));
  // detached: a process group of its own, which the zygote, GPU, network and renderer processes
  // it forks join; they outlive the browser process by up to ~100 ms.
  const child = spawn(bin, [
    "--headless",
    "--no-sandbox", // as root, and in containers without user namespaces
    "--disable-gpu",
    "--no-first-run",
    `--user-data-dir=${profile}`,
    "--remote-debugging-port=0",
    `--host-resolver-rules=${opts.hostResolverRules}`,
    opts.caFile === undefined
      ? "--ignore-certificate-errors"
      : `--ignore-certificate-errors-spki-list=${spkiHash(opts.caFile)}`,
    "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  const exited = new Promise<void>((resolve) => {
    child.on("close", () => resolve());
    child.on("error", () => resolve());
  });
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  const [protocol, reason] = await Promise.race([timeout, readNextHop(child, exited, url)])
    .catch((e: Error): [null, string] => [null, e.message]);
  clearTimeout(timer);
  // SIGTERM: the browser process stops the others itself; wait until they are gone (their
  // group is the browser's pid), and kill those left after 5 s.
  child.kill("SIGTERM");
  await exited;
  const deadline = Date.now() + 5_000;
  while (groupAlive(child.pid!)) {
    if (Date.now() > deadline) {
      process.kill(-child.pid!, "SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  rmSync(profile, { recursive: true, force: true });
  return { protocol, reason, ms: Date.now() - start };
}

/** Navigates the running Chromium's page to `url`: [nextHopProtocol, null] or [null, why]. */
async function readNextHop(
  child: ChildProcess,
  exited: Promise<void>,
  url: string,
): Promise<[string, null] | [null, string]> {
  // Chromium says where DevTools listens (port 0: its pick) on stderr.
  let stderr = "";
  const port = await Promise.race([
    exited.then(() => {
      throw new Error(`chromium exited: ${stderr.slice(-500)}`);
    }),
    new Promise<string>((resolve) => {
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (s: string) => {
        stderr += s;
        const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(stderr);
        if (m) resolve(m[1]);
      });
    }),
  ]);
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const page = targets.find((t) => t.type === "page");
  if (page === undefined) return [null, "chromium has no page target"];
  const dt = await devtools(page.webSocketDebuggerUrl);
  try {
    const nav = await dt.call<{ errorText?: string }>("Page.navigate", { url });
    if (nav.errorText) return [null, `chromium could not load ${url}: ${nav.errorText}`];
    const ev = await dt.call<{ result: { value?: string } }>("Runtime.evaluate", {
      expression: NEXT_HOP,
      awaitPromise: true,
      returnByValue: true,
    });
    return ev.result.value ? [ev.result.value, null] : [null, "no navigation entry"];
  } finally {
    dt.close();
  }
}
