/**
 * Access and event logs. Access records (one per connection or request) go to stdout as JSON
 * lines (or text with --log-format text); events (start-up, errors, refusals without a
 * connection) go to stderr the same way. Events are written at the end of the turn of the
 * event loop that made them. Access lines wait for company, up to ACCESS_WAIT_MS or until
 * ACCESS_BATCH_CHARS of them wait: a write call costs 5-9 us here, and at 30,000 requests a
 * second a batch per turn was about ten lines (Deno: 2.6 -> 0.9 us a line in batches of a
 * hundred; Bun 1.2 -> 0.8). `flush()` writes what waits (the server calls it before exiting).
 *
 * @module
 */

import process from "node:process";
import type { Outcome } from "./access.ts";
import { writeStdout } from "./stdout.ts";

/** What a session says of a connection or request; see accessRecord() for the rest. */
export interface AccessFields {
  sni?: string | null;
  host?: string | null;
  route: number | null;
  backend: string | null;
  server: string | null;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  reason?: string;
  /** Extra fields, e.g. the HTTP status or method. */
  [key: string]: unknown;
}

/** One access log record, with the contract's fields. */
export interface AccessRecord extends AccessFields {
  listener: string;
  client: string;
  /** Where the client connected (the original destination on a transparent listener). */
  dst: string;
  outcome: Outcome;
}

/** Output format. */
export type LogFormat = "json" | "text";

type Sink = (text: string) => void;

/** The longest an access line waits to be written. */
const ACCESS_WAIT_MS = 20;
/** Access lines are written as soon as this much text waits (about a hundred lines). */
const ACCESS_BATCH_CHARS = 32 * 1024;

/** Writes batched log lines. */
export class Logger {
  #out: string[] = [];
  #outChars = 0;
  #outTimer: ReturnType<typeof setTimeout> | null = null;
  #err: string[] = [];
  #scheduled = false;
  #fields: Record<string, unknown>;
  /** `#fields` as JSON members, each with a leading comma ("" when there are none). */
  #fieldsJson: string;
  #timeMs = 0;
  #timeText = "";

  /**
   * `accessOn` false (`run --access-log off`): access records are dropped; sessions read it to
   * skip building them. Events are always written.
   */
  constructor(
    readonly format: LogFormat = "json",
    fields: Record<string, unknown> = {},
    readonly stdout: Sink = writeStdout,
    readonly stderr: Sink = (t) => process.stderr.write(t),
    readonly accessOn = true,
  ) {
    this.#fields = fields;
    const json = JSON.stringify(fields);
    this.#fieldsJson = json === "{}" ? "" : `,${json.slice(1, -1)}`;
  }

  /** Logs one connection or request. */
  access(rec: AccessRecord): void {
    if (!this.accessOn) return;
    if (this.format === "json") {
      // The same line as #line would write, without copying the record into a new object
      // (one per request): the time and the fixed fields are spliced in as text.
      const body = JSON.stringify(rec);
      this.#queue(`{"time":"${this.#time()}"${this.#fieldsJson},${body.slice(1)}\n`);
    } else this.#queue(this.#line({ time: this.#time(), ...this.#fields, ...rec }));
  }

  #queue(line: string): void {
    this.#out.push(line);
    this.#outChars += line.length;
    if (this.#outChars >= ACCESS_BATCH_CHARS) this.#flushOut();
    else this.#outTimer ??= setTimeout(() => this.#flushOut(), ACCESS_WAIT_MS);
  }

  #flushOut(): void {
    if (this.#outTimer !== null) {
      clearTimeout(this.#outTimer);
      this.#outTimer = null;
    }
    if (this.#out.length === 0) return;
    const text = this.#out.join("");
    this.#out = [];
    this.#outChars = 0;
    this.stdout(text);
  }

  /** The current time as ISO 8601, formatted once per millisecond however many lines share it. */
  #time(): string {
    const now = Date.now();
    if (now !== this.#timeMs) {
      this.#timeMs = now;
      this.#timeText = new Date(now).toISOString();
    }
    return this.#timeText;
  }

  /** Logs an operational event. */
  event(level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}): void {
    const rec = { time: new Date().toISOString(), level, msg, ...this.#fields, ...fields };
    this.#err.push(this.#line(rec));
    this.#schedule();
  }

  /** Writes everything pending now (before exit). */
  flush(): void {
    this.#scheduled = false;
    this.#flushOut();
    if (this.#err.length > 0) {
      this.stderr(this.#err.join(""));
      this.#err = [];
    }
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate: after this turn's I/O callbacks, so their lines share the write. Not
    // setTimeout(0), which costs about 4 us on Deno (0.7 for setImmediate).
    setImmediate(() => this.flush());
  }

  #line(rec: Record<string, unknown>): string {
    if (this.format === "json") return JSON.stringify(rec) + "\n";
    const { time, msg, level, ...rest } = rec;
    const head = [time, level, msg].filter((x) => x !== undefined).join(" ");
    const tail = Object.entries(rest)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    return `${head} ${tail}\n`;
  }
}
