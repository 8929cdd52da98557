import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULTS, loadConfig } from "../../src/config.js";
import { sqlitePath } from "../../src/database-url.js";
import { compilePolicy } from "../../src/domain/route-policy.js";
import { scopeError } from "../../src/domain/scope.js";
import {
  at,
  DEPLOY,
  documents,
  documentsUnder,
  listAt,
  parseYaml,
  portOf,
  ROOT,
  resource,
  yamlFiles,
} from "./deploy-files.js";

// The deployment files cannot be run here (no Docker, Envoy or cluster), so this checks what can
// be checked without them: every YAML document parses, and the files agree with Keyward's
// defaults (src/config.ts), its scope syntax and each other. See deploy/README.md. The gateways
// that ask Keyward over HTTP are checked in gateway-config.test.ts.

const GRPC_PORT = portOf(DEFAULTS.KEYWARD_LISTEN);
const HTTP_PORT = portOf(DEFAULTS.KEYWARD_HTTP_LISTEN);
/** The context_extensions Keyward reads (src/domain/check-request.ts). */
const EXTENSION_KEYS = ["keyward.scopes", "keyward.class", "keyward.workspace", "keyward.public"];
const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const EXT_AUTHZ_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

describe("deploy/*.yaml", () => {
  it("has the expected files, and every document of every file parses", () => {
    expect(yamlFiles).toEqual(
      expect.arrayContaining([
        "envoy/envoy.yaml",
        "istio/authorization-policy.yaml",
        "istio/mesh-config.yaml",
        "k8s/configmap-policy.yaml",
        "k8s/deployment.yaml",
        "k8s/namespace.yaml",
        "k8s/pvc.yaml",
        "k8s/replicated/deployment.yaml",
        "k8s/replicated/pdb.yaml",
        "k8s/replicated/secret.yaml",
        "k8s/service.yaml",
        "compose.yaml",
      ]),
    );
    for (const [file, docs] of documents) {
      expect(docs.length, file).toBeGreaterThan(0);
      for (const doc of docs) expect(doc, file).toBeTypeOf("object");
    }
  });
});

describe("envoy/envoy.yaml", () => {
  const [bootstrap] = documents.get("envoy/envoy.yaml") ?? [];
  const manager = listAt(bootstrap, "static_resources", "listeners")
    .flatMap((listener) => listAt(listener, "filter_chains"))
    .flatMap((chain) => listAt(chain, "filters"))
    .find((filter) => at(filter, "name") === "envoy.filters.network.http_connection_manager");
  const httpFilters = listAt(manager, "typed_config", "http_filters");
  const extAuthz = httpFilters.find((filter) => at(filter, "typed_config", "@type") === EXT_AUTHZ);
  const clusters = new Map(listAt(bootstrap, "static_resources", "clusters").map((c) => [at(c, "name"), c]));
  const routes = listAt(manager, "typed_config", "route_config", "virtual_hosts").flatMap((host) =>
    listAt(host, "routes"),
  );

  it("asks Keyward over HTTP/2 on its gRPC port, fails closed and sends no bodies", () => {
    expect(at(httpFilters.at(-1), "name")).toBe("envoy.filters.http.router");
    const config = at(extAuthz, "typed_config");
    expect(at(config, "transport_api_version")).toBe("V3");
    expect(at(config, "failure_mode_allow")).toBe(false);
    expect(at(config, "status_on_error", "code")).toBe("ServiceUnavailable");
    expect(at(config, "with_request_body")).toBeUndefined();

    const cluster = clusters.get(at(config, "grpc_service", "envoy_grpc", "cluster_name"));
    expect(cluster, "the ext_authz cluster exists").toBeDefined();
    const ports = listAt(cluster, "load_assignment", "endpoints")
      .flatMap((locality) => listAt(locality, "lb_endpoints"))
      .map((endpoint) => at(endpoint, "endpoint", "address", "socket_address", "port_value"));
    expect(ports.length).toBeGreaterThan(0);
    for (const port of ports) expect(port).toBe(GRPC_PORT);
    const options = at(cluster, "typed_extension_protocol_options", HTTP_OPTIONS);
    expect(at(options, "@type")).toBe(`type.googleapis.com/${HTTP_OPTIONS}`);
    expect(at(options, "explicit_http_config", "http2_protocol_options")).toEqual({});
    expect(listAt(cluster, "health_checks").some((check) => at(check, "grpc_health_check"))).toBe(true);
  });

  it("routes to clusters that exist, with Keyward's context extensions and valid scopes", () => {
    const filterNames = new Set(httpFilters.map((filter) => at(filter, "name")));
    let withExtensions = 0;
    for (const route of routes) {
      const name = String(at(route, "name"));
      expect(clusters.has(at(route, "route", "cluster")), name).toBe(true);
      const perFilter = at(route, "typed_per_filter_config") ?? {};
      // A per-route config under any other key than the filter's name is silently ignored.
      for (const key of Object.keys(perFilter)) expect(filterNames, name).toContain(key);
      const perRoute = at(perFilter, at(extAuthz, "name") as string);
      if (perRoute === undefined) continue;
      expect(at(perRoute, "@type"), name).toBe(EXT_AUTHZ_PER_ROUTE);
      const extensions = at(perRoute, "check_settings", "context_extensions") as Record<string, unknown>;
      withExtensions++;
      for (const [key, value] of Object.entries(extensions)) {
        expect(EXTENSION_KEYS, name).toContain(key);
        expect(value, `${name} ${key}`).toBeTypeOf("string");
      }
      for (const scope of String(extensions["keyward.scopes"] ?? "").split(",")) {
        if (scope.trim() !== "") expect(scopeError(scope.trim()), name).toBeUndefined();
      }
      expect([undefined, "true", "false"], name).toContain(extensions["keyward.public"]);
    }
    expect(withExtensions).toBeGreaterThan(0);
    const healthz = routes.find((route) => at(route, "match", "path") === "/healthz");
    expect(at(healthz, "typed_per_filter_config", "envoy.filters.http.ext_authz", "check_settings")).toEqual({
      context_extensions: { "keyward.public": "true" },
    });
  });
});

describe("k8s/", () => {
  const namespace = at(resource("k8s", "Namespace"), "metadata", "name");
  const service = resource("k8s", "Service");
  const deployment = resource("k8s", "Deployment");
  const pod = at(deployment, "spec", "template", "spec");
  const container = listAt(pod, "containers")[0];
  const volumes = new Map(listAt(pod, "volumes").map((volume) => [at(volume, "name"), volume]));
  const mounts = new Map(listAt(container, "volumeMounts").map((m) => [at(m, "name"), at(m, "mountPath")]));
  const env = Object.fromEntries(listAt(container, "env").map((v) => [at(v, "name"), at(v, "value")]));
  const configMap = resource("k8s", "ConfigMap");

  it("puts everything of Keyward's in the namespace it declares", () => {
    for (const doc of documentsUnder("k8s")) {
      // The example Ingress belongs to the application it routes to (gateway-config.test.ts).
      if (at(doc, "kind") === "Namespace" || at(doc, "kind") === "Ingress") continue;
      expect(at(doc, "metadata", "namespace")).toBe(namespace);
    }
  });

  it("exposes Keyward's default ports through the container and the Service", () => {
    const containerPorts = new Map(
      listAt(container, "ports").map((p) => [at(p, "name"), at(p, "containerPort")]),
    );
    expect(Object.fromEntries(containerPorts)).toEqual({ grpc: GRPC_PORT, http: HTTP_PORT });
    const ports = new Map(listAt(service, "spec", "ports").map((port) => [at(port, "name"), port]));
    expect(at(ports.get("grpc"), "port")).toBe(GRPC_PORT);
    expect(at(ports.get("grpc"), "appProtocol")).toBe("grpc");
    expect(at(ports.get("http"), "port")).toBe(HTTP_PORT);
    for (const port of ports.values()) expect(containerPorts.has(at(port, "targetPort"))).toBe(true);
    const podLabels = at(deployment, "spec", "template", "metadata", "labels");
    expect(podLabels).toMatchObject(at(service, "spec", "selector") as object);
    expect(podLabels).toMatchObject(at(deployment, "spec", "selector", "matchLabels") as object);
  });

  it("probes grpc.health.v1 on the gRPC port", () => {
    for (const probe of ["livenessProbe", "readinessProbe"]) {
      expect(at(container, probe, "grpc", "port"), probe).toBe(GRPC_PORT);
    }
    const startup = at(container, "startupProbe");
    if (startup !== undefined) expect(at(startup, "grpc", "port")).toBe(GRPC_PORT);
  });

  it("configures Keyward with variables it reads and values it accepts, listening where the ports are", () => {
    for (const name of Object.keys(env)) expect(Object.keys(DEFAULTS), name).toContain(name);
    const loaded = loadConfig(env as Record<string, string>);
    if (!loaded.ok) throw new Error(loaded.error);
    expect(portOf(loaded.config.listen)).toBe(GRPC_PORT);
    expect(portOf(loaded.config.httpListen ?? "")).toBe(HTTP_PORT);
  });

  it("sets KEYWARD_WORKERS explicitly and a memory limit that holds that many workers", () => {
    // "auto" follows the node's CPUs, which the memory limit cannot. Budget from the soak's
    // measurements (bench/README.md): 150 MiB for the primary, 250 MiB per worker.
    const workers = Number(env.KEYWARD_WORKERS);
    expect(Number.isInteger(workers) && workers >= 1).toBe(true);
    const limit = String(at(container, "resources", "limits", "memory"));
    const mebibytes =
      Number(/^(\d+)Mi$/.exec(limit)?.[1] ?? /^(\d+)Gi$/.exec(limit)?.[1]) *
      (limit.endsWith("Gi") ? 1024 : 1);
    expect(mebibytes).toBeGreaterThanOrEqual(150 + 250 * workers);
  });

  it("runs one non-root replica with its SQLite file on the claimed volume", () => {
    expect(at(deployment, "spec", "replicas")).toBe(1);
    expect(at(deployment, "spec", "strategy", "type")).toBe("Recreate");
    expect(at(pod, "securityContext", "runAsNonRoot")).toBe(true);
    expect(at(container, "securityContext", "readOnlyRootFilesystem")).toBe(true);
    const claim = at(resource("k8s", "PersistentVolumeClaim"), "metadata", "name");
    const [data] =
      [...volumes].find(([, volume]) => at(volume, "persistentVolumeClaim", "claimName") === claim) ?? [];
    expect(data, "a volume from the claim").toBeDefined();
    expect(sqlitePath(String(env.KEYWARD_DATABASE))?.startsWith(`${mounts.get(data)}/`)).toBe(true);
  });

  it("reads a policy from the ConfigMap whose rules parse and name valid scopes", () => {
    const [policyVolume] =
      [...volumes].find(
        ([, volume]) => at(volume, "configMap", "name") === at(configMap, "metadata", "name"),
      ) ?? [];
    expect(policyVolume, "a volume from the ConfigMap").toBeDefined();
    const file = String(env.KEYWARD_POLICY);
    expect(file.startsWith(`${mounts.get(policyVolume)}/`)).toBe(true);
    const text = at(configMap, "data", file.slice(file.lastIndexOf("/") + 1));
    expect(text, "the file KEYWARD_POLICY names").toBeTypeOf("string");
    const [policy] = parseYaml(String(text), "the policy in k8s/configmap-policy.yaml");
    const rules = Array.isArray(policy) ? policy : listAt(policy, "rules");
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(String(at(rule, "path"))).toMatch(/^\//);
      for (const scope of (at(rule, "scopes") ?? []) as string[]) expect(scopeError(scope)).toBeUndefined();
    }
    expect(rules).toContainEqual({ path: "/healthz", public: true });
    expect(compilePolicy(policy), "as Keyward compiles it").toEqual({ policy: expect.anything() });
  });
});

describe("istio/", () => {
  const service = resource("k8s", "Service");
  const providers = listAt(resource("istio", "IstioOperator"), "spec", "meshConfig", "extensionProviders");
  const policy = resource("istio", "AuthorizationPolicy");

  it("registers Keyward's Service and gRPC port as a fail-closed ext_authz provider", () => {
    const provider = providers.find((p) => at(p, "name") === at(policy, "spec", "provider", "name"));
    const grpc = at(provider, "envoyExtAuthzGrpc");
    const { name, namespace } = at(service, "metadata") as { name: string; namespace: string };
    expect(at(grpc, "service")).toBe(`${name}.${namespace}.svc.cluster.local`);
    const grpcPort = listAt(service, "spec", "ports").find((port) => at(port, "name") === "grpc");
    expect(at(grpc, "port")).toBe(at(grpcPort, "port"));
    expect(at(grpc, "failOpen")).toBe(false);
  });

  it("sends every path but /healthz to Keyward", () => {
    expect(at(policy, "spec", "action")).toBe("CUSTOM");
    const operations = listAt(policy, "spec", "rules")
      .flatMap((rule) => listAt(rule, "to"))
      .map((to) => at(to, "operation"));
    expect(operations.some((op) => listAt(op, "notPaths").includes("/healthz"))).toBe(true);
    for (const op of operations) expect(at(op, "paths") ?? []).not.toContain("/healthz");
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(DEPLOY, "Dockerfile"), "utf8");
  const instructions = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .filter((line) => /^[A-Z]+\s/.test(line));
  const arguments_ = (name: string) =>
    instructions
      .filter((line) => line.startsWith(`${name} `))
      .map((line) => line.slice(name.length + 1).trim());
  const packageJson = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
  };

  it("exposes both ports, runs as a numeric non-root user and runs what `npm start` runs", () => {
    const exposed = arguments_("EXPOSE").flatMap((line) =>
      line.split(/\s+/).map((port) => Number.parseInt(port, 10)),
    );
    expect(exposed).toEqual(expect.arrayContaining([GRPC_PORT, HTTP_PORT]));
    expect(arguments_("USER").at(-1)).toMatch(/^[1-9]\d*(:\d+)?$/);
    const command = JSON.parse(arguments_("CMD").at(-1) ?? "null") as string[];
    expect(command.join(" ")).toBe(packageJson.scripts.start);
  });

  it("installs without dev dependencies, so every package the server imports must be a dependency", () => {
    // The build stage installs everything to compile dist/, then prunes the dev dependencies.
    expect(arguments_("RUN").some((line) => /npm (ci|prune) .*--omit=dev/.test(line))).toBe(true);
    expect(arguments_("COPY").filter((line) => line.includes("--from=build"))).toEqual(
      expect.arrayContaining([expect.stringContaining("/app/dist")]),
    );
    const sources = ["src", "bin"].flatMap((folder) =>
      readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })
        .filter((file) => /\.[cm]?[jt]s$/.test(file))
        .map((file) => readFileSync(join(ROOT, folder, file), "utf8")),
    );
    const imported = new Set<string>();
    for (const source of sources) {
      for (const [, specifier = ""] of source.matchAll(
        /^(?:import|export)\s+(?!type\s)[^;]*?from\s+"([^"]+)"/gm,
      )) {
        if (specifier.startsWith(".") || specifier.startsWith("node:")) continue;
        const parts = specifier.split("/");
        imported.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string));
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    for (const name of imported) expect(Object.keys(packageJson.dependencies), name).toContain(name);
  });
});
