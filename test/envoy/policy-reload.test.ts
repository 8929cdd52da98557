import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResponse } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { PolicyFileError } from "../../src/policy/policy-file.js";
import { startTestServer } from "../support/start-server.js";
import { useServer } from "../support/use-server.js";
import { envoyCheckRequest, envoyClient, expectAllowed, expectDenied } from "./envoy-request.js";

// Hot reload of the route policy file: a good edit applies without a restart, a broken one is
// refused with a log line while the last good policy stays in force.

const RULE = (scope: string) => `rules:\n  - methods: [GET]\n    path: /v1/**\n    scopes: [${scope}]\n`;

let dir: string;
let policyPath: string;
let envoy: ReturnType<typeof envoyClient>;
let alpha: string;
let beta: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-reload-"));
  policyPath = join(dir, "policy.yaml");
  writeFileSync(policyPath, RULE("alpha:read"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const server = useServer({ env: () => ({ KEYWARD_POLICY: policyPath, KEYWARD_POLICY_RELOAD: "50ms" }) });

beforeAll(async () => {
  const { keys } = server.clients(server.admin);
  alpha = (await keys.issueKey({ name: "alpha", scopes: ["alpha:read"] })).secret;
  beta = (await keys.issueKey({ name: "beta", scopes: ["beta:read"] })).secret;
  envoy = server.own(envoyClient(server.grpcAddress));
});

const check = (secret: string | undefined, path = "/v1/orders") =>
  envoy.check(envoyCheckRequest({ path, headers: secret === undefined ? {} : { "x-api-key": secret } }));

const allowed = (response: CheckResponse) => response.status?.code === 0;

/** Polls until the condition holds; the reload interval is 50 ms, so seconds are plenty even on a busy machine. */
function until(what: string, condition: () => boolean | Promise<boolean>) {
  return expect
    .poll(condition, { message: `waiting until ${what}`, timeout: 10_000, interval: 50 })
    .toBe(true);
}

const refusals = () => server.logs.filter((line) => line.includes("route policy refused"));

/** Replaces the file in one step, as a Kubernetes ConfigMap update does, so no half-written file is seen. */
function swapIn(content: string) {
  const next = join(dir, "next.yaml");
  writeFileSync(next, content);
  renameSync(next, policyPath);
}

describe("policy hot reload", () => {
  it("applies a good edit, refuses broken ones keeping the last good policy, and applies a fixed file", async () => {
    expectAllowed(await check(alpha));
    expectDenied(await check(beta), 403, "insufficient_scope");

    writeFileSync(policyPath, RULE("beta:read"));
    await until("the edited rule applies", async () => allowed(await check(beta)));
    expectDenied(await check(alpha), 403, "insufficient_scope");
    expect(server.logs.some((line) => line.includes("route policy reloaded"))).toBe(true);

    const before = refusals().length;
    swapIn("rules:\n  - methods: [GET\n    path: /v1/**\n");
    await until("the invalid YAML is refused", () => refusals().length > before);
    expect(refusals().at(-1)).toContain(policyPath);
    expectAllowed(await check(beta));
    expectDenied(await check(alpha), 403, "insufficient_scope");

    swapIn(RULE("Not A Scope"));
    await until("the bad scope is refused", () => refusals().some((line) => line.includes("Not A Scope")));
    expect(refusals().at(-1)).toContain("rule 1");
    expectAllowed(await check(beta));
    expectDenied(await check(alpha), 403, "insufficient_scope");

    swapIn("- path: /v1/**\n  public: true\n");
    await until("the fixed file applies", async () => allowed(await check(undefined)));
    expectAllowed(await check(alpha, "/v1/anything/below"));
    expectDenied(await check(alpha, "/v2/orders"), 403, "route_not_allowed");
  });
});

describe("policy file at start-up", () => {
  it("refuses to start with a broken file, naming the file and the problem", async () => {
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "- path: v1/no-leading-slash\n");
    const started = startTestServer({
      database: `sqlite:${join(dir, "startup.db")}`,
      env: { KEYWARD_POLICY: broken },
    });
    await expect(started).rejects.toBeInstanceOf(PolicyFileError);
    await expect(started).rejects.toThrow(
      `route policy ${broken}: rule 1: path must be a string starting with /`,
    );
  });
});
