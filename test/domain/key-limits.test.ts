import { describe, expect, it } from "vitest";
import { creditsError, normalizeCidrs, rateLimitError } from "../../src/domain/key-limits.js";
import { DEFAULT_TIERS, parseTiers, tierError } from "../../src/domain/tiers.js";

// Validation of a key's limits (issue 12), without a server; test/rpc/key-limits.test.ts has the wire.

describe("normalizeCidrs", () => {
  it("gives canonical text, a bare address as /32 or /128, duplicates once", () => {
    expect(normalizeCidrs(["10.0.0.0/8", "192.0.2.7", "192.0.2.7/32", "2001:DB8::/32", "::1"])).toEqual({
      cidrs: ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128"],
    });
  });

  it.each(["", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0", "example.com", "fe80::1%eth0", "10.0.0.0/08"])(
    "refuses %j, naming allowed_cidrs",
    (text) => {
      expect(normalizeCidrs([text])).toMatchObject({ error: expect.stringContaining("allowed_cidrs") });
    },
  );

  it("refuses host bits, suggesting the network meant, and caps the list at 100", () => {
    expect(normalizeCidrs(["10.1.2.3/8"])).toMatchObject({ error: expect.stringContaining("10.0.0.0/8") });
    expect(normalizeCidrs(Array.from({ length: 101 }, () => "10.0.0.1"))).toEqual({
      error: "at most 100 allowed_cidrs",
    });
  });
});

describe("limit ranges", () => {
  it("rate limits need limit ≥ 1 and a window from 1s to 24h", () => {
    expect(rateLimitError({ limit: 1, windowMs: 1_000 })).toBeUndefined();
    expect(rateLimitError({ limit: 1, windowMs: 86_400_000 })).toBeUndefined();
    expect(rateLimitError({ limit: 0, windowMs: 1_000 })).toContain("limit");
    expect(rateLimitError({ limit: 1, windowMs: 999 })).toContain("window");
    expect(rateLimitError({ limit: 1, windowMs: 86_400_001 })).toContain("window");
  });

  it("credits need remaining ≥ 0 and a refill amount ≥ 1", () => {
    expect(creditsError({ remaining: 0, refill: undefined })).toBeUndefined();
    expect(creditsError({ remaining: -1, refill: undefined })).toContain("remaining");
    expect(creditsError({ remaining: 1, refill: { amount: 0, interval: "daily" } })).toContain("amount");
  });
});

describe("tiers", () => {
  it("names an unknown tier and the known ones", () => {
    expect(tierError(DEFAULT_TIERS, "pro")).toBeUndefined();
    expect(tierError(DEFAULT_TIERS, "gold")).toBe(
      'unknown tier "gold": expected one of free, basic, pro, enterprise',
    );
  });

  it("parses a file's tiers in its order", () => {
    expect(parseTiers("tiers:\n  b: { limit: 2, window: 1h }\n  a: { limit: 1, window: 30s }\n")).toEqual({
      tiers: new Map([
        ["b", { limit: 2, windowMs: 3_600_000 }],
        ["a", { limit: 1, windowMs: 30_000 }],
      ]),
    });
  });

  it.each([
    ["", "tiers:"],
    ["tiers: {}", "tiers:"],
    ["tiers: [free]", "tiers:"],
    ["tiers:\n  free: 10\n", "limit"],
    ["tiers:\n  free: { limit: 1.5, window: 1m }\n", "limit"],
    ["tiers:\n  free: { limit: 1, window: 60 }\n", "window"],
  ])("refuses %j", (text, named) => {
    const parsed = parseTiers(text);
    expect("error" in parsed && parsed.error).toContain(named);
  });
});
