/**
 * Checking certificate files: parsing reads none; with `checkFiles` (and in loadConfigFile)
 * each complete `certificates:` entry must be readable PEM whose key belongs to the
 * certificate, and its problems sort among the others as if found where the entry is.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatProblem, loadConfigFile, parseConfig } from "../../src/config/load.ts";
import type { ConfigProblem } from "../../src/config/types.ts";
import { checkCertificateFiles } from "../../src/tls/check_files.ts";
import { selfSigned } from "../helpers/certs.ts";
import { BASE, yaml } from "./problems.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CERT = join(ROOT, "test/fixtures/config/certs/fullchain.pem");
const KEY = join(ROOT, "test/fixtures/config/certs/key.pem");
const DIR = mkdtempSync(join(tmpdir(), "switchyard-certfiles-"));
const FILE = join(DIR, "t.yaml");

/**
 * `problems` formatted, without the reason the runtime gives for an unreadable or unparseable
 * file (its wording is the runtime's, not ours).
 */
function formatted(problems: readonly ConfigProblem[]): string[] {
  return problems.map((p) =>
    formatProblem(p).replace(/^(.*(?:cannot read \w+ "[^"]*"|is not a PEM [\w ]+)): .*$/, "$1")
  );
}

/** Every problem of `text` read as FILE, with the files checked. */
function checkFiles(text: string): string[] {
  return formatted(parseConfig(text, FILE, { checkFiles: true }).problems);
}

/** BASE with one certificate entry written as `entry`. */
function withPair(entry: string): string {
  return yaml("certificates:", `  - ${entry}`, ...BASE);
}

test("parsing alone reads no certificate files", () => {
  const { config, problems } = parseConfig(withPair("{ cert: a.pem, key: a.key }"), FILE);
  assert.deepEqual(problems, []);
  assert.equal(config?.certificates[0].cert, join(DIR, "a.pem"));
});

test("a usable pair is no problem", () => {
  const { config, problems } = parseConfig(withPair(`{ cert: ${CERT}, key: ${KEY} }`), FILE, {
    checkFiles: true,
  });
  assert.deepEqual(problems, []);
  assert.ok(config);
});

test("an unreadable certificate or key is an error at its entry", () => {
  assert.deepEqual(checkFiles(withPair(`{ cert: a.pem, key: ${KEY} }`)), [
    `${FILE}:2:5: certificates[0]: cannot read certificate "${join(DIR, "a.pem")}"`,
  ]);
  assert.deepEqual(checkFiles(withPair(`{ cert: ${CERT}, key: a.key }`)), [
    `${FILE}:2:5: certificates[0]: cannot read key "${join(DIR, "a.key")}"`,
  ]);
});

test("a file that is not PEM is an error naming it", () => {
  writeFileSync(FILE, "not pem\n");
  assert.deepEqual(checkFiles(withPair(`{ cert: t.yaml, key: ${KEY} }`)), [
    `${FILE}:2:5: certificates[0]: "${FILE}" is not a PEM certificate`,
  ]);
  assert.deepEqual(checkFiles(withPair(`{ cert: ${CERT}, key: t.yaml }`)), [
    `${FILE}:2:5: certificates[0]: "${FILE}" is not a PEM private key`,
  ]);
});

test("a key that does not belong to the certificate is an error", () => {
  const other = selfSigned(["other.example.com"]);
  const { config, problems } = parseConfig(
    withPair(`{ cert: ${CERT}, key: ${other.keyFile} }`),
    FILE,
    { checkFiles: true },
  );
  assert.equal(config, null);
  assert.deepEqual(formatted(problems), [
    `${FILE}:2:5: certificates[0]: key "${other.keyFile}" does not belong to certificate "${CERT}"`,
  ]);
});

test("an expired certificate is a warning (it still loads)", () => {
  const site = { file: "t.yaml", line: 2, col: 5, path: "certificates[0]" };
  const pair = { cert: CERT, key: KEY };
  assert.equal(checkCertificateFiles(pair, site), null);
  assert.deepEqual(checkCertificateFiles(pair, site, new Date("2200-01-01T00:00:00Z")), {
    ...site,
    message: `certificate "${CERT}" expired on 2126-11-02T16:43:58.000Z`,
    severity: "warning",
  });
});

test("file problems sort by position among the others; an incomplete entry is not checked", () => {
  const text = yaml(
    "workers: 0",
    "certificates:",
    "  - { cert: c.pem }",
    "  - { cert: /nonexistent/c.pem, key: /nonexistent/k.pem }",
    ...BASE.slice(0, 5),
    "      - { host: a.example.com, to: ap }",
    ...BASE.slice(6),
  );
  assert.deepEqual(checkFiles(text), [
    `${FILE}:1:10: workers: expected a whole number from 1 to 1024, got 0`,
    `${FILE}:3:5: certificates[0]: certificate needs "key": a PEM file`,
    `${FILE}:4:5: certificates[1]: cannot read certificate "/nonexistent/c.pem"`,
    `${FILE}:10:36: listeners.web.routes[0].to: unknown backend "ap" (did you mean "app"?)`,
  ]);
});

test("a file problem comes before later problems at the same position (an alias)", () => {
  const text = yaml(
    "certificates:",
    "  - &pair",
    "    cert: /nonexistent/c.pem",
    "    key: /nonexistent/k.pem",
    ...BASE,
    "  other: *pair",
  );
  assert.deepEqual(checkFiles(text), [
    `${FILE}:3:5: certificates[0]: cannot read certificate "/nonexistent/c.pem"`,
    `${FILE}:3:5: backends.other: unknown key "cert"`,
    `${FILE}:4:5: backends.other: unknown key "key"`,
    `${FILE}:14:3: backends.other: backend "other" needs "servers"`,
  ]);
});

test("loadConfigFile checks the certificate files", () => {
  const file = join(DIR, "load.yaml");
  const text = withPair(`{ cert: ${CERT}, key: a.key }`);
  writeFileSync(file, text);
  const { config, problems, source } = loadConfigFile(file);
  assert.equal(config, null);
  assert.equal(source, text);
  assert.deepEqual(formatted(problems), [
    `${file}:2:5: certificates[0]: cannot read key "${join(DIR, "a.key")}"`,
  ]);
});
