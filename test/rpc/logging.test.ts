import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { decisionObserver } from "../../src/transport/decision-observer.js";
import { makeKey } from "../support/fixtures.js";
import { loggedLines } from "../support/log-lines.js";
import { useServer } from "../support/use-server.js";

// Issue 15: pino JSON lines; one line per management action and, when sampled, per decision, each with
// the call's x-request-id; credentials never in a line.

describe("a server logging every decision (KEYWARD_DECISION_LOG_SAMPLE=1)", () => {
  const server = useServer({ env: { KEYWARD_DECISION_LOG_SAMPLE: "1" } });

  it("logs a decision line with the reason, the key id and the request id, never the key", async () => {
    const admin = server.clients(server.admin);
    const issued = await admin.keys.issueKey(
      { name: "reader" },
      { headers: { "x-request-id": "req-issue-7" } },
    );
    const { authorize } = server.clients();
    await authorize.authorize({ apiKey: issued.secret }, { headers: { "x-request-id": "req-auth-1" } });
    await authorize.authorize({ apiKey: "" });
    await fetch(`${server.httpUrl}/authz/forward-auth`, {
      headers: { "x-forwarded-method": "GET", "x-forwarded-uri": "/v1/orders", "x-request-id": "req-fwd-2" },
    });

    const output = server.logs.join("");
    const decisions = loggedLines(output, "decision");
    expect(decisions).toContainEqual(
      expect.objectContaining({
        level: "info",
        entry: "authorize",
        reason: "allowed",
        key_id: issued.key?.keyId,
        request_id: "req-auth-1",
      }),
    );
    expect(decisions).toContainEqual(expect.objectContaining({ reason: "missing_credential" }));
    // Forward auth's request id comes from the auth request's own headers.
    expect(decisions).toContainEqual(
      expect.objectContaining({ entry: "forward_auth", request_id: "req-fwd-2" }),
    );
    expect(
      decisions.every((line) => typeof line.duration_ms === "number" && typeof line.time === "string"),
    ).toBe(true);
    // One line per management action, with its request id.
    expect(loggedLines(output, "key issued")).toEqual([
      expect.objectContaining({ key_id: issued.key?.keyId, workspace: "default", request_id: "req-issue-7" }),
    ]);
    expect(output).not.toContain(issued.secret);
    expect(output).not.toContain(server.admin);
  });
});

describe("a server with the default sample (0)", () => {
  const server = useServer();

  it("logs no decision", async () => {
    const { authorize } = server.clients();
    await authorize.authorize({ apiKey: "" });
    expect(loggedLines(server.logs.join(""), "decision")).toEqual([]);
  });
});

describe("the start-up line", () => {
  const server = useServer({
    env: { KEYWARD_REDIS_URL: "redis://:topsecret@127.0.0.1:1", KEYWARD_CACHE_SIZE: "5000" },
  });

  it("says the version, listeners, store and cache settings, and no password", () => {
    const output = server.logs.join("");
    const [line] = loggedLines(output, "keyward serving");
    expect(line).toMatchObject({
      version: "0.1.0",
      grpc: server.grpcAddress,
      http: server.httpUrl.replace("http://", ""),
      metrics: "on the http listener",
      cache: { keys: 5000, ttl_ms: 30_000, absent: 10_000 },
      tiers: "defaults",
      redis: "redis://:***@127.0.0.1:1",
      decision_log_sample: 0,
    });
    expect(output).not.toContain("topsecret");
  });
});

describe("decisionObserver", () => {
  const decision = { reason: "allowed" as const, key: undefined, missingScopes: [] };

  it("logs the sampled share only, and counts every decision", () => {
    const lines: string[] = [];
    const log = createLogger("info", (line) => lines.push(line));
    const counted: string[] = [];
    const draws = [0.4, 0.6];
    const observe = decisionObserver(
      "check",
      (reason) => counted.push(reason),
      log,
      0.5,
      () => draws.shift() ?? 1,
    );
    observe(decision, performance.now(), { headers: { "x-request-id": "a" } });
    observe(decision, performance.now(), { headers: { "x-request-id": "b" } });
    expect(counted).toEqual(["allowed", "allowed"]);
    expect(loggedLines(lines.join(""), "decision").map((line) => line.request_id)).toEqual(["a"]);
  });
});

describe("createLogger", () => {
  it("redacts credential-named fields and scrubs anything shaped like a key", () => {
    const lines: string[] = [];
    const log = createLogger("debug", (line) => lines.push(line));
    const key = makeKey().secret;
    log.debug("careless", { secret: "s3cret", headers: { authorization: "Bearer x" }, note: `a key ${key}` });
    expect(lines.join("")).not.toContain("s3cret");
    expect(lines.join("")).not.toContain("Bearer x");
    expect(lines.join("")).not.toContain(key);
    const [line] = loggedLines(lines.join(""), "careless");
    expect(line).toMatchObject({ secret: "[redacted]", headers: { authorization: "[redacted]" } });
  });

  it("writes pretty lines with KEYWARD_LOG_FORMAT=pretty", () => {
    const lines: string[] = [];
    createLogger("info", (line) => lines.push(line), "pretty").info("hello", { n: 1 });
    expect(lines.join("")).toMatch(/INFO.*hello/);
    expect(lines.join("")).not.toContain('"msg"');
  });
});
