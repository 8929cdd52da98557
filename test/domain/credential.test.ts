import { describe, expect, it } from "vitest";
import { bearerToken, credentialFromHeaders } from "../../src/domain/credential.js";

describe("credentialFromHeaders", () => {
  it.each(["x-api-key", "X-API-Key", "X-Api-Key", "X-API-KEY"])("reads the %s header", (name) => {
    expect(credentialFromHeaders({ [name]: "kw_live_abc" })).toBe("kw_live_abc");
  });

  it.each([
    ["authorization", "Bearer kw_live_abc"],
    ["Authorization", "bearer kw_live_abc"],
    ["AUTHORIZATION", "BEARER kw_live_abc"],
    ["authorization", "BeArEr kw_live_abc"],
  ])("reads the token of %s: %s", (name, value) => {
    expect(credentialFromHeaders({ [name]: value })).toBe("kw_live_abc");
  });

  it("trims surrounding whitespace from x-api-key", () => {
    expect(credentialFromHeaders({ "x-api-key": "  kw_live_abc\t" })).toBe("kw_live_abc");
  });

  it("prefers x-api-key over authorization, in either header order", () => {
    const fromKey = "kw_live_fromkey";
    const fromBearer = "kw_live_frombearer";
    expect(credentialFromHeaders({ "x-api-key": fromKey, authorization: `Bearer ${fromBearer}` })).toBe(
      fromKey,
    );
    expect(credentialFromHeaders({ authorization: `Bearer ${fromBearer}`, "x-api-key": fromKey })).toBe(
      fromKey,
    );
  });

  it("ignores Basic and other non-Bearer schemes", () => {
    expect(credentialFromHeaders({ authorization: "Basic dXNlcjpwYXNz" })).toBeUndefined();
    expect(credentialFromHeaders({ authorization: "Token kw_live_abc" })).toBeUndefined();
    expect(credentialFromHeaders({ authorization: "Basic dXNlcjpwYXNz", "x-api-key": "k" })).toBe("k");
  });

  it("finds nothing in empty or whitespace-only values", () => {
    expect(credentialFromHeaders({})).toBeUndefined();
    expect(credentialFromHeaders({ "x-api-key": "" })).toBeUndefined();
    expect(credentialFromHeaders({ "x-api-key": "   " })).toBeUndefined();
    expect(credentialFromHeaders({ authorization: "" })).toBeUndefined();
    expect(credentialFromHeaders({ authorization: "Bearer    " })).toBeUndefined();
  });

  it("falls back to the bearer token when x-api-key is blank", () => {
    expect(credentialFromHeaders({ "x-api-key": " ", authorization: "Bearer kw_live_abc" })).toBe(
      "kw_live_abc",
    );
  });

  it("finds the key among 1000 unrelated headers, including same-length lookalikes", () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) headers[`x-unrelated-${i}`] = `value ${i}`;
    headers["x-api-kez"] = "not the key"; // 9 characters, like x-api-key
    headers.authorisation = "Bearer not-the-key"; // 13 characters, like authorization
    headers["X-Api-Key"] = "kw_live_abc";
    for (let i = 1000; i < 1010; i++) headers[`x-unrelated-${i}`] = `value ${i}`;
    expect(credentialFromHeaders(headers)).toBe("kw_live_abc");

    delete headers["X-Api-Key"];
    headers.Authorization = "Bearer kw_live_bearer";
    expect(credentialFromHeaders(headers)).toBe("kw_live_bearer");
  });

  it("does not treat names that merely contain a credential header as one", () => {
    expect(
      credentialFromHeaders({ "x-api-key-id": "abc", "proxy-authorization": "Bearer abc" }),
    ).toBeUndefined();
  });
});

describe("bearerToken", () => {
  it.each([
    ["Bearer abc", "abc"],
    ["bearer abc", "abc"],
    ["BEARER abc", "abc"],
    ["Bearer a", "a"],
    ["  Bearer   abc  ", "abc"],
  ])("reads %j as %j", (value, token) => {
    expect(bearerToken(value)).toBe(token);
  });

  it.each(["", " ", "Bearer", "Bearer ", "Bearer    ", "Bearerabc", "Basic abc", "Token abc", "abc"])(
    "finds no token in %j",
    (value) => {
      expect(bearerToken(value)).toBeUndefined();
    },
  );
});
