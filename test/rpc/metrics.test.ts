import { describe, expect, it } from "vitest";
import { envoyCheckRequest, envoyClient } from "../envoy/envoy-request.js";
import { parsePrometheus, sumOf } from "../support/prometheus-text.js";
import { useServer } from "../support/use-server.js";

// Issue 15: GET /metrics after real traffic on all three entry points, read back by name and value.

async function scrape(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

describe("GET /metrics on the HTTP listener", () => {
  const server = useServer();

  it("counts decisions by entry point and reason, times them, and shows the cache, store and process", async () => {
    const admin = server.clients(server.admin);
    const { secret } = await admin.keys.issueKey({ name: "reader", scopes: ["orders:read"] });
    const { authorize } = server.clients();
    for (let i = 0; i < 3; i++) expect((await authorize.authorize({ apiKey: secret })).allowed).toBe(true);
    await authorize.authorize({ apiKey: "" }); // missing_credential
    await authorize.authorize({ apiKey: secret, requiredScopes: ["orders:write"] }); // insufficient_scope
    const envoy = server.own(envoyClient(server.grpcAddress));
    await envoy.check(envoyCheckRequest({ headers: { "x-api-key": secret } }));
    await fetch(`${server.httpUrl}/authz/forward-auth`, {
      headers: { "x-api-key": secret, "x-forwarded-method": "GET", "x-forwarded-uri": "/v1/orders" },
    });

    const { status, type, text } = await scrape(`${server.httpUrl}/metrics`);
    expect(status).toBe(200);
    expect(type).toBe("text/plain; version=0.0.4; charset=utf-8");
    const samples = parsePrometheus(text);
    const decisions = (labels: Record<string, string>) => sumOf(samples, "keyward_decisions_total", labels);
    expect(decisions({ entry: "authorize", reason: "allowed" })).toBe(3);
    expect(decisions({ entry: "authorize", reason: "missing_credential" })).toBe(1);
    expect(decisions({ entry: "authorize", reason: "insufficient_scope" })).toBe(1);
    expect(decisions({ entry: "authorize" })).toBe(5);
    expect(decisions({ entry: "check" })).toBe(1);
    expect(decisions({ entry: "forward_auth" })).toBe(1);
    // Every decision is in the latency histogram, whose smallest bucket is 25 µs.
    expect(sumOf(samples, "keyward_decision_duration_seconds_count", { entry: "authorize" })).toBe(5);
    expect(samples.has('keyward_decision_duration_seconds_bucket{entry="authorize",le="0.000025"}')).toBe(
      true,
    );
    expect(samples.get('keyward_decision_duration_seconds_bucket{entry="authorize",le="+Inf"}')).toBe(5);
    // The key was read from the store, then answered from the cache (the second and third Authorize).
    expect(sumOf(samples, "keyward_cache_lookups_total", { result: "miss" })).toBeGreaterThanOrEqual(1);
    expect(sumOf(samples, "keyward_cache_lookups_total", { result: "hit" })).toBeGreaterThanOrEqual(2);
    expect(sumOf(samples, "keyward_cache_entries", { cache: "keys" })).toBe(2); // the reader and the admin
    expect(
      sumOf(samples, "keyward_store_query_duration_seconds_count", { operation: "key_lookup" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sumOf(samples, "keyward_store_query_duration_seconds_count", { operation: "query" }),
    ).toBeGreaterThan(0);
    expect(sumOf(samples, "keyward_store_errors_total")).toBe(0);
    expect(sumOf(samples, "keyward_group_commit_batch_size_count")).toBeGreaterThanOrEqual(1); // the IssueKey
    expect(sumOf(samples, "keyward_build_info", { version: "0.1.0" })).toBe(1);
    expect(sumOf(samples, "keyward_invalidation_degraded")).toBe(0);
    expect(sumOf(samples, "keyward_rate_limits_local")).toBe(0);
    expect(sumOf(samples, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sumOf(samples, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    // Never a secret.
    expect(text).not.toContain(secret);

    // Nothing forgotten yet; a revoke evicts the revoked key's cached entry, counted as changed.
    const evictions = (text: string, cache: string) =>
      Object.fromEntries(
        ["changed", "capacity", "expired"].map((cause) => [
          cause,
          sumOf(parsePrometheus(text), "keyward_cache_evictions_total", { cache, cause }),
        ]),
      );
    expect(evictions(text, "keys")).toEqual({ changed: 0, capacity: 0, expired: 0 });
    const leaked = await admin.keys.issueKey({ name: "leaked", scopes: ["orders:read"] });
    expect((await authorize.authorize({ apiKey: leaked.secret })).allowed).toBe(true);
    await admin.keys.revokeKey({ keyId: leaked.key?.keyId ?? "", reason: "leaked" });
    const after = (await scrape(`${server.httpUrl}/metrics`)).text;
    expect(evictions(after, "keys")).toEqual({ changed: 1, capacity: 0, expired: 0 });
    expect(evictions(after, "absent")).toEqual({ changed: 0, capacity: 0, expired: 0 });
  });

  it("counts rate-limit denials as decisions of that reason", async () => {
    const admin = server.clients(server.admin);
    const { secret } = await admin.keys.issueKey({ name: "free", tier: "free" });
    const { authorize } = server.clients();
    for (let i = 0; i < 12; i++) await authorize.authorize({ apiKey: secret });
    const samples = parsePrometheus((await scrape(`${server.httpUrl}/metrics`)).text);
    expect(sumOf(samples, "keyward_decisions_total", { reason: "rate_limited" })).toBe(2);
  });
});

describe("KEYWARD_METRICS_LISTEN", () => {
  const server = useServer({ env: { KEYWARD_METRICS_LISTEN: "127.0.0.1:0" } });

  it("serves /metrics on its own listener only, and nothing else there", async () => {
    const metricsUrl = `http://127.0.0.1:${server.keyward.metricsPort}`;
    const own = await scrape(`${metricsUrl}/metrics`);
    expect(own.status).toBe(200);
    expect(own.text).toContain("keyward_decisions_total");
    expect((await scrape(`${metricsUrl}/healthz`)).status).toBe(404);
    // Off the callers' port.
    expect((await scrape(`${server.httpUrl}/metrics`)).status).toBe(404);
    expect(
      server.logs.some((line) => line.includes(`"metrics":"127.0.0.1:${server.keyward.metricsPort}"`)),
    ).toBe(true);
  });
});
