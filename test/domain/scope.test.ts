import { describe, expect, it } from "vitest";
import {
  compileScopes,
  grantsScope,
  missingScopes,
  scopeError,
  scopesError,
} from "../../src/domain/scope.js";

describe("scopeError", () => {
  it.each(["*", "models:read", "models:*", "a.b-c_d:x:y", "models:weights:read", "0:1"])(
    "accepts %j",
    (scope) => {
      expect(scopeError(scope)).toBeUndefined();
    },
  );

  it.each([
    "",
    "models",
    "Models:read",
    "models:READ",
    "models:",
    ":read",
    "models::read",
    "*:read",
    "*:*",
    "models:*:read",
    "models:**",
    "models: read",
    " models:read",
    "models:read ",
    "models:ré",
  ])("rejects %j, naming it", (scope) => {
    expect(scopeError(scope)).toContain(`"${scope}"`);
  });

  it("rejects a scope longer than 200 characters, naming its start", () => {
    const atLimit = `models:${"a".repeat(193)}`;
    expect(atLimit).toHaveLength(200);
    expect(scopeError(atLimit)).toBeUndefined();

    const tooLong = `${atLimit}b`;
    const error = scopeError(tooLong);
    expect(error).toContain(`"${atLimit}"`);
    expect(error).toContain("200");
  });
});

describe("scopesError", () => {
  it("names the first invalid scope", () => {
    expect(scopesError(["models:read", "Bad", "also bad"])).toContain('"Bad"');
    expect(scopesError(["models:read", "*"])).toBeUndefined();
    expect(scopesError([])).toBeUndefined();
  });
});

describe("grantsScope", () => {
  const grants = (granted: readonly string[], required: string) =>
    grantsScope(compileScopes(granted), required);

  it("grants an exactly matching scope and nothing else", () => {
    expect(grants(["models:read"], "models:read")).toBe(true);
    expect(grants(["models:read"], "models:write")).toBe(false);
    expect(grants(["models:read"], "models:read:extra")).toBe(false);
    expect(grants([], "models:read")).toBe(false);
  });

  it("grants everything to *", () => {
    for (const required of ["models:read", "models:*", "keyward:admin", "a:b:c:d"]) {
      expect(grants(["*"], required), required).toBe(true);
    }
  });

  it("grants everything under the segments before a trailing *", () => {
    expect(grants(["models:*"], "models:read")).toBe(true);
    expect(grants(["models:*"], "models:weights:read")).toBe(true);
    expect(grants(["models:*"], "models:*")).toBe(true);
  });

  it("does not let a trailing * reach past its segment boundary", () => {
    expect(grants(["models:*"], "modelsx:read")).toBe(false);
    expect(grants(["models:*"], "models")).toBe(false);
    expect(grants(["models:*"], "datasets:read")).toBe(false);
  });

  it("does not let a narrower wildcard grant a wider one", () => {
    expect(grants(["models:read:*"], "models:*")).toBe(false);
    expect(grants(["models:read:*"], "models:read")).toBe(false);
    expect(grants(["models:read:*"], "models:read:one")).toBe(true);
  });
});

describe("missingScopes", () => {
  it("returns the ungranted scopes in the order asked", () => {
    const set = compileScopes(["models:read", "datasets:*"]);
    expect(missingScopes(set, ["z:write", "models:read", "a:write", "datasets:list", "m:x"])).toEqual([
      "z:write",
      "a:write",
      "m:x",
    ]);
  });

  it("returns an empty list when everything is granted", () => {
    const set = compileScopes(["models:read", "datasets:*"]);
    expect(missingScopes(set, ["models:read", "datasets:list", "datasets:rows:read"])).toEqual([]);
    expect(missingScopes(set, [])).toEqual([]);
  });
});
