/**
 * deploy/kubernetes: every manifest against the Kubernetes schemas, and against what the
 * router needs.
 *
 * Schemas: npm `kubernetes-models` (a dev dependency), in two passes. Its classes' `.validate()`
 * runs the API's OpenAPI schema (types, enums, required fields); that schema allows unknown
 * fields, as the API server's does without strict field validation, so each manifest is also
 * written out as a TypeScript object literal of the model's interface and type checked with
 * `deno check`, where any unknown field (a typo) is an error, like `kubectl --validate=strict`.
 * kubectl's own validation needs a cluster to fetch the schema from (no offline mode), and
 * Debian's kubernetes-client (1.20) predates policy/v1.
 *
 * Then the router's side: the ConfigMap's config passes `switchyard check` (with no warning),
 * the probes hit the admin endpoint's /readyz and /healthz where the config puts it, the grace
 * period outlasts shutdown_timeout, the CPU limit gives a `--workers` value the command line
 * accepts, the ACME storage is the shared ReadWriteMany volume, and the config folder is mounted
 * whole (a subPath mount never sees ConfigMap updates, which `watch: true` relies on).
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/config/load.ts";
import { parseWorkersFlag } from "../../src/workers/spawn.ts";
import { routerCommand } from "../helpers/router.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIR = join(ROOT, "deploy/kubernetes");
const DENO = join(ROOT, "node_modules/.bin/deno");

/** The model (module under kubernetes-models, class name) of each apiVersion and kind used. */
const MODELS: Record<string, [string, string]> = {
  "v1/Namespace": ["v1/Namespace", "Namespace"],
  "v1/ServiceAccount": ["v1/ServiceAccount", "ServiceAccount"],
  "v1/ConfigMap": ["v1/ConfigMap", "ConfigMap"],
  "v1/PersistentVolumeClaim": ["v1/PersistentVolumeClaim", "PersistentVolumeClaim"],
  "apps/v1/DaemonSet": ["apps/v1/DaemonSet", "DaemonSet"],
  "policy/v1/PodDisruptionBudget": ["policy/v1/PodDisruptionBudget", "PodDisruptionBudget"],
};

// deno-lint-ignore no-explicit-any
type Manifest = Record<string, any>;

interface Doc {
  readonly file: string;
  readonly manifest: Manifest;
}

const kustomization = parseYaml(readFileSync(join(DIR, "kustomization.yaml"), "utf8"));
const docs: Doc[] = (kustomization.resources as string[]).flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), "utf8")).map((d) => {
    assert.deepEqual(d.errors, [], file);
    return { file, manifest: d.toJS() as Manifest };
  })
);

function only(kind: string): Manifest {
  const found = docs.filter((d) => d.manifest.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0].manifest;
}

function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

const daemonSet = only("DaemonSet");
const pod = daemonSet.spec.template.spec;
const container = pod.containers[0];
const configMap = only("ConfigMap");
const configText: string = configMap.data["switchyard.yaml"];
const { config, problems } = parseConfig(configText, "switchyard.yaml");

describe("deploy/kubernetes", () => {
  test("kubectl apply -k takes every manifest in the folder", () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
    assert.deepEqual([...kustomization.resources].sort(), files.sort());
  });

  test("every manifest passes its schema (kubernetes-models validate())", async () => {
    for (const { file, manifest } of docs) {
      const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      assert.ok(model, `${file}: a model for ${manifest.apiVersion} ${manifest.kind}`);
      const mod = await import(`kubernetes-models/${model[0]}`);
      const Model = mod[model[1]];
      assert.doesNotThrow(() => new Model(manifest).validate(), file);
    }
    // It does catch what the API server would refuse.
    const { DaemonSet } = await import("kubernetes-models/apps/v1/DaemonSet");
    const broken = structuredClone(daemonSet);
    broken.spec.template.spec.terminationGracePeriodSeconds = "45";
    assert.throws(() => new DaemonSet(broken as never).validate(), /must be integer/);
  });

  test("no manifest has a field its kind does not know (a type check of each, via deno check)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-k8s-"));
    try {
      const check = async (manifests: Manifest[]) => {
        const lines = manifests.map((m, i) => {
          const [path, name] = MODELS[`${m.apiVersion}/${m.kind}`];
          const types = join(ROOT, "node_modules/kubernetes-models", `${path}.d.ts`);
          return `import type { I${name} as T${i} } from ${JSON.stringify(types)};\n` +
            `export const m${i}: T${i} = ${JSON.stringify(m)};\n`;
        });
        const file = join(dir, "manifests.ts");
        writeFileSync(file, lines.join(""));
        return await run(DENO, ["check", "--config", join(ROOT, "deno.json"), file]);
      };
      const r = await check(docs.map((d) => d.manifest));
      assert.equal(r.code, 0, r.output);
      // A misspelled field fails.
      const typo = structuredClone(daemonSet);
      typo.spec.template.spec.hostNetwrok = true;
      const bad = await check([typo]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.output, /'"?hostNetwrok"?' does not exist in type 'IPodSpec'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the ConfigMap's config passes switchyard check, with no warning", async () => {
    assert.deepEqual(problems, []);
    const dir = mkdtempSync(join(tmpdir(), "switchyard-k8s-config-"));
    try {
      const file = join(dir, "switchyard.yaml");
      writeFileSync(file, configText);
      const [cmd, args] = routerCommand(["check", "-c", file]);
      const r = await run(cmd, args);
      assert.equal(r.code, 0, r.output);
      assert.equal(r.output, `${file}: ok (2 listeners, 1 backends)\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(config?.watch, true, "a ConfigMap update reloads by itself");
  });

  test("the container runs that config from the whole mounted folder, watched", () => {
    assert.deepEqual(container.args.slice(0, 3), ["run", "-c", "/etc/switchyard/switchyard.yaml"]);
    const mount = container.volumeMounts.find((m: Manifest) => m.mountPath === "/etc/switchyard");
    assert.ok(mount, "the config folder is mounted");
    assert.equal(mount.subPath, undefined, "no subPath: it would never see updates");
    const volume = pod.volumes.find((v: Manifest) => v.name === mount.name);
    assert.equal(volume.configMap.name, configMap.metadata.name);
  });

  test("hostNetwork on ports 80 and 443, cluster DNS, the config's listeners on them", () => {
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, "ClusterFirstWithHostNet");
    const ports = container.ports.map((p: Manifest) => [p.containerPort, p.hostPort]);
    assert.deepEqual(ports, [[80, 80], [443, 443]]);
    const bound = [...config!.listeners.values()].flatMap((l) => l.bind.map((b) => b.port));
    assert.deepEqual(bound.sort(), [443, 80]);
  });

  test("readiness on /readyz and liveness on /healthz of the admin endpoint", () => {
    const admin = config!.admin!.listen;
    for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]]) {
      assert.deepEqual(container[probe].httpGet, { host: admin.host, port: admin.port, path });
    }
  });

  test("the grace period outlasts shutdown_timeout", () => {
    assert.ok(pod.terminationGracePeriodSeconds * 1000 > config!.defaults.shutdownTimeoutMs);
  });

  test("--workers comes from the CPU limit, as a value the command line accepts", () => {
    const i = container.args.indexOf("--workers");
    const ref = container.args[i + 1].match(/^\$\((\w+)\)$/)?.[1];
    const env = container.env.find((e: Manifest) => e.name === ref);
    assert.deepEqual(env.valueFrom.resourceFieldRef, {
      containerName: container.name,
      resource: "limits.cpu",
      divisor: "1",
    });
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
    // The kubelet rounds the limit up to whole divisors: "2" → 2, "1500m" → 2.
    const limit = String(container.resources.limits.cpu);
    const cores = limit.endsWith("m") ? Number(limit.slice(0, -1)) / 1000 : Number(limit);
    assert.deepEqual(parseWorkersFlag(String(Math.ceil(cores))), { workers: Math.ceil(cores) });
  });

  test("ACME storage on the shared ReadWriteMany volume", () => {
    const storage = config!.acme!.storage;
    const mount = container.volumeMounts.find((m: Manifest) => m.mountPath === storage);
    assert.ok(mount, `${storage} is mounted`);
    const volume = pod.volumes.find((v: Manifest) => v.name === mount.name);
    const pvc = only("PersistentVolumeClaim");
    assert.equal(volume.persistentVolumeClaim.claimName, pvc.metadata.name);
    assert.deepEqual(pvc.spec.accessModes, ["ReadWriteMany"]);
  });

  test("only NET_BIND_SERVICE, a read-only root, no token; the PDB covers the pods", () => {
    const sc = container.securityContext;
    assert.deepEqual(sc.capabilities, { drop: ["ALL"], add: ["NET_BIND_SERVICE"] });
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.serviceAccountName, only("ServiceAccount").metadata.name);
    const pdb = only("PodDisruptionBudget");
    assert.deepEqual(pdb.spec.selector.matchLabels, daemonSet.spec.template.metadata.labels);
    for (const { manifest } of docs) {
      if (manifest.kind !== "Namespace") assert.equal(manifest.metadata.namespace, "switchyard");
    }
  });
});
