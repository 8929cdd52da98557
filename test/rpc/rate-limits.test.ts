import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import {
  envoyCheckRequest,
  envoyClient,
  expectAllowed,
  expectDenied,
  headerOptions,
} from "../envoy/envoy-request.js";
import { useServer } from "../support/use-server.js";

// Issue 12: a key's rate limit (its own, else its tier's) through Authorize and Envoy Check, with the
// server's clock moved by hand. Checked last: a request denied for any other reason, and a dry run,
// consume nothing. (Across workers: test/process/rate-limit-workers.test.ts.)

const minute = { seconds: 60n };

describe("rate limits through Authorize", () => {
  const server = useServer();

  async function issue(fields: Record<string, unknown>): Promise<string> {
    const { keys } = server.clients(server.admin);
    return (await keys.issueKey({ name: "limited", scopes: ["orders:read"], ...fields })).secret;
  }

  it("lets 10 of 11 calls on a free-tier key through, then 429 with retry_after, until the window moves", async () => {
    const apiKey = await issue({ tier: "free" });
    const { authorize } = server.clients();
    const answers = [];
    for (let i = 0; i < 11; i++) answers.push(await authorize.authorize({ apiKey }));
    expect(answers.slice(0, 10).every((a) => a.allowed)).toBe(true);
    expect(answers.slice(0, 10).map((a) => Number(a.rateLimit?.remaining))).toEqual([
      9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    ]);
    const denied = answers[10];
    expect(denied?.reason).toBe(Reason.RATE_LIMITED);
    expect(denied?.httpStatus).toBe(429);
    expect(denied?.message).toBe("Rate limit exceeded");
    expect(denied?.rateLimit?.limit).toBe(10n);
    expect(denied?.rateLimit?.remaining).toBe(0n);
    const wait = denied?.retryAfter && durationMs(denied.retryAfter);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(61_000);
    expect(denied?.rateLimit?.resetTime && timestampMs(denied.rateLimit.resetTime)).toBeGreaterThan(
      server.clock.now(),
    );
    server.clock.advance(wait as number);
    expect((await authorize.authorize({ apiKey })).allowed).toBe(true);
  });

  it("uses the key's own rate limit over its tier's", async () => {
    const apiKey = await issue({ tier: "enterprise", rateLimit: { limit: 3n, window: minute } });
    const { authorize } = server.clients();
    const reasons = [];
    for (let i = 0; i < 4; i++) reasons.push((await authorize.authorize({ apiKey })).reason);
    expect(reasons).toEqual([Reason.ALLOWED, Reason.ALLOWED, Reason.ALLOWED, Reason.RATE_LIMITED]);
  });

  it("consumes nothing for dry runs and for requests denied for another reason", async () => {
    const apiKey = await issue({ rateLimit: { limit: 2n, window: minute } });
    const { authorize } = server.clients();
    for (let i = 0; i < 5; i++) {
      const dry = await authorize.authorize({ apiKey, dryRun: true });
      expect(dry.allowed).toBe(true);
      // What would remain after this request, every time: nothing was taken.
      expect(dry.rateLimit?.remaining).toBe(1n);
      const wrongScope = await authorize.authorize({ apiKey, requiredScopes: ["orders:write"] });
      expect(wrongScope.reason).toBe(Reason.INSUFFICIENT_SCOPE);
    }
    const real = [];
    for (let i = 0; i < 3; i++) real.push((await authorize.authorize({ apiKey })).reason);
    expect(real).toEqual([Reason.ALLOWED, Reason.ALLOWED, Reason.RATE_LIMITED]);
    // A dry run answers as the real request would, and still consumes nothing.
    expect((await authorize.authorize({ apiKey, dryRun: true })).reason).toBe(Reason.RATE_LIMITED);
  });

  it("counts a request's cost", async () => {
    const apiKey = await issue({ rateLimit: { limit: 10n, window: minute } });
    const { authorize } = server.clients();
    expect((await authorize.authorize({ apiKey, cost: 6n })).rateLimit?.remaining).toBe(4n);
    expect((await authorize.authorize({ apiKey, cost: 6n })).reason).toBe(Reason.RATE_LIMITED);
    expect((await authorize.authorize({ apiKey, cost: 4n })).allowed).toBe(true);
  });

  it("refuses a cost below 0 or above 1,000,000 as INVALID_ARGUMENT", async () => {
    const apiKey = await issue({ tier: "free" });
    const { authorize } = server.clients();
    for (const cost of [-1n, 1_000_001n]) {
      const error = await authorize.authorize({ apiKey, cost }).catch((e: unknown) => ConnectError.from(e));
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      expect((error as ConnectError).rawMessage).toContain("cost");
    }
  });

  it("leaves a key without tier or rate limit unlimited, with no rate_limit in the answer", async () => {
    const apiKey = await issue({});
    const { authorize } = server.clients();
    for (let i = 0; i < 20; i++) {
      const answer = await authorize.authorize({ apiKey });
      expect(answer.allowed).toBe(true);
      expect(answer.rateLimit).toBeUndefined();
    }
  });
});

describe("rate limits through Envoy Check", () => {
  const server = useServer();
  let envoy: ReturnType<typeof envoyClient>;
  let secret: string;

  beforeAll(async () => {
    const { keys } = server.clients(server.admin);
    secret = (
      await keys.issueKey({ name: "edge", scopes: ["orders:read"], rateLimit: { limit: 2n, window: minute } })
    ).secret;
    envoy = server.own(envoyClient(server.grpcAddress));
  });

  const check = (extensions: Record<string, string> = {}) =>
    envoy.check(
      envoyCheckRequest({
        headers: { "x-api-key": secret },
        contextExtensions: { "keyward.scopes": "orders:read", ...extensions },
      }),
    );

  it("adds x-ratelimit-* for the client on allowed answers, and answers 429 with retry-after and a JSON body", async () => {
    const first = expectAllowed(await check());
    const reset = headerOptions(first.responseHeadersToAdd)["x-ratelimit-reset"]?.value;
    expect(headerOptions(first.responseHeadersToAdd)).toMatchObject({
      "x-ratelimit-limit": { value: "2" },
      "x-ratelimit-remaining": { value: "1" },
    });
    expect(Number(reset) * 1000).toBeGreaterThan(server.clock.now());
    expect(
      headerOptions(expectAllowed(await check()).responseHeadersToAdd)["x-ratelimit-remaining"]?.value,
    ).toBe("0");

    const response = await check();
    const body = expectDenied(response, 429, "rate_limited");
    expect(body.error.message).toBe("Rate limit exceeded");
    expect(body.error.details).toMatchObject({ limit: "rate_limit", limit_value: 2 });
    if (response.httpResponse.case !== "deniedResponse") throw new Error("not denied");
    const headers = headerOptions(response.httpResponse.value.headers);
    expect(headers["x-ratelimit-remaining"]?.value).toBe("0");
    expect(Number(headers["retry-after"]?.value)).toBeGreaterThan(0);
  });

  it("takes a route's cost from keyward.cost, and refuses a bad one as a configuration error", async () => {
    server.clock.advance(120_000); // a fresh window
    expect(
      headerOptions(expectAllowed(await check({ "keyward.cost": "2" })).responseHeadersToAdd),
    ).toMatchObject({
      "x-ratelimit-remaining": { value: "0" },
    });
    const failed = await envoy.result(
      envoyCheckRequest({
        headers: { "x-api-key": secret },
        contextExtensions: { "keyward.scopes": "orders:read", "keyward.cost": "lots" },
      }),
    );
    expect(failed.ok).toBe(false);
  });
});
