import { describe, expect, it } from "vitest";
import { routeQueries, routeQuery } from "../../src/transport/route-query.js";

describe("routeQueries", () => {
  it("answers as routeQuery does, and parses a query string once", () => {
    const parse = routeQueries();
    const first = parse("scopes=orders:read");
    expect(first).toEqual(routeQuery("scopes=orders:read"));
    expect(parse("scopes=orders:read")).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it("keeps a refused query's error too", () => {
    const parse = routeQueries();
    const refused = parse("scope=orders:read");
    expect(refused).toEqual({ error: expect.stringContaining("unknown parameter") });
    expect(parse("scope=orders:read")).toBe(refused);
  });

  it("forgets the oldest query once it holds its bound, and never keeps a long one", () => {
    const parse = routeQueries();
    const oldest = parse("scopes=a:0");
    for (let i = 1; i <= 64; i++) parse(`scopes=a:${i}`);
    expect(parse("scopes=a:0")).not.toBe(oldest);
    const long = `class=${"c".repeat(250)}&workspace=${"w".repeat(250)}`;
    expect(parse(long)).not.toBe(parse(long));
  });
});
