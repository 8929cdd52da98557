import { describe, expect, it } from "vitest";
import {
  contextExtensionsError,
  headersError,
  REQUEST_LIMITS,
  requiredScopesError,
  tallyHeaders,
} from "../../src/domain/request-limits.js";

const entries = (n: number, value = "v") =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h-${i}`, value]));

describe("request limits", () => {
  it("takes as many required scopes as a key may hold, and no more", () => {
    const scopes = (n: number) => Array.from({ length: n }, (_, i) => `a:b${i}`);
    expect(requiredScopesError("required_scopes", scopes(REQUEST_LIMITS.requiredScopes))).toBeUndefined();
    expect(requiredScopesError("required_scopes", scopes(REQUEST_LIMITS.requiredScopes + 1))).toBe(
      "required_scopes: at most 100 scopes (got 101)",
    );
  });

  it("names the field and the scope for an invalid one, and never more than a scope's length of it", () => {
    const error = requiredScopesError("required_scopes", ["a:b", "x".repeat(100_000)]);
    expect(error).toMatch(/^required_scopes: invalid scope "x+": longer than 200 characters$/);
    expect((error as string).length).toBeLessThan(REQUEST_LIMITS.scopeLength + 100);
  });

  it("counts header entries and characters", () => {
    expect(tallyHeaders({ ab: "cde", f: "" })).toEqual({ entries: 2, chars: 6 });
    const tally = tallyHeaders({ a: "b" }, { entries: 3, chars: 10 });
    expect(tally).toEqual({ entries: 4, chars: 12 });
  });

  it("caps header entries and their size", () => {
    expect(headersError("headers", tallyHeaders(entries(REQUEST_LIMITS.headers)))).toBeUndefined();
    expect(headersError("headers", tallyHeaders(entries(REQUEST_LIMITS.headers + 1)))).toBe(
      "headers: at most 1000 entries (got 1001)",
    );
    const big = tallyHeaders(entries(2, "v".repeat(REQUEST_LIMITS.headerChars / 2)));
    expect(headersError("headers", big)).toMatch(/^headers: names and values longer than/);
  });

  it("caps context_extensions entries", () => {
    expect(contextExtensionsError(entries(REQUEST_LIMITS.contextExtensions))).toBeUndefined();
    expect(contextExtensionsError(entries(REQUEST_LIMITS.contextExtensions + 1))).toBe(
      "context_extensions: at most 100 entries",
    );
  });
});
