import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { readmeBlock } from "../support/readme-blocks.js";
import { useServer } from "../support/use-server.js";

// Runs the README's grpcurl walkthrough line by line in bash. grpcurl itself cannot be installed
// on the build machines, so test/support/grpcurl (first on PATH) translates each call to buf curl;
// the addresses are pointed at this test's server. Everything else runs exactly as written.

const run = promisify(execFile);
const server = useServer();

/** Runs a README block in bash with the grpcurl stand-in first on PATH, against this test's server. */
async function runBlock(...names: string[]): Promise<string> {
  const script = names
    .map(readmeBlock)
    .join("\n")
    .replaceAll("localhost:50051", server.grpcAddress)
    .replaceAll("localhost:8080", server.httpUrl.replace("http://", ""));
  const { stdout } = await run("bash", ["-euo", "pipefail", "-c", script], {
    env: {
      ...process.env,
      PATH: [resolve("test/support"), resolve("node_modules/.bin"), process.env.PATH].join(":"),
      KEYWARD_DATABASE: server.database,
      KEYWARD_SERVER: server.grpcAddress,
    },
    timeout: 120_000,
  });
  return stdout;
}

/**
 * README bash blocks that are not run, each with why: they need what a test cannot have (root and a
 * system nginx, Docker). Every other bash block must be between run markers (the TLS block's are run by
 * readme-tls.test.ts).
 */
const NOT_RUN: Record<string, string> = {
  "KEYWARD_TRUSTED_PROXIES=1 npm start":
    "installs into the system nginx with sudo (test/proxies runs these files)",
  "docker run --rm -p 16686:16686 -p 4318:4318 jaegertracing/all-in-one": "needs Docker and Jaeger",
};

describe("README walkthrough", () => {
  it("runs every bash block of the README, but for those listed with a reason", () => {
    const readme = readFileSync("README.md", "utf8");
    const unmarked = [...readme.matchAll(/(<!-- [a-z-]+:start -->\s*)?```bash\n(.*)\n/g)]
      .filter((match) => match[1] === undefined)
      .map((match) => match[2] as string);
    expect(unmarked.length).toBe(Object.keys(NOT_RUN).length);
    for (const first of unmarked)
      expect(
        Object.keys(NOT_RUN).some((listed) => first.startsWith(listed)),
        first,
      ).toBe(true);
  });

  it("runs the metrics example after a decision", async () => {
    const { authorize } = server.clients();
    const { secret } = await server.clients(server.admin).keys.issueKey({ name: "metrics example" });
    await authorize.authorize({ apiKey: secret });
    const stdout = await runBlock("metrics");
    expect(stdout).toMatch(/^keyward_decisions_total\{entry="authorize",reason="allowed"\} [1-9]\d*$/m);
  });

  it("runs the hosted-API example: workspace defaults, a counted answer, a key with its own limits", async () => {
    const stdout = await runBlock("hosted-api");
    expect(stdout).toContain('"defaultTier": "basic"');
    expect(stdout).toMatch(/"rateLimit": \{\s*"limit": "100",\s*"remaining": "99"/);
    expect(stdout).toMatch(/"quota": \{\s*"limit": "10000",\s*"remaining": "9999"/);
    expect(stdout).toContain('"tier": "enterprise"');
    expect(stdout).toContain('"203.0.113.0/24"');
    expect(stdout).not.toMatch(/kw_live_[0-9A-Za-z]{49}/);
  });

  it("works as written, from bootstrap to a revoked key", async () => {
    const stdout = await runBlock("walkthrough");
    expect(stdout).toContain("keyward.v1.KeyService");
    const decisions = stdout.match(/"reason": "REASON_[A-Z_]+"/g);
    expect(decisions).toEqual([
      '"reason": "REASON_ALLOWED"',
      '"reason": "REASON_INSUFFICIENT_SCOPE"',
      '"reason": "REASON_KEY_REVOKED"',
    ]);
    expect(stdout).toContain('"missingScopes": [\n    "invoices:delete"\n  ]');
    expect(stdout).toContain('"status": "KEY_STATUS_REVOKED"');
    expect(stdout).toContain('"keyPrefix": "kw_live_'); // the non-secret display prefix, yes
    expect(stdout).not.toMatch(/kw_live_[0-9A-Za-z]{49}/); // a whole key, never
  });

  it("runs the keyward command's examples as written: issue, list, update, rotate, suspend, audit, limits, workspaces", {
    timeout: 150_000,
  }, async () => {
    const stdout = await runBlock("cli");
    // Two issued keys' secrets and one rotation's were printed, each alone on its line; never again.
    const secrets = stdout.match(/^kw_live_[0-9A-Za-z]{49}$/gm) ?? [];
    expect(secrets).toHaveLength(3);
    for (const secret of secrets) expect(stdout.split(secret)).toHaveLength(2);
    expect(stdout).toContain("billing"); // the table of active keys
    expect(stdout).toContain('"action": "key.rotated"');
    expect(stdout).toContain("partners");
  });

  it("runs the Connect protocol example with the walkthrough's key: JSON Authorize, healthz, readyz", async () => {
    const stdout = await runBlock("walkthrough", "connect");
    expect(stdout).toContain('"reason":"REASON_KEY_REVOKED"'); // revoked at the walkthrough's end
    expect(stdout).toContain("SERVING\n");
    expect(stdout).toContain("ready\n");
  });

  it("runs the workspace example: create, issue into it, list, audit", async () => {
    const stdout = await runBlock("workspaces");
    expect(stdout).toContain('"workspaceId": "acme"');
    expect(stdout).toContain('"maxKeys": 100');
    const keyId = /^key_[0-9A-Za-z]+$/m.exec(stdout)?.[0];
    expect(keyId).toMatch(/^key_/);
    expect(stdout).toContain(`"keyId": "${keyId}"`); // listed
    expect(stdout).toContain('"totalSize": 1');
    expect(stdout).toContain('"action": "key.issued"');
    expect(stdout).toContain(`"targetId": "${keyId}"`);
    expect(stdout).not.toMatch(/kw_live_[0-9A-Za-z]{49}/);
  });
});
