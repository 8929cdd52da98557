import { describe, expect, it } from "vitest";
import { DEFAULTS, loadConfig } from "../../src/config.js";
import { isPostgresUrl, isRedisUrl } from "../../src/database-url.js";
import { at, documents, listAt, portOf, resource } from "./deploy-files.js";

// The replicated variants (README, "Running several replicas"): deploy/k8s/replicated/ beside the
// one-replica files it reuses, and deploy/compose.yaml. Checked statically, as deploy-config.test.ts
// checks the rest: neither a cluster nor Docker runs here.

const GRPC_PORT = portOf(DEFAULTS.KEYWARD_LISTEN);
const HTTP_PORT = portOf(DEFAULTS.KEYWARD_HTTP_LISTEN);

describe("k8s/replicated/", () => {
  const deployment = resource("k8s/replicated", "Deployment");
  const secret = resource("k8s/replicated", "Secret");
  const budget = resource("k8s/replicated", "PodDisruptionBudget");
  const pod = at(deployment, "spec", "template", "spec");
  const container = listAt(pod, "containers")[0];
  const env = new Map(listAt(container, "env").map((v) => [at(v, "name"), v]));
  const podLabels = at(deployment, "spec", "template", "metadata", "labels") as object;

  it("has its three files and reuses the namespace, Service and ConfigMap of k8s/", () => {
    for (const file of ["deployment.yaml", "secret.yaml", "pdb.yaml"]) {
      expect(documents.has(`k8s/replicated/${file}`), file).toBe(true);
    }
    const namespace = at(resource("k8s", "Namespace"), "metadata", "name");
    for (const doc of [deployment, secret, budget]) expect(at(doc, "metadata", "namespace")).toBe(namespace);
    expect(podLabels).toMatchObject(at(resource("k8s", "Service"), "spec", "selector") as object);
    const configMap = at(resource("k8s", "ConfigMap"), "metadata", "name");
    expect(listAt(pod, "volumes").some((volume) => at(volume, "configMap", "name") === configMap)).toBe(true);
  });

  it("runs several replicas, no volume claim, the same security context as the one-replica Deployment", () => {
    expect(Number(at(deployment, "spec", "replicas"))).toBeGreaterThanOrEqual(2);
    for (const volume of listAt(pod, "volumes")) expect(at(volume, "persistentVolumeClaim")).toBeUndefined();
    const single = resource("k8s", "Deployment");
    const singlePod = at(single, "spec", "template", "spec");
    expect(at(pod, "securityContext")).toEqual(at(singlePod, "securityContext"));
    expect(at(container, "securityContext")).toEqual(
      at(listAt(singlePod, "containers")[0], "securityContext"),
    );
    expect(podLabels).toMatchObject(at(deployment, "spec", "selector", "matchLabels") as object);
    const spread = listAt(pod, "topologySpreadConstraints");
    expect(spread.map((constraint) => at(constraint, "topologyKey"))).toContain(
      "topology.kubernetes.io/zone",
    );
    for (const constraint of spread) {
      expect(podLabels).toMatchObject(at(constraint, "labelSelector", "matchLabels") as object);
    }
  });

  it("is ready by GET /readyz on the container's http port, Keyward's HTTP default", () => {
    expect(at(container, "readinessProbe", "httpGet", "path")).toBe("/readyz");
    const port = at(container, "readinessProbe", "httpGet", "port");
    const ports = new Map(listAt(container, "ports").map((p) => [at(p, "name"), at(p, "containerPort")]));
    expect(port).toBe("http");
    expect(ports.get(port)).toBe(HTTP_PORT);
    expect(ports.get("grpc")).toBe(GRPC_PORT);
    const liveness = at(container, "livenessProbe");
    expect(at(liveness, "grpc", "port") === GRPC_PORT || at(liveness, "httpGet", "path") === "/healthz").toBe(
      true,
    );
  });

  it("takes KEYWARD_DATABASE from the key secret.yaml defines, a postgres URL Keyward accepts", () => {
    const reference = at(env.get("KEYWARD_DATABASE"), "valueFrom", "secretKeyRef");
    expect(at(reference, "name")).toBe(at(secret, "metadata", "name"));
    const url = at(secret, "stringData", String(at(reference, "key")));
    expect(url, "the key the Deployment names").toBeTypeOf("string");
    expect(isPostgresUrl(String(url))).toBe(true);
    expect(String(url)).toContain("CHANGE-ME"); // a placeholder, never a real password
    // Every other variable is one Keyward reads, with a value it accepts (the secrets in their place).
    const values: Record<string, string> = { KEYWARD_DATABASE: String(url) };
    for (const [name, variable] of env) {
      expect(Object.keys(DEFAULTS), String(name)).toContain(name);
      const fromSecret = at(variable, "valueFrom", "secretKeyRef");
      values[String(name)] =
        fromSecret === undefined
          ? String(at(variable, "value"))
          : String(at(secret, "stringData", String(at(fromSecret, "key"))));
    }
    const loaded = loadConfig(values);
    if (!loaded.ok) throw new Error(loaded.error);
    expect(portOf(loaded.config.httpListen ?? "")).toBe(HTTP_PORT);
  });

  it("shares rate limits through Redis from the same Secret, with KEYWARD_REPLICAS equal to its replicas", () => {
    const reference = at(env.get("KEYWARD_REDIS_URL"), "valueFrom", "secretKeyRef");
    expect(at(reference, "name")).toBe(at(secret, "metadata", "name"));
    const url = String(at(secret, "stringData", String(at(reference, "key"))));
    expect(isRedisUrl(url)).toBe(true);
    expect(url).toContain("CHANGE-ME");
    expect(Number(at(env.get("KEYWARD_REPLICAS"), "value"))).toBe(Number(at(deployment, "spec", "replicas")));
  });

  it("keeps all but one replica through a voluntary disruption, selecting the Deployment's pods", () => {
    expect(podLabels).toMatchObject(at(budget, "spec", "selector", "matchLabels") as object);
    const replicas = Number(at(deployment, "spec", "replicas"));
    const minAvailable = at(budget, "spec", "minAvailable");
    const maxUnavailable = at(budget, "spec", "maxUnavailable");
    if (minAvailable !== undefined) expect(Number(minAvailable)).toBeLessThan(replicas);
    else expect(maxUnavailable).toBe(1);
  });
});

describe("compose.yaml", () => {
  const [compose] = documents.get("compose.yaml") ?? [];
  const services = at(compose, "services") as Record<string, unknown>;
  const keywards = Object.entries(services).filter(([name]) => name.startsWith("keyward"));

  it("runs two Keyward replicas on the postgres and redis services, which are checked healthy first", () => {
    expect(keywards).toHaveLength(2);
    expect(at(services, "postgres", "image")).toMatch(/^postgres:15/);
    expect(listAt(services, "postgres", "healthcheck", "test").join(" ")).toContain("pg_isready");
    expect(at(services, "redis", "image")).toMatch(/^redis:7/);
    expect(listAt(services, "redis", "healthcheck", "test").join(" ")).toContain("ping");
    for (const [name, service] of keywards) {
      const url = String(at(service, "environment", "KEYWARD_DATABASE"));
      expect(isPostgresUrl(url), name).toBe(true);
      expect(new URL(url).hostname, name).toBe("postgres");
      expect(at(service, "depends_on", "postgres", "condition"), name).toBe("service_healthy");
      const redis = String(at(service, "environment", "KEYWARD_REDIS_URL"));
      expect(isRedisUrl(redis), name).toBe(true);
      expect(new URL(redis).hostname, name).toBe("redis");
      expect(at(service, "depends_on", "redis", "condition"), name).toBe("service_healthy");
      expect(at(service, "environment", "KEYWARD_REPLICAS"), name).toBe(String(keywards.length));
      const loaded = loadConfig(at(service, "environment") as Record<string, string>);
      if (!loaded.ok) throw new Error(`${name}: ${loaded.error}`);
    }
  });

  it("publishes each replica's default ports on host ports of its own", () => {
    const published = keywards.flatMap(([, service]) =>
      (at(service, "ports") as string[]).map((mapping) => mapping.split(":").map(Number)),
    );
    const hostPorts = published.map(([host]) => host);
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    expect(new Set(published.map(([, container]) => container))).toEqual(new Set([GRPC_PORT, HTTP_PORT]));
  });

  it("builds both from deploy/Dockerfile at the repository root, as one image", () => {
    for (const [name, service] of keywards) {
      expect(at(service, "build", "context"), name).toBe("..");
      expect(at(service, "build", "dockerfile"), name).toBe("deploy/Dockerfile");
      expect(at(service, "image"), name).toBe("keyward:0.1.0");
    }
  });
});
