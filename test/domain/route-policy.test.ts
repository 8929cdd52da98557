import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { compilePolicy, matchRoute, type RoutePolicy } from "../../src/domain/route-policy.js";

function policy(yaml: string): RoutePolicy {
  const compiled = compilePolicy(parse(yaml));
  if ("error" in compiled) throw new Error(compiled.error);
  return compiled.policy;
}

describe("route policy", () => {
  const presets = policy(`
rules:
  - path: /healthz
    public: true
  - methods: [GET, HEAD]
    path: /api/**
    scopes: [api:read]
  - methods: [POST, PATCH, DELETE]
    path: /api/keys/**
    scopes: [api:admin]
  - methods: [POST, PATCH, DELETE]
    path: /api/**
    scopes: [api:write]
`);

  it("takes the first rule that matches method and path, ignoring the query string", () => {
    expect(matchRoute(presets, "GET", "/api/orders?page=2")?.scopes).toEqual(["api:read"]);
    expect(matchRoute(presets, "HEAD", "/api")?.scopes).toEqual(["api:read"]);
    expect(matchRoute(presets, "POST", "/api/orders")?.scopes).toEqual(["api:write"]);
    expect(matchRoute(presets, "DELETE", "/api/keys/key_1")?.scopes).toEqual(["api:admin"]);
    expect(matchRoute(presets, "GET", "/healthz")?.public).toBe(true);
    expect(matchRoute(presets, "PUT", "/api/orders")).toBeUndefined();
    expect(matchRoute(presets, "GET", "/other")).toBeUndefined();
  });

  it("accepts a top-level list, lower-case methods, class and workspace", () => {
    const list = policy(`
- methods: [get]
  path: /models/*
  scopes: ["models:read"]
  class: gpu
  workspace: acme
`);
    expect(matchRoute(list, "GET", "/models/llama")).toMatchObject({ className: "gpu", workspace: "acme" });
  });

  it.each([
    ["a string", "just text", "expected a list of rules"],
    ["no path", "- scopes: [a:b]", "rule 1: path must be a string starting with /"],
    ["a relative path", "- path: api/**", "rule 1: path must be"],
    ["a bad scope", "- path: /x\n  scopes: [Not A Scope]", 'rule 1: invalid scope "Not A Scope"'],
    ["an unknown field", "- path: /x\n  scope: [a:b]", 'rule 1: unknown field "scope"'],
    ["public not boolean", "- path: /x\n  public: yes please", "rule 1: public must be true or false"],
    ["methods not a list", "- path: /x\n  methods: GET", "rule 1: methods must be a list"],
  ])("refuses %s, naming the rule", (_, yaml, message) => {
    const compiled = compilePolicy(parse(yaml));
    expect("error" in compiled && compiled.error).toContain(message);
  });
});
