/**
 * ACME configuration: the `acme:` block and its defaults, `- acme: [names]` certificate
 * entries, the warning when no listener can answer a challenge, and the storage and CA checks
 * of the file pass. Each problem with its exact FILE:LINE:COL, key path and message.
 */

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { checkStorage } from "../../src/config/check_acme.ts";
import { formatProblem, loadConfigFile, parseConfig } from "../../src/config/load.ts";
import type { Config, ConfigProblem } from "../../src/config/types.ts";
import { BASE, check, yaml } from "./problems.ts";

const LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";
const STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
const FIX = "set acme.storage to a folder Switchyard can write to";
const NO_LISTENER = "no listener can answer ACME challenges, so no certificate can be obtained";

/** BASE after a `certificates:` list of `entries`, one a line from line 2. */
function withCerts(...entries: string[]): string {
  return yaml("certificates:", ...entries.map((e) => `  - ${e}`), ...BASE);
}

/** An `acme:` block of `lines` (from line 2), one acme certificate (line N+3), then BASE. */
function withBlock(...lines: string[]): string {
  return yaml("acme:", ...lines, "certificates:", "  - acme: a.example.com", ...BASE);
}

/** `lines` as the listeners (from line 2), then BASE's backends. */
function withListeners(...lines: string[]): string[] {
  return ["listeners:", ...lines, ...BASE.slice(6)];
}

/** The config of `text` read as /etc/switchyard/t.yaml, which must have no problems. */
function parse(text: string): Config {
  const { config, problems } = parseConfig(text, "/etc/switchyard/t.yaml");
  assert.deepEqual(problems.map(formatProblem), []);
  assert.ok(config);
  return config;
}

test("an acme entry alone turns ACME on with every default", () => {
  const config = parse(withCerts("acme: [App.Example.COM., www.example.com]"));
  assert.deepEqual(config.certificates, []);
  assert.deepEqual(config.acme, {
    email: null,
    directory: LETSENCRYPT,
    ca: null,
    storage: "/etc/switchyard/switchyard-data",
    challenges: ["http-01", "tls-alpn-01"],
    renewBeforeMs: null,
    certificates: [{ names: ["app.example.com", "www.example.com"] }],
  });
  assert.ok(Object.isFrozen(config.acme?.certificates[0].names));
});

test("no acme block and no acme entry: acme is null", () => {
  assert.equal(parse(yaml(...BASE)).acme, null);
  assert.equal(parse(withCerts("{ cert: c.pem, key: k.pem }")).acme, null);
});

test("every acme setting, beside file certificates and one name as a single value", () => {
  const config = parse(yaml(
    "acme:",
    "  email: ops@example.com",
    "  directory: letsencrypt-staging",
    "  ca: certs/pebble.pem",
    "  storage: data",
    "  challenges: tls-alpn-01",
    "  renew_before: 7d12h",
    "certificates:",
    "  - { cert: a.pem, key: a.key }",
    "  - acme: app.example.com",
    "  - acme: [b.example.com]",
    ...BASE.slice(0, 6),
    "  secure:",
    '    bind: ":443"',
    "    protocol: tls",
    "    terminate: web",
    ...BASE.slice(6),
  ));
  assert.deepEqual(config.certificates, [{
    cert: "/etc/switchyard/a.pem",
    key: "/etc/switchyard/a.key",
  }]);
  assert.deepEqual(config.acme, {
    email: "ops@example.com",
    directory: STAGING,
    ca: "/etc/switchyard/certs/pebble.pem",
    storage: "/etc/switchyard/data",
    challenges: ["tls-alpn-01"],
    renewBeforeMs: 648_000_000,
    certificates: [{ names: ["app.example.com"] }, { names: ["b.example.com"] }],
  });
});

test("directory: letsencrypt by name, or an https URL as written; storage: an absolute path", () => {
  const acme = (...lines: string[]) => parse(withBlock(...lines)).acme;
  assert.equal(acme("  directory: letsencrypt")?.directory, LETSENCRYPT);
  assert.equal(
    acme("  directory: https://localhost:14000/dir")?.directory,
    "https://localhost:14000/dir",
  );
  assert.equal(acme("  storage: /var/lib/switchyard")?.storage, "/var/lib/switchyard");
  assert.deepEqual(acme("  challenges: [tls-alpn-01, http-01]")?.challenges, [
    "tls-alpn-01",
    "http-01",
  ]);
  assert.equal(acme("  renew_before: 30d")?.renewBeforeMs, 2_592_000_000);
});

test("an acme block with no acme certificate is a warning: nothing to obtain", () => {
  const warning =
    't.yaml:1:1: warning: acme: nothing to obtain: no certificate entry has "acme"; add one under "certificates", e.g. - acme: [app.example.com]';
  assert.deepEqual(check(yaml("acme: { email: ops@example.com }", ...BASE)), [warning]);
  assert.deepEqual(check(yaml("acme:", ...BASE)), [warning]);
  const { config } = parseConfig(yaml("acme:", ...BASE), "/etc/switchyard/t.yaml");
  assert.deepEqual(config?.acme?.certificates, []);
  assert.equal(config?.acme?.storage, "/etc/switchyard/switchyard-data");
});

test("unknown acme keys, with suggestions (Traefik's caServer is directory)", () => {
  assert.deepEqual(check(withBlock("  emial: ops@example.com", "  caServer: https://x.test/")), [
    't.yaml:2:3: acme: unknown key "emial" (did you mean "email"?)',
    't.yaml:3:3: acme: unknown key "caServer" (did you mean "directory"?)',
  ]);
  assert.deepEqual(check(yaml("acme: true", ...BASE)), [
    't.yaml:1:1: warning: acme: nothing to obtain: no certificate entry has "acme"; add one under "certificates", e.g. - acme: [app.example.com]',
    "t.yaml:1:7: acme: expected a map, got true",
  ]);
  assert.deepEqual(check(yaml("letsencrypt: {}", ...BASE)), [
    't.yaml:1:1: unknown key "letsencrypt" (did you mean "acme"?)',
  ]);
});

test("email: one @ and no spaces, without mailto:", () => {
  assert.deepEqual(check(withBlock("  email: ops at example.com")), [
    't.yaml:2:10: acme.email: bad email "ops at example.com": write an address such as "ops@example.com"',
  ]);
  assert.deepEqual(check(withBlock("  email: ops@mail@example.com")), [
    't.yaml:2:10: acme.email: bad email "ops@mail@example.com": write an address such as "ops@example.com"',
  ]);
  assert.deepEqual(check(withBlock("  email: mailto:ops@example.com")), [
    't.yaml:2:10: acme.email: email "mailto:ops@example.com": write the address alone, e.g. "ops@example.com"',
  ]);
});

test("directory: letsencrypt, letsencrypt-staging or an https URL", () => {
  assert.deepEqual(check(withBlock("  directory: letsencrpyt")), [
    't.yaml:2:14: acme.directory: unknown directory "letsencrpyt" (did you mean "letsencrypt"?)',
  ]);
  assert.deepEqual(check(withBlock("  directory: pebble")), [
    't.yaml:2:14: acme.directory: unknown directory "pebble" (expected letsencrypt, letsencrypt-staging or an https:// URL)',
  ]);
  for (const url of ["http://localhost:14000/dir", "https://"]) {
    assert.deepEqual(check(withBlock(`  directory: ${url}`)), [
      `t.yaml:2:14: acme.directory: bad directory "${url}": expected letsencrypt, letsencrypt-staging or an https:// URL, e.g. "https://acme.example.com/directory"`,
    ]);
  }
});

test("ca is a file, not the directory URL", () => {
  assert.deepEqual(check(withBlock("  ca: https://acme.example.com/directory")), [
    `t.yaml:2:7: acme.ca: ca "https://acme.example.com/directory" is a URL; ca is a PEM file to trust for the directory's TLS: put the URL in "directory"`,
  ]);
});

test("challenges: http-01 and tls-alpn-01, each once, never empty; dns-01 is out of scope", () => {
  const dns =
    "DNS-01 is out of scope: Switchyard answers challenges itself and edits no DNS; use http-01 or tls-alpn-01";
  assert.deepEqual(check(withBlock("  challenges: [dns-01]")), [
    `t.yaml:2:16: acme.challenges[0]: "dns-01": ${dns}`,
  ]);
  assert.deepEqual(check(withBlock("  challenges: DNS-01")), [
    `t.yaml:2:15: acme.challenges: "DNS-01": ${dns}`,
  ]);
  assert.deepEqual(check(withBlock("  challenges: []")), [
    "t.yaml:2:15: acme.challenges: challenges must not be empty",
  ]);
  assert.deepEqual(check(withBlock("  challenges: [http-01, http-01]")), [
    't.yaml:2:25: acme.challenges[1]: duplicate challenge "http-01": list each once',
  ]);
  assert.deepEqual(check(withBlock("  challenges: [http, tls, acme]")), [
    't.yaml:2:16: acme.challenges[0]: unknown challenge "http" (did you mean "http-01"?)',
    't.yaml:2:22: acme.challenges[1]: unknown challenge "tls" (did you mean "tls-alpn-01"?)',
    't.yaml:2:27: acme.challenges[2]: unknown challenge "acme" (expected http-01 or tls-alpn-01)',
  ]);
});

test("renew_before: a duration that may be in days, longer than 0; days only there", () => {
  assert.deepEqual(check(withBlock("  renew_before: 30")), [
    't.yaml:2:17: acme.renew_before: duration 30 needs a unit, e.g. "30d" or "30h"',
  ]);
  assert.deepEqual(check(withBlock("  renew_before: a month")), [
    't.yaml:2:17: acme.renew_before: bad duration "a month": write e.g. "30d", "7d12h" or "72h"',
  ]);
  assert.deepEqual(check(withBlock("  renew_before: 0d")), [
    't.yaml:2:17: acme.renew_before: renew_before must be longer than 0, got "0d"',
  ]);
  assert.deepEqual(check(yaml(...BASE, "defaults: { idle_timeout: 1d }")), [
    't.yaml:10:27: defaults.idle_timeout: bad duration "1d": write e.g. "5s", "250ms", "1m30s" or "2h"',
  ]);
});

test("acme names: DNS names only; wildcards need DNS-01, so each name is listed", () => {
  const names =
    '["*.example.com", 192.0.2.1, "[2001:db8::1]", a_b.example.com, "a.example.com:443"]';
  const ip =
    'is an IP address: Switchyard obtains certificates for DNS names, e.g. "app.example.com"';
  const dns = 'expected a DNS name, e.g. "app.example.com"';
  assert.deepEqual(check(withCerts(`acme: ${names}`)), [
    't.yaml:2:12: certificates[0].acme[0]: "*.example.com": wildcard certificates need the DNS-01 challenge, which Switchyard does not do: list each name',
    `t.yaml:2:29: certificates[0].acme[1]: "192.0.2.1" ${ip}`,
    `t.yaml:2:40: certificates[0].acme[2]: "[2001:db8::1]" ${ip}`,
    `t.yaml:2:57: certificates[0].acme[3]: bad name "a_b.example.com": ${dns}`,
    `t.yaml:2:74: certificates[0].acme[4]: bad name "a.example.com:443": ${dns}`,
  ]);
  assert.deepEqual(check(withCerts("acme: []")), [
    "t.yaml:2:11: certificates[0].acme: acme must not be empty",
  ]);
});

test("a name belongs to one acme certificate, however it is spelled", () => {
  const text = withCerts(
    "acme: [a.example.com, www.example.com]",
    "acme: [WWW.Example.com.]",
    "acme: [b.example.com, b.example.com]",
  );
  assert.deepEqual(check(text), [
    't.yaml:3:12: certificates[1].acme[0]: "WWW.Example.com." is already listed at certificates[0].acme[1] (line 2): list each name once',
    't.yaml:4:27: certificates[2].acme[1]: "b.example.com" is already listed at certificates[2].acme[0] (line 4): list each name once',
  ]);
});

test("an entry is files or acme, never both nor neither", () => {
  assert.deepEqual(check(withCerts("{ cert: a.pem, key: a.key, acme: [a.example.com] }")), [
    't.yaml:2:5: certificates[0]: an entry has "cert" and "key" (files) or "acme" (names to obtain), not both: split it into two entries',
  ]);
  assert.deepEqual(check(withCerts("{ domains: [a.example.com] }")), [
    't.yaml:2:5: certificates[0]: certificate needs "cert" and "key" (PEM files) or "acme" (names to obtain)',
    't.yaml:2:7: certificates[0]: unknown key "domains" (did you mean "acme"?)',
  ]);
});

test("terminate: acme certificates count as certificates", () => {
  const text = yaml(
    "certificates:",
    "  - acme: [a.example.com]",
    ...BASE.slice(0, 6),
    "  secure:",
    '    bind: ":443"',
    "    protocol: tls",
    "    terminate: web",
    ...BASE.slice(6),
  );
  assert.deepEqual(check(text), []);
});

test("a warning when no listener can answer any allowed challenge", () => {
  const web = ["  web:", '    bind: ":8080"', "    protocol: http", "    default: app"];
  const both = "an http or auto listener bound to port 80 (http-01) or a tls or auto listener" +
    " bound to port 443 (tls-alpn-01)";
  assert.deepEqual(
    check(yaml(
      "certificates:",
      "  - { cert: c.pem, key: k.pem }",
      "  - acme: [a.example.com]",
      ...withListeners(...web, "  secure:", '    bind: ":8443"', "    protocol: tls"),
    )),
    [
      `t.yaml:3:5: warning: certificates[1]: ${NO_LISTENER}: add ${both}`,
      // The tls listener has no routes: the usual warning, unrelated.
      't.yaml:9:3: warning: listeners.secure: listener "secure" has no routes and no default: it refuses every connection',
    ],
  );
  const secure = ["  secure:", '    bind: ":443"', "    protocol: tls", "    terminate: web"];
  const onlyTls = yaml("certificates: [acme: a.example.com]", ...withListeners(...web, ...secure));
  assert.deepEqual(check(onlyTls), []);
  assert.deepEqual(check(yaml("acme: { challenges: [http-01] }") + onlyTls), [
    `t.yaml:2:16: warning: certificates[0]: ${NO_LISTENER}: add an http or auto listener bound to port 80 (http-01)`,
  ]);
  assert.deepEqual(check(yaml("acme: { challenges: [tls-alpn-01] }") + withCerts("acme: a.b")), [
    `t.yaml:3:5: warning: certificates[0]: ${NO_LISTENER}: add a tls or auto listener bound to port 443 (tls-alpn-01)`,
  ]);
  const auto = ["  mux:", '    bind: ":443"', "    protocol: auto", "    default: app"];
  assert.deepEqual(
    check(
      yaml(
        "acme: { challenges: [tls-alpn-01] }",
        "certificates: [acme: a.b]",
        ...withListeners(...auto),
      ),
    ),
    [],
  );
});

test("no challenge warning while the config has errors (the answering listener may be the bad one)", () => {
  assert.deepEqual(
    check(yaml(
      "workers: 0",
      "certificates: [acme: a.b]",
      ...withListeners(
        "  web:",
        '    bind: ":8080"',
        "    default: app",
      ),
    )),
    ["t.yaml:1:10: workers: expected a whole number from 1 to 1024, got 0"],
  );
});

// The file pass: storage must be a folder Switchyard can write in (or create), ca readable PEM.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CERT = join(ROOT, "test/fixtures/config/certs/fullchain.pem");
const KEY = join(ROOT, "test/fixtures/config/certs/key.pem");
const DIR = mkdtempSync(join(tmpdir(), "switchyard-acme-"));
const FILE = join(DIR, "t.yaml");
writeFileSync(join(DIR, "file"), "not pem\n");

/** `problems` formatted, without the reason the runtime gives for a bad file. */
function formatted(problems: readonly ConfigProblem[]): string[] {
  return problems.map((p) =>
    formatProblem(p).replace(
      /^(.*(?:cannot read CA file "[^"]*"|is not a PEM certificate)): .*$/,
      "$1",
    )
  );
}

/** Every problem of `text` read as `file`, with the files checked. */
function checkFiles(text: string, file = FILE): string[] {
  return formatted(parseConfig(text, file, { checkFiles: true }).problems);
}

test("parsing alone looks at no storage folder and no CA file", () => {
  assert.deepEqual(parseConfig(withBlock("  storage: file", "  ca: nope.pem"), FILE).problems, []);
});

test("storage: an existing folder, or one that can be created, is fine", () => {
  assert.deepEqual(checkFiles(withCerts("acme: a.example.com")), []);
  assert.deepEqual(checkFiles(withBlock(`  storage: ${DIR}`)), []);
});

test("storage that is a file, or whose parent is missing or a file, is an error at storage", () => {
  assert.deepEqual(checkFiles(withBlock("  storage: file")), [
    `${FILE}:2:12: acme.storage: storage "${DIR}/file" is not a folder: ${FIX}`,
  ]);
  assert.deepEqual(checkFiles(withBlock("  storage: missing/data")), [
    `${FILE}:2:12: acme.storage: storage "${DIR}/missing/data" does not exist and cannot be created: "${DIR}/missing" does not exist; create it, or ${FIX}`,
  ]);
  assert.deepEqual(checkFiles(withBlock("  storage: file/data")), [
    `${FILE}:2:12: acme.storage: storage "${DIR}/file/data" does not exist and cannot be created: "${DIR}/file" is not a folder; ${FIX}`,
  ]);
});

test("the default storage: a problem points at the acme block, or else at the first acme entry", () => {
  const dir = join(DIR, "taken");
  mkdirSync(dir);
  writeFileSync(join(dir, "switchyard-data"), "");
  const file = join(dir, "t.yaml");
  const problem = `storage "${dir}/switchyard-data" is not a folder: ${FIX}`;
  assert.deepEqual(checkFiles(withCerts(`{ cert: ${CERT}, key: ${KEY} }`, "acme: a.b"), file), [
    `${file}:3:5: certificates[1]: ${problem}`,
  ]);
  assert.deepEqual(checkFiles(withBlock("  email: ops@example.com"), file), [
    `${file}:1:1: acme: ${problem}`,
  ]);
});

test("storage this process may not write to (as root may, the test says so)", () => {
  const site = { file: "t.yaml", line: 2, col: 12, path: "acme.storage" };
  const never = () => false;
  assert.deepEqual(checkStorage(DIR, site, never), {
    ...site,
    message: `storage "${DIR}" is not writable: ${FIX}`,
    severity: "error",
  });
  assert.deepEqual(checkStorage(join(DIR, "new"), site, never), {
    ...site,
    message:
      `storage "${DIR}/new" does not exist and cannot be created: "${DIR}" is not writable; create it, or ${FIX}`,
    severity: "error",
  });
  assert.equal(checkStorage(join(DIR, "new"), site), null);
});

test("ca: a readable file of PEM certificates", () => {
  assert.deepEqual(checkFiles(withBlock(`  ca: ${CERT}`)), []);
  assert.deepEqual(checkFiles(withBlock("  ca: missing.pem")), [
    `${FILE}:2:7: acme.ca: cannot read CA file "${DIR}/missing.pem"`,
  ]);
  const { problems } = parseConfig(withBlock("  ca: file"), FILE, { checkFiles: true });
  assert.deepEqual(problems.map(formatProblem), [
    `${FILE}:2:7: acme.ca: "${DIR}/file" is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----"`,
  ]);
  writeFileSync(
    join(DIR, "bad.pem"),
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
  );
  assert.deepEqual(checkFiles(withBlock("  ca: bad.pem")), [
    `${FILE}:2:7: acme.ca: "${DIR}/bad.pem" is not a PEM certificate`,
  ]);
});

test("file problems sort among the others; loadConfigFile checks storage and ca", () => {
  const text = yaml(
    "workers: 0",
    "acme:",
    "  storage: file",
    "  ca: missing.pem",
    "certificates: [acme: a.b]",
    ...BASE.slice(0, 5),
    "      - { host: a.example.com, to: ap }",
    ...BASE.slice(6),
  );
  const expected = (file: string) => [
    `${file}:1:10: workers: expected a whole number from 1 to 1024, got 0`,
    `${file}:3:12: acme.storage: storage "${DIR}/file" is not a folder: ${FIX}`,
    `${file}:4:7: acme.ca: cannot read CA file "${DIR}/missing.pem"`,
    `${file}:11:36: listeners.web.routes[0].to: unknown backend "ap" (did you mean "app"?)`,
  ];
  assert.deepEqual(checkFiles(text), expected(FILE));
  const file = join(DIR, "load.yaml");
  writeFileSync(file, text);
  const { config, problems } = loadConfigFile(file);
  assert.equal(config, null);
  assert.deepEqual(formatted(problems), expected(file));
});
