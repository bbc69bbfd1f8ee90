/** What `explain` says about route actions it cannot reach from the command line (paths). */

import assert from "node:assert/strict";
import { test } from "node:test";
import { describeActions, describeAnswer } from "../../src/cli/explain_actions.ts";
import { parseConfig } from "../../src/config/load.ts";
import { parseIp } from "../../src/net/ip.ts";
import { HASH, yaml } from "../config/problems.ts";

const { config } = parseConfig(
  yaml(
    "listeners:",
    "  web:",
    '    bind: ":80"',
    "    protocol: http",
    "    routes:",
    "      - { path_prefix: [/api/, /v1/], strip_prefix: true, to: app }",
    "      - { path_prefix: /keep/, strip_prefix: false, to: app }",
    `      - { host: a.test, auth: { basic: { realm: r, users: { a: "${HASH}", b: "${HASH}" } } },`,
    "          forward_auth_header: true, to: app }",
    `      - { auth: { basic: { realm: r, users: { a: "${HASH}" } } }, respond: { body: "${
      "x".repeat(50)
    }" } }`,
    "backends:",
    '  app: { servers: ["127.0.0.1:7"] }',
  ),
  "t.yaml",
);
const web = config!.listeners.get("web")!;
const src = { text: "10.0.0.1", ip: parseIp("10.0.0.1")! };

test("explain: strip_prefix names the prefixes it removes; false says nothing", () => {
  assert.deepEqual(describeActions(web, web.routes[0], src), [
    "  strip_prefix: /api/ or /v1/ removed before forwarding",
  ]);
  assert.deepEqual(describeActions(web, web.routes[1], src), []);
  assert.equal(describeAnswer(web.routes[0]), null);
});

test("explain: auth says whether Authorization is forwarded, only on a forwarding route", () => {
  assert.deepEqual(describeActions(web, web.routes[2], src), [
    '  auth: basic, realm "r", users a, b; 401 without a valid password; Authorization forwarded',
  ]);
  assert.deepEqual(describeActions(web, web.routes[3], src), [
    '  auth: basic, realm "r", users a; 401 without a valid password',
  ]);
});

test("explain: a long respond body is cut, its size given in bytes", () => {
  assert.equal(
    describeAnswer(web.routes[3]),
    `respond 200 with "${"x".repeat(40)}..." (50 bytes)`,
  );
});

test("explain: no route, no listener actions: nothing to add", () => {
  assert.deepEqual(describeActions(web, null, src), []);
});
