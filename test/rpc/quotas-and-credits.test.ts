import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { nextDayStart, nextMonthStart } from "../../src/domain/usage-period.js";
import { Reason, RefillInterval } from "../../src/gen/keyward/v1/key_pb.js";
import { useServer } from "../support/use-server.js";

// Issue 12: monthly quotas and credits through Authorize, with the server's clock moved by hand across
// month and day boundaries, and across a restart (the counts come back from the store). Checked after
// the rate limit; a request denied for any reason consumes nothing.

describe("monthly quotas and credits through Authorize", () => {
  const server = useServer();

  async function issue(fields: Record<string, unknown>): Promise<{ apiKey: string; keyId: string }> {
    const { keys } = server.clients(server.admin);
    const issued = await keys.issueKey({ name: "counted", scopes: ["orders:read"], ...fields });
    return { apiKey: issued.secret, keyId: issued.key?.keyId ?? "" };
  }

  it("allows the monthly quota, then QUOTA_EXCEEDED (429) until the next calendar month", async () => {
    const { apiKey } = await issue({ monthlyQuota: 3n });
    const { authorize } = server.clients();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await authorize.authorize({ apiKey }));
    expect(answers.slice(0, 3).map((a) => [a.allowed, Number(a.quota?.remaining)])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ]);
    const denied = answers[3];
    const monthEnd = nextMonthStart(server.clock.now());
    expect(denied?.reason).toBe(Reason.QUOTA_EXCEEDED);
    expect(denied?.httpStatus).toBe(429);
    expect(denied?.message).toBe("Monthly quota exceeded");
    expect(denied?.quota?.limit).toBe(3n);
    expect(denied?.quota?.remaining).toBe(0n);
    expect(denied?.quota?.resetTime && timestampMs(denied.quota.resetTime)).toBe(monthEnd);
    const wait = denied?.retryAfter && durationMs(denied.retryAfter);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(monthEnd - server.clock.now() + 1000);

    server.clock.advance(monthEnd - server.clock.now() + 1);
    const nextMonth = await authorize.authorize({ apiKey });
    expect(nextMonth.allowed).toBe(true);
    expect(nextMonth.quota?.remaining).toBe(2n);
  });

  it("keeps the month's count across a restart", async () => {
    const { apiKey } = await issue({ monthlyQuota: 3n });
    for (let i = 0; i < 2; i++)
      expect((await server.clients().authorize.authorize({ apiKey })).allowed).toBe(true);
    await server.restart(); // stopping flushes the counts; the new server reads them back on first use
    const { authorize } = server.clients();
    const reasons = [];
    for (let i = 0; i < 2; i++) reasons.push((await authorize.authorize({ apiKey })).reason);
    expect(reasons).toEqual([Reason.ALLOWED, Reason.QUOTA_EXCEEDED]);
  });

  it("spends credits by cost, refuses with CREDITS_EXHAUSTED, and refills at the next period", async () => {
    const { apiKey } = await issue({
      credits: { remaining: 3n, refill: { amount: 2n, interval: RefillInterval.DAILY } },
    });
    const { authorize } = server.clients();
    const first = await authorize.authorize({ apiKey, cost: 2n });
    expect([first.allowed, first.creditsRemaining]).toEqual([true, 1n]);
    const tooDear = await authorize.authorize({ apiKey, cost: 2n });
    expect(tooDear.reason).toBe(Reason.CREDITS_EXHAUSTED);
    expect(tooDear.httpStatus).toBe(429);
    expect(tooDear.creditsRemaining).toBe(1n);
    const dayEnd = nextDayStart(server.clock.now());
    expect(tooDear.retryAfter && durationMs(tooDear.retryAfter)).toBeLessThanOrEqual(
      dayEnd - server.clock.now() + 1000,
    );
    const last = await authorize.authorize({ apiKey });
    expect([last.allowed, last.creditsRemaining]).toEqual([true, 0n]);
    expect((await authorize.authorize({ apiKey })).reason).toBe(Reason.CREDITS_EXHAUSTED);

    server.clock.advance(dayEnd - server.clock.now() + 1);
    const refilled = await authorize.authorize({ apiKey });
    expect([refilled.allowed, refilled.creditsRemaining]).toEqual([true, 1n]);
  });

  it("never refills credits without a refill, and says no wait helps", async () => {
    const { apiKey } = await issue({ credits: { remaining: 1n } });
    const { authorize } = server.clients();
    expect((await authorize.authorize({ apiKey })).allowed).toBe(true);
    const denied = await authorize.authorize({ apiKey });
    expect(denied.reason).toBe(Reason.CREDITS_EXHAUSTED);
    expect(denied.retryAfter).toBeUndefined();
  });

  it("takes a balance set anew by UpdateKey at once", async () => {
    const { apiKey, keyId } = await issue({ credits: { remaining: 1n } });
    const { authorize } = server.clients();
    expect((await authorize.authorize({ apiKey })).allowed).toBe(true);
    expect((await authorize.authorize({ apiKey })).reason).toBe(Reason.CREDITS_EXHAUSTED);
    const { keys } = server.clients(server.admin);
    await keys.updateKey({ key: { keyId, credits: { remaining: 5n } }, updateMask: { paths: ["credits"] } });
    const after = await authorize.authorize({ apiKey });
    expect([after.allowed, after.creditsRemaining]).toEqual([true, 4n]);
  });

  it("keeps the balance across a restart", async () => {
    const { apiKey } = await issue({ credits: { remaining: 3n } });
    for (let i = 0; i < 2; i++)
      expect((await server.clients().authorize.authorize({ apiKey })).allowed).toBe(true);
    await server.restart();
    const { authorize } = server.clients();
    const reasons = [];
    for (let i = 0; i < 2; i++) reasons.push((await authorize.authorize({ apiKey })).reason);
    expect(reasons).toEqual([Reason.ALLOWED, Reason.CREDITS_EXHAUSTED]);
  });

  it("checks the quota before credits, and a refusal by either consumes neither", async () => {
    const { apiKey } = await issue({ monthlyQuota: 2n, credits: { remaining: 1n } });
    const { authorize } = server.clients();
    const first = await authorize.authorize({ apiKey });
    expect([first.allowed, first.quota?.remaining, first.creditsRemaining]).toEqual([true, 1n, 0n]);
    const second = await authorize.authorize({ apiKey });
    expect(second.reason).toBe(Reason.CREDITS_EXHAUSTED);
    expect(second.quota?.remaining).toBe(1n); // the refused request took no quota
    expect((await authorize.authorize({ apiKey, dryRun: true })).reason).toBe(Reason.CREDITS_EXHAUSTED);
  });
});
