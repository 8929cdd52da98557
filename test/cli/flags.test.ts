import { timestampMs } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/cli/duration.js";
import { count, duration, metadataEntry, positiveDuration, timestamp } from "../../src/cli/flags.js";
import { keyUpdate } from "../../src/cli/key-update-command.js";
import { int64, rateLimit, refill } from "../../src/cli/limit-flags.js";
import { workspaceFields } from "../../src/cli/workspaces-commands.js";
import { Environment, RefillInterval } from "../../src/gen/keyward/v1/key_pb.js";

// Flag values and update masks, without a server: what the process tests would take a second each to show.

describe("durations", () => {
  it.each([
    ["30d", 2_592_000],
    ["12h", 43_200],
    ["90m", 5_400],
    ["3600s", 3_600],
    ["0", 0],
    ["0s", 0],
  ])("%s is %i seconds", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(["", "1", "1h30m", "-1h", "1.5h", "1w", " 1h", "1H", "99999999999999999d"])(
    "refuses %j",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );

  it("--ttl must be positive; --grace may be 0", () => {
    expect(() => positiveDuration("0")).toThrow(InvalidArgumentError);
    expect(positiveDuration("1h").seconds).toBe(3600n);
    expect(duration("0").seconds).toBe(0n);
  });
});

describe("other flag values", () => {
  it("timestamps need RFC 3339 with an offset", () => {
    expect(timestampMs(timestamp("2030-01-31T00:00:00Z"))).toBe(Date.UTC(2030, 0, 31));
    expect(timestampMs(timestamp("2030-01-31T02:00:00.5+02:00"))).toBe(Date.UTC(2030, 0, 31, 0, 0, 0, 500));
    for (const text of ["2030", "2030-01-31", "2030-01-31T00:00:00", "2030-02-31T00:00:00Z", "tomorrow"]) {
      expect(() => timestamp(text), text).toThrow(InvalidArgumentError);
    }
  });

  it("metadata collects key=value pairs; the value may hold '='", () => {
    expect(metadataEntry("b=x=y", metadataEntry("a=1"))).toEqual({ a: "1", b: "x=y" });
    expect(metadataEntry("empty=")).toEqual({ empty: "" });
    expect(() => metadataEntry("novalue")).toThrow(InvalidArgumentError);
    expect(() => metadataEntry("=v")).toThrow(InvalidArgumentError);
  });

  it("counts are whole int32 numbers", () => {
    expect(count("0")).toBe(0);
    expect(count("1000")).toBe(1000);
    for (const text of ["-1", "1.5", "ten", "", "2147483648"]) expect(() => count(text), text).toThrow();
  });
});

describe("update masks name exactly the flags given", () => {
  const server = { server: "localhost:50051" };

  it("keys", () => {
    expect(keyUpdate("key_1", { ...server, scope: ["a:read"] }).updateMask.paths).toEqual(["scopes"]);
    const all = keyUpdate("key_1", {
      ...server,
      name: "n",
      description: "",
      scope: ["a:read"],
      class: ["gpu"],
      expires: timestamp("2030-01-31T00:00:00Z"),
      owner: "o",
      meta: { k: "v" },
    });
    expect(all.updateMask.paths).toEqual([
      "name",
      "description",
      "scopes",
      "classes",
      "expire_time",
      "owner_id",
      "metadata",
    ]);
    expect(all.key).toMatchObject({ keyId: "key_1", name: "n", scopes: ["a:read"], ownerId: "o" });
    // commander sets `expiry: true` when --no-expiry is absent: that must not touch expire_time.
    expect(keyUpdate("key_1", { ...server, expiry: true }).updateMask.paths).toEqual([]);
    const cleared = keyUpdate("key_1", { ...server, expiry: false });
    expect(cleared.updateMask.paths).toEqual(["expire_time"]);
    expect(cleared.key.expireTime).toBeUndefined();
  });

  it("workspaces", () => {
    expect(workspaceFields("acme", { ...server, maxKeys: 0 }).updateMask.paths).toEqual(["max_keys"]);
    const all = workspaceFields("acme", {
      ...server,
      displayName: "Acme",
      maxKeys: 5,
      defaultPrefix: "ac",
      defaultEnv: Environment.TEST,
    });
    expect(all.updateMask.paths).toEqual([
      "display_name",
      "max_keys",
      "default_key_prefix",
      "default_environment",
    ]);
    expect(all.workspace).toMatchObject({
      workspaceId: "acme",
      maxKeys: 5,
      defaultEnvironment: Environment.TEST,
    });
  });
});

describe("limit flags (issue 12)", () => {
  const server = { server: "localhost:50051" };

  it("--rate-limit takes requests/window; --refill amount/daily or /monthly", () => {
    expect(rateLimit("100/1m")).toMatchObject({ limit: 100n, window: { seconds: 60n } });
    for (const bad of ["100", "100/", "/1m", "100/1m/2", "x/1m", "100/0"]) {
      expect(() => rateLimit(bad)).toThrow(InvalidArgumentError);
    }
    expect(refill("100/monthly")).toMatchObject({ amount: 100n, interval: RefillInterval.MONTHLY });
    expect(refill("5/daily")).toMatchObject({ amount: 5n, interval: RefillInterval.DAILY });
    expect(() => refill("5/weekly")).toThrow(InvalidArgumentError);
    expect(int64("50000")).toBe(50_000n);
    expect(() => int64("-1")).toThrow(InvalidArgumentError);
  });

  it("keys update masks each limit flag given, and a --no- flag clears its field", () => {
    const set = keyUpdate("key_1", {
      ...server,
      tier: "pro",
      rateLimit: rateLimit("10/1s"),
      monthlyQuota: 5n,
      credits: 7n,
      refill: refill("7/daily"),
      allowCidr: ["10.0.0.0/8"],
    });
    expect(set.updateMask.paths).toEqual(["tier", "rate_limit", "monthly_quota", "credits", "allowed_cidrs"]);
    expect(set.key.credits).toMatchObject({ remaining: 7n, refill: { amount: 7n } });
    const cleared = keyUpdate("key_1", { ...server, rateLimit: false, credits: false, allowCidr: false });
    expect(cleared.updateMask.paths).toEqual(["rate_limit", "credits", "allowed_cidrs"]);
    expect(cleared.key.rateLimit).toBeUndefined();
    expect(cleared.key.credits).toBeUndefined();
    expect(cleared.key.allowedCidrs).toEqual([]);
  });

  it("workspaces update masks --default-tier and --default-monthly-quota", () => {
    const { workspace, updateMask } = workspaceFields("w", {
      ...server,
      defaultTier: "basic",
      defaultMonthlyQuota: 10_000n,
    });
    expect(updateMask.paths).toEqual(["default_tier", "default_monthly_quota"]);
    expect(workspace).toMatchObject({ defaultTier: "basic", defaultMonthlyQuota: 10_000n });
  });
});
