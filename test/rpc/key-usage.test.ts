import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { testClock } from "../support/start-server.js";
import { useServer } from "../support/use-server.js";

// Issue 12, shown: Key.usage and last_used_time in GetKey, ListKeys and the changes' responses come
// from the store, so they trail the decisions by up to KEYWARD_USAGE_FLUSH (short here, and polled).

const NOON = 12 * 3_600_000;
const DAY = 86_400_000;

// Noon UTC of today: the calls of a test never straddle midnight, so "today" holds all of them.
const clock = testClock();
clock.advance(Math.floor(Date.now() / DAY) * DAY + NOON - Date.now());

describe("key usage through KeyService", () => {
  const server = useServer({ env: { KEYWARD_USAGE_FLUSH: "50ms" }, clock });

  it("counts allowed and denied calls, not dry runs, and shows them with the last use", async () => {
    const { keys } = server.clients(server.admin);
    const used = await keys.issueKey({ name: "used", scopes: ["orders:read"] });
    const unused = await keys.issueKey({ name: "unused", scopes: ["orders:read"] });
    const keyId = used.key?.keyId ?? "";
    const zeros = { requestsToday: 0n, requestsThisMonth: 0n, deniedThisMonth: 0n };
    expect(used.key?.usage).toMatchObject(zeros);

    const before = server.clock.now();
    const { authorize } = server.clients();
    const apiKey = used.secret;
    for (let i = 0; i < 5; i++) expect((await authorize.authorize({ apiKey })).allowed).toBe(true);
    for (let i = 0; i < 2; i++) {
      const denied = await authorize.authorize({ apiKey, requiredScopes: ["orders:write"] });
      expect(denied.reason).toBe(Reason.INSUFFICIENT_SCOPE);
    }
    expect((await authorize.authorize({ apiKey, dryRun: true })).allowed).toBe(true);

    const expected = { requestsToday: 5n, requestsThisMonth: 5n, deniedThisMonth: 2n };
    await expect
      .poll(async () => (await keys.getKey({ keyId })).key?.usage, { timeout: 5_000, interval: 50 })
      .toMatchObject(expected);
    const key = (await keys.getKey({ keyId })).key;
    expect(key?.usage).toMatchObject(expected);
    expect(key?.lastUsedTime && timestampMs(key.lastUsedTime)).toBeGreaterThanOrEqual(before);
    expect(key?.lastUsedTime && timestampMs(key.lastUsedTime)).toBeLessThanOrEqual(server.clock.now());

    const listed = (await keys.listKeys({})).keys;
    expect(listed.find((k) => k.keyId === keyId)).toMatchObject({ usage: expected });
    const idle = listed.find((k) => k.keyId === unused.key?.keyId);
    expect(idle?.usage).toMatchObject(zeros);
    expect(idle?.lastUsedTime).toBeUndefined();
    expect((await keys.getKey({ keyId: unused.key?.keyId ?? "" })).key?.usage).toMatchObject(zeros);

    // A change's response shows the key's usage too; the replacement of a rotation starts at zero.
    expect((await keys.suspendKey({ keyId, reason: "audit" })).key?.usage).toMatchObject(expected);
    expect((await keys.resumeKey({ keyId })).key?.usage).toMatchObject(expected);
    const updated = await keys.updateKey({
      key: { keyId, name: "renamed" },
      updateMask: { paths: ["name"] },
    });
    expect(updated.key?.usage).toMatchObject(expected);
    const rotated = await keys.rotateKey({ keyId });
    expect(rotated.previousKey?.usage).toMatchObject(expected);
    expect(rotated.key?.usage).toMatchObject(zeros);
  });

  it("counts a day's requests in today until the day is over, and in the month until it is", async () => {
    const { keys } = server.clients(server.admin);
    const { key, secret: apiKey } = await keys.issueKey({ name: "across days", scopes: ["orders:read"] });
    const keyId = key?.keyId ?? "";
    const usage = async () => (await keys.getKey({ keyId })).key?.usage;
    const { authorize } = server.clients();
    for (let i = 0; i < 3; i++) await authorize.authorize({ apiKey });
    await expect.poll(usage, { timeout: 5_000, interval: 50 }).toMatchObject({ requestsToday: 3n });

    const sameMonth = new Date(server.clock.now() + DAY).getUTCDate() > 1;
    server.clock.advance(DAY);
    await authorize.authorize({ apiKey });
    await expect
      .poll(usage, { timeout: 5_000, interval: 50 })
      .toMatchObject({ requestsToday: 1n, requestsThisMonth: sameMonth ? 4n : 1n, deniedThisMonth: 0n });
  });
});
