/**
 * Offline validation of the deployment files (no Docker engine, no cluster): the Dockerfile,
 * infra/docker-compose.yml against vendored compose rules and the services' configuration, and the
 * kustomizations k8s/base and k8s/overlays/dev rendered with `kubectl kustomize`, each object checked
 * with kubernetes-models (`validate()` and unknown fields) and for Meridian's own wiring.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import { createFieldChecker, type K8sObject, validateWithModel } from "./k8s-schema.js";

const MERIDIAN_IMAGE = ["$", "{MERIDIAN_IMAGE:-meridian:dev}"].join("");
const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const KUBECTL = "/usr/bin/kubectl";
const SERVICE_SCRIPT = /^services\/([a-z]+)\/dist\/main\.js$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The environment variable names a service's `src/config.ts` (its only reader of process.env) names,
 * plus those the shared readers of `libs/service-kit` read for every service that uses them
 * (`MERIDIAN_ENV`, `MERIDIAN_REDIS_URL`, `MERIDIAN_NATS_URL`).
 */
/** Variables Node itself reads (not a service's config): the zone servers' V8 flags travel in one. */
const NODE_VARIABLES = ["NODE_OPTIONS"] as const;

function configVariables(service: string): Set<string> {
  const own = readFileSync(join(ROOT, "services", service, "src", "config.ts"), "utf8");
  const kit = own.includes("@meridian/service-kit")
    ? readFileSync(join(ROOT, "libs", "service-kit", "src", "env.ts"), "utf8")
    : "";
  const world = own.includes("readWorldConfig")
    ? readFileSync(join(ROOT, "libs", "service-kit", "src", "world-env.ts"), "utf8")
    : "";
  const text = `${own}\n${kit}\n${world}`;
  const names = new Set<string>(NODE_VARIABLES);
  for (const m of text.matchAll(/"([A-Z][A-Z0-9_]+)"|\benv\.([A-Z][A-Z0-9_]+)/g))
    names.add(m[1] ?? m[2] ?? "");
  return names;
}

/** `node services/<name>/dist/main.js` → name, after checking the build emits that path. */
function serviceOfScript(script: string): string {
  const m = SERVICE_SCRIPT.exec(script);
  assert.ok(m?.[1], `${script}: not a services/<name>/dist/main.js path`);
  const dir = join(ROOT, "services", m[1]);
  assert.ok(
    existsSync(join(dir, "src", "main.ts")),
    `${script}: services/${m[1]}/src/main.ts does not exist`,
  );
  const build = JSON.parse(readFileSync(join(dir, "tsconfig.build.json"), "utf8")) as {
    compilerOptions?: { rootDir?: string; outDir?: string };
  };
  assert.equal(build.compilerOptions?.rootDir, "src", `services/${m[1]}: tsconfig.build.json rootDir`);
  assert.equal(build.compilerOptions?.outDir, "dist", `services/${m[1]}: tsconfig.build.json outDir`);
  return m[1];
}

// ---------------------------------------------------------------------------------------------
describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");

  it("builds with the pinned pnpm and runs node:20-bookworm-slim as a non-root user", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { packageManager: string };
    assert.match(pkg.packageManager, /^pnpm@\d+\.\d+\.\d+$/);
    assert.match(dockerfile, /corepack (enable|install)/);
    assert.match(dockerfile, /pnpm install --frozen-lockfile/);
    assert.match(dockerfile, /pnpm -r [^\n]*build/);
    assert.match(dockerfile, /--prod/);
    assert.match(dockerfile, /ARG NODE_IMAGE=node:20-bookworm-slim/);
    const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?/gm)];
    assert.ok(stages.length >= 2, "multi-stage");
    const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
    assert.match(runtime, /^USER (?!root)\S+/m, "the runtime stage runs as a non-root user");
    assert.match(runtime, /NODE_ENV=production/);
  });

  it("copies every workspace package's manifest before the frozen install", () => {
    const globs = (parse(readFileSync(join(ROOT, "pnpm-workspace.yaml"), "utf8")) as { packages: string[] })
      .packages;
    const dirs = globs.flatMap((g) =>
      g.endsWith("/*")
        ? readdirSync(join(ROOT, g.slice(0, -2)), { withFileTypes: true })
            .filter((d) => d.isDirectory() && existsSync(join(ROOT, g.slice(0, -2), d.name, "package.json")))
            .map((d) => `${g.slice(0, -2)}/${d.name}`)
        : [g],
    );
    assert.ok(dirs.includes("infra") && dirs.includes("services/lobby"));
    for (const dir of dirs)
      assert.ok(dockerfile.includes(`COPY ${dir}/package.json ${dir}/`), `COPY ${dir}/package.json`);
  });

  it(".dockerignore keeps node_modules, dist and local state out of the context", () => {
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
    for (const entry of ["**/node_modules", "**/dist", ".git", ".meridian", ".tools"])
      assert.ok(ignore.includes(entry), entry);
  });
});

// ---------------------------------------------------------------------------------------------
const COMPOSE_TOP = new Set(["version", "services", "volumes", "networks", "secrets", "configs"]);
const COMPOSE_SERVICE = new Set([
  "image",
  "build",
  "command",
  "entrypoint",
  "environment",
  "env_file",
  "ports",
  "expose",
  "volumes",
  "depends_on",
  "healthcheck",
  "restart",
  "profiles",
  "stop_grace_period",
  "stop_signal",
  "init",
  "networks",
  "secrets",
  "labels",
  "user",
  "working_dir",
  "logging",
  "ulimits",
  "read_only",
  "tmpfs",
  "cap_add",
  "cap_drop",
  "security_opt",
  "hostname",
  "extra_hosts",
  "container_name",
  "deploy",
]);
const HEALTHCHECK = new Set(["test", "interval", "timeout", "retries", "start_period", "disable"]);
const CONDITIONS = new Set(["service_started", "service_healthy", "service_completed_successfully"]);
const DURATION = /^\d+(\.\d+)?(us|ms|s|m|h)$/;
const PORT = /^(?:(?:\d{1,3}\.){3}\d{1,3}:)?(?:\d+:)?\d+(?:\/(?:tcp|udp))?$/;
const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}/g;

/** Minimal compose-file rules (the compose-spec subset docker-compose 1.29 accepts): problems, as text. */
export function composeProblems(doc: unknown, baseDir: string): string[] {
  const problems: string[] = [];
  if (!isObject(doc)) return ["the file is not a mapping"];
  for (const key of Object.keys(doc)) {
    if (!COMPOSE_TOP.has(key) && !key.startsWith("x-"))
      problems.push(`top-level ${key}: not allowed (compose v1 subset)`);
  }
  const services = doc.services;
  if (!isObject(services) || Object.keys(services).length === 0) return [...problems, "services: missing"];
  const volumes = isObject(doc.volumes) ? new Set(Object.keys(doc.volumes)) : new Set<string>();
  for (const [name, raw] of Object.entries(services)) {
    const at = `services.${name}`;
    if (!isObject(raw)) {
      problems.push(`${at}: not a mapping`);
      continue;
    }
    for (const key of Object.keys(raw))
      if (!COMPOSE_SERVICE.has(key)) problems.push(`${at}.${key}: unknown field`);
    if (raw.image === undefined && raw.build === undefined) problems.push(`${at}: needs image or build`);
    if (
      raw.command !== undefined &&
      !(Array.isArray(raw.command) && raw.command.every((c) => typeof c === "string"))
    )
      problems.push(`${at}.command: must be a list of strings`);
    if (raw.environment !== undefined) {
      if (!isObject(raw.environment)) problems.push(`${at}.environment: must be a mapping`);
      else
        for (const [k, v] of Object.entries(raw.environment)) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) problems.push(`${at}.environment.${k}: bad name`);
          if (typeof v !== "string") problems.push(`${at}.environment.${k}: must be a string (quote it)`);
        }
    }
    if (raw.ports !== undefined) {
      if (!Array.isArray(raw.ports)) problems.push(`${at}.ports: must be a list`);
      else
        for (const p of raw.ports)
          if (typeof p !== "string" || !PORT.test(p)) problems.push(`${at}.ports: bad ${String(p)}`);
    }
    if (
      raw.restart !== undefined &&
      !["no", "always", "on-failure", "unless-stopped"].includes(String(raw.restart))
    )
      problems.push(`${at}.restart: bad value`);
    if (raw.stop_grace_period !== undefined && !DURATION.test(String(raw.stop_grace_period)))
      problems.push(`${at}.stop_grace_period: bad duration`);
    if (
      raw.profiles !== undefined &&
      !(Array.isArray(raw.profiles) && raw.profiles.every((p) => typeof p === "string"))
    )
      problems.push(`${at}.profiles: must be a list of strings`);
    if (raw.build !== undefined) {
      const build = isObject(raw.build) ? raw.build : { context: raw.build };
      const context = join(baseDir, String(build.context));
      if (!existsSync(context)) problems.push(`${at}.build.context: ${context} does not exist`);
      else if (!existsSync(join(context, String(build.dockerfile ?? "Dockerfile"))))
        problems.push(`${at}.build.dockerfile: not found in ${context}`);
    }
    if (Array.isArray(raw.volumes)) {
      for (const v of raw.volumes) {
        const source = String(v).split(":")[0] ?? "";
        if (source.startsWith(".") || source.startsWith("/")) {
          if (!existsSync(join(baseDir, source))) problems.push(`${at}.volumes: ${source} does not exist`);
        } else if (!volumes.has(source)) problems.push(`${at}.volumes: named volume ${source} not declared`);
      }
    }
    if (raw.healthcheck !== undefined) {
      const hc = raw.healthcheck;
      if (!isObject(hc)) problems.push(`${at}.healthcheck: must be a mapping`);
      else {
        for (const key of Object.keys(hc))
          if (!HEALTHCHECK.has(key)) problems.push(`${at}.healthcheck.${key}: unknown field`);
        if (!Array.isArray(hc.test) || !["CMD", "CMD-SHELL", "NONE"].includes(String(hc.test[0])))
          problems.push(`${at}.healthcheck.test: must be a list starting with CMD, CMD-SHELL or NONE`);
        for (const key of ["interval", "timeout", "start_period"])
          if (hc[key] !== undefined && !DURATION.test(String(hc[key])))
            problems.push(`${at}.healthcheck.${key}: bad duration`);
        if (hc.retries !== undefined && !Number.isInteger(hc.retries))
          problems.push(`${at}.healthcheck.retries: integer`);
      }
    }
    const deps = raw.depends_on;
    if (deps !== undefined) {
      const entries: [string, unknown][] = Array.isArray(deps)
        ? deps.map((d) => [String(d), { condition: "service_started" }])
        : isObject(deps)
          ? Object.entries(deps)
          : [];
      if (entries.length === 0) problems.push(`${at}.depends_on: must be a list or a mapping`);
      for (const [dep, spec] of entries) {
        const target = services[dep];
        if (!isObject(target)) {
          problems.push(`${at}.depends_on: unknown service ${dep}`);
          continue;
        }
        if (!isObject(spec)) {
          problems.push(`${at}.depends_on.${dep}: must be a mapping`);
          continue;
        }
        for (const key of Object.keys(spec))
          if (key !== "condition") problems.push(`${at}.depends_on.${dep}.${key}: not in compose v1`);
        if (!CONDITIONS.has(String(spec.condition)))
          problems.push(`${at}.depends_on.${dep}.condition: bad value`);
        if (spec.condition === "service_healthy" && target.healthcheck === undefined)
          problems.push(`${at}.depends_on.${dep}: service_healthy but ${dep} has no healthcheck`);
        if (target.profiles !== undefined && raw.profiles === undefined)
          problems.push(`${at}.depends_on.${dep}: depends on a service of an optional profile`);
      }
    }
  }
  return problems;
}

describe("infra/docker-compose.yml", () => {
  const file = join(ROOT, "infra", "docker-compose.yml");
  const text = readFileSync(file, "utf8");
  const doc = parse(text, { merge: true }) as { services: Record<string, Json> };
  const meridian = Object.entries(doc.services).filter(([, s]) => s.image === MERIDIAN_IMAGE);

  it("follows the compose rules", () => {
    assert.deepEqual(composeProblems(doc, dirname(file)), []);
  });

  it("uses only well-formed variable interpolations (VAR, VAR:-default, VAR:?error)", () => {
    const stripped = text.replace(INTERPOLATION, "").replace(/\$\$/g, "");
    assert.doesNotMatch(stripped, /\$/, "a bare $ or a malformed interpolation");
  });

  it("runs every Meridian service from the built workspace, with variables its config reads", () => {
    assert.ok(meridian.length >= 9, "lobby, two authorities, a gateway, four zone servers and the console");
    for (const [name, service] of meridian) {
      const command = service.command as string[];
      assert.equal(command[0], "node", `${name}: command`);
      const svc = serviceOfScript(String(command[1]));
      const known = configVariables(svc);
      for (const variable of Object.keys(service.environment as Json))
        assert.ok(known.has(variable), `${name}: ${variable} is not read by services/${svc}/src/config.ts`);
    }
  });

  it("wires the cluster: JetStream, leader + standby, distinct zones with credentials from the environment", () => {
    const env = (name: string) => (doc.services[name]?.environment ?? {}) as Record<string, string>;
    assert.ok(((doc.services.nats?.command ?? []) as string[]).includes("-js"));
    const byService = (svc: string) =>
      meridian
        .filter(([, s]) => (s.command as string[])[1] === `services/${svc}/dist/main.js`)
        .map(([n]) => n);
    const authorities = byService("authority");
    assert.equal(authorities.length, 2);
    assert.equal(new Set(authorities.map((a) => env(a).AUTHORITY_ID)).size, 2, "distinct AUTHORITY_IDs");
    const zones = byService("gameserver");
    assert.ok(zones.length >= 4);
    assert.equal(
      new Set(zones.map((z) => env(z).ZONE_SERVER_ID)).size,
      zones.length,
      "distinct ZONE_SERVER_IDs",
    );
    for (const z of zones) {
      assert.match(
        env(z).ZONE_CREDENTIAL ?? "",
        /^\$\{ZONE_\d+_CREDENTIAL(:-)?\}$/,
        `${z}: credential from the environment`,
      );
      assert.ok(doc.services[z]?.stop_grace_period, `${z}: stop_grace_period for the checkpoint on SIGTERM`);
    }
    const observability = Object.entries(doc.services).filter(([, s]) =>
      (s.profiles as string[] | undefined)?.includes("observability"),
    );
    assert.deepEqual(observability.map(([n]) => n).sort(), ["otel-collector", "prometheus"]);
  });

  it("publishes the ports the services listen on, and health-checks them", () => {
    const ports = (name: string) =>
      ((doc.services[name]?.ports ?? []) as string[]).map((p) => p.split(":").at(-1));
    const gw = doc.services.gateway?.environment as Record<string, string>;
    assert.deepEqual(ports("gateway").sort(), [gw.GATEWAY_TCP_PORT, gw.GATEWAY_WS_PORT].sort());
    assert.deepEqual(ports("gateway").sort(), ["7600", "7601"]);
    // Every Meridian service's healthcheck asks its own ops server's /readyz, on the port its config reads.
    assert.match(
      JSON.stringify(doc.services.gateway?.healthcheck),
      new RegExp(`127\\.0\\.0\\.1:${gw.GATEWAY_OPS_PORT}/readyz`),
    );
    for (const [name, service] of Object.entries(doc.services)) {
      const variable = name.startsWith("authority")
        ? "AUTHORITY_OPS_PORT"
        : name.startsWith("zone")
          ? "ZONE_OPS_PORT"
          : undefined;
      if (variable === undefined) continue;
      const port = ((service.environment ?? {}) as Record<string, string>)[variable];
      assert.match(String(port), /^\d+$/, `${name}: ${variable}`);
      assert.match(
        JSON.stringify(service.healthcheck),
        new RegExp(`127\\.0\\.0\\.1:${port}/readyz`),
        `${name}: healthcheck on its ops port`,
      );
    }
    const lobby = doc.services.lobby?.environment as Record<string, string>;
    assert.deepEqual(ports("lobby"), [lobby.LOBBY_ADMIN_PORT]);
    assert.equal(
      lobby.LOBBY_ADMIN_HOST,
      "0.0.0.0",
      "the healthcheck and the published port reach the admin API",
    );
    assert.ok(
      ((doc.services.lobby?.ports ?? []) as string[]).every((p) => p.startsWith("127.0.0.1:")),
      "admin API on loopback only",
    );
    assert.match(
      JSON.stringify(doc.services.lobby?.healthcheck),
      new RegExp(`:${lobby.LOBBY_ADMIN_PORT}/readyz`),
    );
  });

  it("the rules reject a broken file (unknown field, top-level name, bad port, dangling depends_on)", () => {
    const broken = {
      name: "meridian",
      services: {
        a: {
          image: "x",
          environmnet: {},
          ports: ["7600:abc"],
          depends_on: { b: { condition: "service_healthy", required: true } },
        },
        b: { image: "y" },
      },
    };
    const problems = composeProblems(broken, ROOT);
    for (const expected of [
      "top-level name",
      "services.a.environmnet: unknown field",
      "services.a.ports: bad",
      "required: not in compose v1",
      "no healthcheck",
    ])
      assert.ok(
        problems.some((p) => p.includes(expected)),
        `expected a problem with ${expected}: ${problems.join("; ")}`,
      );
  });
});

// ---------------------------------------------------------------------------------------------
function kustomize(dir: string): K8sObject[] {
  if (!existsSync(KUBECTL))
    throw new Error(
      `${KUBECTL} is missing: install kubectl (the k8s tests render with \`kubectl kustomize\`)`,
    );
  const run = spawnSync(KUBECTL, ["kustomize", join(ROOT, dir)], { encoding: "utf8", timeout: 60_000 });
  if (run.error) throw run.error;
  assert.equal(run.status, 0, `kubectl kustomize ${dir} failed: ${run.stderr}`);
  return parseAllDocuments(run.stdout).map((d) => {
    assert.deepEqual(d.errors, [], `${dir}: YAML errors`);
    return d.toJS() as K8sObject;
  });
}

type Container = {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
  }[];
  envFrom?: { configMapRef?: { name: string } }[];
  livenessProbe?: Json;
  readinessProbe?: Json;
  resources?: { requests?: Json; limits?: Json };
};
type PodSpec = { containers: Container[]; terminationGracePeriodSeconds?: number; volumes?: Json[] };
const podOf = (o: K8sObject) =>
  (o.spec as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } }).template;
const workloads = (objects: K8sObject[]) =>
  objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

function checkKustomization(dir: string) {
  // kubectl is on the CI machine; a fresh machine without it skips the rendering checks, saying so
  // (they show as skipped in the summary), rather than failing `npm test`.
  if (!existsSync(KUBECTL)) {
    describe(`kubectl kustomize ${dir}`, () => {
      it(`renders and validates (skipped: ${KUBECTL} is not installed)`, {
        skip: `${KUBECTL} is not installed`,
      }, () => {});
    });
    return;
  }
  describe(`kubectl kustomize ${dir}`, () => {
    const objects = kustomize(dir);
    const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
    const named = (kind: string, name: string) =>
      objects.find((o) => o.kind === kind && o.metadata?.name === name);

    it("every object passes kubernetes-models validate() and has no unknown field", async () => {
      assert.ok(objects.length > 10);
      const check = createFieldChecker(objects);
      for (const o of objects) {
        const where = `${o.kind}/${o.metadata?.name}`;
        assert.equal(await validateWithModel(o), undefined, `${where}: validate()`);
        assert.deepEqual(check(o), [], `${where}: unknown fields`);
      }
    });

    it("runs each Meridian service from the built workspace, with variables its config reads", () => {
      const configMap = named("ConfigMap", "meridian-config")?.data as Record<string, string>;
      assert.ok(configMap, "the shared ConfigMap");
      const readers = new Map<string, Set<string>>();
      for (const w of workloads(objects)) {
        const pod = podOf(w).spec;
        for (const c of pod.containers.filter((c) => c.image.startsWith("meridian"))) {
          const where = `${w.kind}/${w.metadata?.name}`;
          const script = (c.args ?? []).join(" ").match(/services\/[a-z]+\/dist\/main\.js/)?.[0];
          assert.ok(script, `${where}: the command runs services/<name>/dist/main.js`);
          const svc = serviceOfScript(script);
          const known = configVariables(svc);
          readers.set(svc, known);
          for (const e of c.env ?? [])
            assert.ok(known.has(e.name), `${where}: ${e.name} is not read by services/${svc}`);
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef;
            if (ref) {
              const secret = named("Secret", ref.name) as { stringData?: Json; data?: Json } | undefined;
              assert.ok(
                secret && ref.key in { ...secret.stringData, ...secret.data },
                `${where}: secret ${ref.name}/${ref.key}`,
              );
            }
          }
          assert.ok(
            c.envFrom?.some((e) => e.configMapRef?.name === "meridian-config"),
            `${where}: shared config`,
          );
          assert.ok(c.livenessProbe && c.readinessProbe, `${where}: probes`);
          assert.ok(c.resources?.requests && c.resources.limits, `${where}: resources`);
          // Every service answers its probes on its own ops server (the lobby: its admin server).
          const get = (probe: Json | undefined) =>
            probe?.httpGet as { path?: string; port?: string | number } | undefined;
          assert.equal(get(c.livenessProbe)?.path, "/healthz", `${where}: liveness on /healthz`);
          assert.equal(get(c.readinessProbe)?.path, "/readyz", `${where}: readiness on /readyz`);
          const opsVariable = {
            gateway: "GATEWAY_OPS_PORT",
            authority: "AUTHORITY_OPS_PORT",
            gameserver: "ZONE_OPS_PORT",
            lobby: "LOBBY_ADMIN_PORT",
            console: "CONSOLE_PORT",
          }[svc];
          const probed = c.ports?.find(
            (p) => p.name === get(c.readinessProbe)?.port || p.containerPort === get(c.readinessProbe)?.port,
          );
          assert.equal(
            String(probed?.containerPort),
            c.env?.find((e) => e.name === opsVariable)?.value,
            `${where}: probed on the port ${opsVariable} sets`,
          );
          for (const probe of [c.livenessProbe, c.readinessProbe]) {
            const port = (probe?.httpGet ?? probe?.tcpSocket) as { port: string | number } | undefined;
            if (port)
              assert.ok(
                c.ports?.some((p) => p.name === port.port || p.containerPort === port.port),
                `${where}: probe port ${port.port} is a container port`,
              );
          }
        }
      }
      assert.deepEqual([...readers.keys()].sort(), [
        "authority",
        "console",
        "gameserver",
        "gateway",
        "lobby",
      ]);
      for (const key of Object.keys(configMap))
        assert.ok(
          [...readers.values()].some((r) => r.has(key)),
          `ConfigMap ${key} is read by no service`,
        );
    });

    it("zone servers: a StatefulSet, ids from the pod name, a credential per pod, time to checkpoint", () => {
      const zone = named("StatefulSet", "zone") as K8sObject & {
        spec: { replicas: number; serviceName: string };
      };
      assert.ok(zone);
      const pod = podOf(zone).spec;
      const c = pod.containers[0] as Container;
      const id = c.env?.find((e) => e.name === "ZONE_SERVER_ID");
      assert.equal(id?.valueFrom?.fieldRef?.fieldPath, "metadata.name");
      assert.ok((pod.terminationGracePeriodSeconds ?? 30) >= 15, "more than the 10 s shutdown bound");
      const governing = named("Service", zone.spec.serviceName) as
        | { spec: { clusterIP?: string } }
        | undefined;
      assert.equal(governing?.spec.clusterIP, "None", "a headless governing Service");
      const credentials = named("Secret", "zone-credentials") as unknown as { stringData: Json };
      for (let i = 0; i < zone.spec.replicas; i++)
        assert.ok(`zone-${i}` in credentials.stringData, `credential zone-${i}`);
      assert.match(
        (c.args ?? []).join(" "),
        /ZONE_CREDENTIAL="\$\(cat "\/etc\/meridian\/zone-credentials\/\$ZONE_SERVER_ID"\)" exec node/,
      );
      const authority = named("Deployment", "authority") as unknown as { spec: { replicas: number } };
      assert.equal(authority.spec.replicas, 2, "leader + standby");
      // A young generation sized for a tick's garbage (docs/decisions.md, 13).
      assert.match(c.env?.find((e) => e.name === "NODE_OPTIONS")?.value ?? "", /--max-semi-space-size=32/);
    });

    it("Services, PodDisruptionBudgets and StatefulSets point at pods that exist", () => {
      const pods = workloads(objects).map((w) => ({ labels: podOf(w).metadata.labels, spec: podOf(w).spec }));
      for (const s of byKind("Service")) {
        const spec = s.spec as {
          type?: string;
          selector?: Record<string, string>;
          ports?: { targetPort?: string | number }[];
        };
        if (spec.type === "ExternalName") continue;
        const selected = pods.filter((p) => spec.selector && matches(spec.selector, p.labels));
        assert.ok(selected.length > 0, `Service/${s.metadata?.name} selects no pod`);
        for (const port of spec.ports ?? [])
          if (typeof port.targetPort === "string")
            assert.ok(
              selected.some((p) =>
                p.spec.containers.some((c) => c.ports?.some((cp) => cp.name === port.targetPort)),
              ),
              `Service/${s.metadata?.name}: targetPort ${port.targetPort}`,
            );
      }
      for (const pdb of byKind("PodDisruptionBudget")) {
        const selector = (pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector
          .matchLabels;
        assert.ok(
          pods.some((p) => matches(selector, p.labels)),
          `PodDisruptionBudget/${pdb.metadata?.name}`,
        );
      }
      for (const w of workloads(objects)) {
        const selector = (w.spec as { selector: { matchLabels: Record<string, string> } }).selector
          .matchLabels;
        assert.ok(matches(selector, podOf(w).metadata.labels), `${w.kind}/${w.metadata?.name}: selector`);
        if (w.kind === "StatefulSet")
          assert.ok(named("Service", (w.spec as { serviceName: string }).serviceName));
      }
      for (const name of ["nats", "redis", "postgres"]) assert.ok(named("Service", name), `Service/${name}`);
    });
  });
}

checkKustomization("k8s/base");
checkKustomization("k8s/overlays/dev");

describe("k8s specifics", () => {
  it("base Secrets hold placeholders only; base backing services are external", () => {
    const base = kustomize("k8s/base");
    for (const s of base.filter((o) => o.kind === "Secret"))
      for (const [k, v] of Object.entries((s.stringData ?? {}) as Record<string, string>))
        assert.match(v, /REPLACE-ME/, `Secret/${s.metadata?.name}.${k} must be a placeholder`);
    for (const name of ["nats", "redis", "postgres"]) {
      const svc = base.find((o) => o.kind === "Service" && o.metadata?.name === name);
      assert.equal((svc?.spec as { type?: string } | undefined)?.type, "ExternalName", name);
    }
  });

  it("the dev overlay runs the backing services in-cluster", () => {
    const dev = kustomize("k8s/overlays/dev");
    for (const name of ["nats", "redis", "postgres"]) {
      assert.ok(
        dev.some((o) => o.kind === "StatefulSet" && o.metadata?.name === name),
        `StatefulSet/${name}`,
      );
      const svc = dev.find((o) => o.kind === "Service" && o.metadata?.name === name)?.spec as Json;
      assert.equal(svc.type, "ClusterIP");
      assert.equal(svc.externalName, undefined);
    }
    const nats = dev.find((o) => o.kind === "StatefulSet" && o.metadata?.name === "nats");
    assert.ok(nats && podOf(nats).spec.containers[0]?.args?.includes("-js"), "NATS with JetStream");
  });

  it("the checks catch a broken object: unknown fields and a wrong type", async () => {
    const broken: K8sObject = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "broken", labels: { app: "x" } },
      spec: {
        replica: 2,
        replicas: "two",
        selector: { matchLabels: { app: "x" } },
        template: {
          metadata: { labels: { app: "x" } },
          spec: {
            containers: [
              {
                name: "x",
                image: "x",
                imagePullPolicyy: "Always",
                ports: [{ containerPort: 80, nam: "http" }],
              },
            ],
          },
        },
      },
    };
    const unknown = createFieldChecker([broken])(broken);
    assert.deepEqual(unknown.sort(), [
      "Deployment.spec.replica: unknown field",
      "Deployment.spec.template.spec.containers[0].imagePullPolicyy: unknown field",
      "Deployment.spec.template.spec.containers[0].ports[0].nam: unknown field",
    ]);
    assert.match((await validateWithModel(broken)) ?? "", /replicas must be integer/);
    const wrongKind: K8sObject = { apiVersion: "apps/v1", kind: "Deploymnt" };
    assert.match((await validateWithModel(wrongKind)) ?? "", /no kubernetes-models class/);
    // A well-formed object passes both.
    const fixed = structuredClone(broken) as K8sObject & { spec: Json };
    delete fixed.spec.replica;
    fixed.spec.replicas = 2;
    const container = ((fixed.spec.template as Json).spec as PodSpec).containers[0] as unknown as Json;
    delete container.imagePullPolicyy;
    container.ports = [{ containerPort: 80, name: "http" }];
    assert.deepEqual(createFieldChecker([fixed])(fixed), []);
    assert.equal(await validateWithModel(fixed), undefined);
  });
});
