import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DEFAULTS } from "../../src/config.js";
import { httpStatusOf, type Reason } from "../../src/domain/reason.js";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { AuditService } from "../../src/gen/keyward/v1/audit_service_pb.js";
import { AuthorizeService } from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { ReasonSchema } from "../../src/gen/keyward/v1/key_pb.js";
import { KeyService } from "../../src/gen/keyward/v1/key_service_pb.js";
import { WorkspaceService } from "../../src/gen/keyward/v1/workspace_service_pb.js";
import { createProcessMetrics } from "../../src/metrics/process-metrics.js";

// Static checks that keep docs/ and deploy/grafana/ in step with the code (issue 15): what the
// code declares (variables, metrics, reasons, RPCs) must be documented, and what the docs and the
// dashboard name must exist. Nothing here starts a server; the docs' shell examples are run by
// docs-examples.test.ts.

const DOCS = "docs";
const read = (path: string) => readFileSync(path, "utf8");
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The cells of the table row whose first cell is `name` in backticks, or undefined. */
function tableRow(markdown: string, name: string): string[] | undefined {
  const line = new RegExp(`^\\|\\s*\`${literal(name)}\`\\s*\\|(.*)$`, "m").exec(markdown)?.[1];
  return line?.split("|").map((cell) => cell.trim());
}

/** Every metric name one process registers, with every part that registers at scrape time watched. */
function registeredMetricNames(): Set<string> {
  const metrics = createProcessMetrics("0.0.0-test");
  metrics.watchCache(() => ({
    hits: 0,
    absentHits: 0,
    misses: 0,
    evicted: {
      keys: { changed: 0, capacity: 0, expired: 0 },
      absent: { changed: 0, capacity: 0, expired: 0 },
    },
    keys: 0,
    absent: 0,
  }));
  metrics.watchUsageFlush(() => ({ lastFlushedAt: 0, failures: 0 }));
  metrics.watchDegraded(
    () => false,
    () => false,
  );
  return new Set(metrics.registry.getMetricsAsArray().map((metric) => metric.name));
}

/** `keyward_*` names written as string literals in the metrics sources. */
function metricNamesInSources(): Set<string> {
  const names = new Set<string>();
  for (const file of readdirSync("src/metrics").filter((name) => name.endsWith(".ts"))) {
    for (const match of read(join("src/metrics", file)).matchAll(/"(keyward_[a-z0-9_]+)"/g))
      names.add(match[1] as string);
  }
  return names;
}

describe("docs/configuration.md", () => {
  const markdown = read(join(DOCS, "configuration.md"));

  it.each(Object.entries(DEFAULTS))("documents %s with its default", (name, value) => {
    const row = tableRow(markdown, name);
    expect(row, `${name} has no row`).toBeDefined();
    const defaultCell = row?.[0] ?? "";
    if (value === "") expect(defaultCell).toMatch(/^none\b/);
    else expect(defaultCell).toContain(`\`${value}\``);
  });

  it("documents no variable the code does not read", () => {
    const documented = [...markdown.matchAll(/^\|\s*`(KEYWARD_[A-Z_]+)`/gm)].map((match) => match[1] ?? "");
    expect(documented.filter((name) => !(name in DEFAULTS))).toEqual([]);
  });
});

describe("docs/metrics.md and the Grafana dashboard", () => {
  const registered = registeredMetricNames();
  const ours = metricNamesInSources();

  it("parses the same keyward_* names from the sources as a process registers", () => {
    expect([...ours].sort()).toEqual([...registered].filter((name) => name.startsWith("keyward_")).sort());
  });

  it("documents every keyward_* metric", () => {
    const markdown = read(join(DOCS, "metrics.md"));
    const missing = [...ours].filter((name) => tableRow(markdown, name) === undefined);
    expect(missing).toEqual([]);
  });

  it("builds every dashboard panel on metrics that exist", () => {
    const dashboard = JSON.parse(read("deploy/grafana/keyward.json")) as {
      schemaVersion: number;
      __inputs: { name: string }[];
      panels: { type: string; targets?: { expr: string }[] }[];
    };
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.__inputs.map((input) => input.name)).toContain("DS_PROMETHEUS");
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set(
      exprs.flatMap((expr) =>
        [...expr.matchAll(/\b(?:keyward|process|nodejs)_[a-z0-9_]+/g)].map((match) =>
          match[0].replace(/_(bucket|sum|count)$/, ""),
        ),
      ),
    );
    expect([...used].filter((name) => !registered.has(name))).toEqual([]);
    // The panels the runbook describes are all there.
    for (const name of [
      "keyward_decisions_total",
      "keyward_decision_duration_seconds",
      "keyward_cache_lookups_total",
      "keyward_store_query_duration_seconds",
      "keyward_store_errors_total",
      "keyward_group_commit_batch_size",
      "keyward_usage_flush_age_seconds",
      "keyward_invalidation_degraded",
      "keyward_rate_limits_local",
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
    ])
      expect(used, name).toContain(name);
  });
});

describe("docs/reasons.md", () => {
  const markdown = read(join(DOCS, "reasons.md"));
  const reasons = [...read("src/domain/reason.ts").matchAll(/^\s*\| "([a-z_]+)"/gm)].map(
    (match) => match[1] as Reason,
  );

  it("reads every reason of src/domain/reason.ts", () => {
    expect(reasons.length).toBe(ReasonSchema.values.length - 1); // all but REASON_UNSPECIFIED
  });

  it.each(reasons)("documents %s with its proto name and HTTP status", (reason) => {
    const row = tableRow(markdown, reason);
    expect(row, `${reason} has no row`).toBeDefined();
    expect(row?.[0]).toBe(`\`REASON_${reason.toUpperCase()}\``);
    expect(row?.[1]).toBe(String(httpStatusOf(reason)));
  });
});

describe("docs/rpc-reference.md", () => {
  const markdown = read(join(DOCS, "rpc-reference.md"));
  const services: DescService[] = [
    KeyService,
    AuthorizeService,
    WorkspaceService,
    AuditService,
    Authorization,
    Health,
  ];
  const methods = services.flatMap((service) =>
    service.methods.map((method) => [service.typeName, method.name] as const),
  );

  it.each(methods)("documents %s/%s with a heading and a grpcurl example", (service, method) => {
    expect(markdown).toContain(`## ${service}`);
    expect(markdown).toMatch(new RegExp(`^### ${method}$`, "m"));
    expect(markdown).toContain(`localhost:50051 ${service}/${method}`);
  });

  it("documents server reflection", () => {
    expect(markdown).toContain("grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
    expect(markdown).toContain("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  });
});

describe("links in docs/", () => {
  const pages = readdirSync(DOCS).filter((name) => name.endsWith(".md"));

  it("indexes every page", () => {
    const index = read(join(DOCS, "README.md"));
    for (const page of pages.filter((name) => name !== "README.md")) expect(index).toContain(`](${page})`);
  });

  it.each(pages)("%s links only to files that exist", (page) => {
    const markdown = read(join(DOCS, page));
    const targets = [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((match) => (match[1] as string).replace(/#.*$/, ""))
      .filter((target) => target !== "" && !/^[a-z]+:/.test(target));
    const broken = targets.filter((target) => !existsSync(resolve(dirname(join(DOCS, page)), target)));
    expect(broken).toEqual([]);
  });
});
