import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodePageToken, encodePageToken, pageSize } from "../../src/domain/page-token.js";
import { FIXTURE_NOW } from "../support/fixtures.js";

const QUERY = JSON.stringify(["acme", "active", undefined, "", ""]);

describe("page tokens", () => {
  it("round-trip a cursor for the same query", () => {
    const cursor = { time: FIXTURE_NOW, id: "key_abc" };
    expect(decodePageToken(encodePageToken(cursor, QUERY), QUERY)).toEqual({ cursor });
  });

  it("round-trip any position and query", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0 }), fc.string(), fc.string(), (time, id, query) => {
        expect(decodePageToken(encodePageToken({ time, id }, query), query)).toEqual({
          cursor: { time, id },
        });
      }),
    );
  });

  it("are opaque URL-safe text", () => {
    const token = encodePageToken({ time: FIXTURE_NOW, id: "key_/+=?" }, "q/+=?");
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("refuse a token of another query, saying so", () => {
    const token = encodePageToken({ time: FIXTURE_NOW, id: "key_abc" }, QUERY);
    for (const other of [JSON.stringify(["other", "active", undefined, "", ""]), "workspaces", ""]) {
      const decoded = decodePageToken(token, other);
      expect(decoded, other).toEqual({ error: expect.stringContaining("another query") });
    }
  });

  it.each([
    ["not base64url JSON", "!!!not a token!!!"],
    ["plain text", "hello"],
    [
      "JSON of the wrong shape",
      Buffer.from(JSON.stringify({ t: "1", i: "x", q: QUERY })).toString("base64url"),
    ],
    ["JSON without a query", Buffer.from(JSON.stringify({ t: 1, i: "x" })).toString("base64url")],
    ["a JSON array", Buffer.from("[1,2,3]").toString("base64url")],
    ["JSON null", Buffer.from("null").toString("base64url")],
  ])("refuse garbage: %s", (_, token) => {
    expect(decodePageToken(token, QUERY)).toEqual({ error: "page_token is not valid" });
  });

  it("read an empty token as the first page", () => {
    expect(decodePageToken("", QUERY)).toEqual({ cursor: undefined });
  });
});

describe("pageSize", () => {
  it("reads 0 as the default", () => {
    expect(pageSize(0)).toBe(100);
    expect(pageSize(0, 25)).toBe(25);
  });

  it("accepts 1 through the maximum", () => {
    expect(pageSize(1)).toBe(1);
    expect(pageSize(1000)).toBe(1000);
    expect(pageSize(10, 100, 10)).toBe(10);
  });

  it.each([-1, 1001, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("refuses %d, naming the range", (size) => {
    expect(pageSize(size)).toBe("page_size must be 0–1000");
  });

  it("names a custom maximum", () => {
    expect(pageSize(11, 100, 10)).toBe("page_size must be 0–10");
  });
});
