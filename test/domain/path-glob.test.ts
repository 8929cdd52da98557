import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileGlob, type StepMeter } from "../../src/domain/path-glob.js";

// The regular expression compileGlob produced before issue 10 (defect 5), kept as the oracle for the
// semantics: it backtracks exponentially on long paths, so it is only ever run on short ones here.
function regexGlob(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === "*" && glob[i + 1] === "*") {
      const slashBefore = source.endsWith("/");
      if (slashBefore && (i + 2 === glob.length || glob[i + 2] === "/")) {
        source = `${source.slice(0, -1)}(?:/.*)?`;
        i += glob[i + 2] === "/" ? 2 : 1;
        if (glob[i] === "/") source += "/";
      } else {
        source += ".*";
        i++;
      }
    } else if (char === "*") {
      source += "[^/]*";
    } else {
      source += char.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

describe("compileGlob", () => {
  it.each([
    ["/v1/*", "/v1/orders", true],
    ["/v1/*", "/v1/orders/7", false],
    ["/v1/**", "/v1", true],
    ["/v1/**", "/v1/orders/7/items", true],
    ["/v1/**", "/v10", false],
    ["/v1/**/items", "/v1/items", true],
    ["/v1/**/items", "/v1/a/b/items", true],
    ["/v1/*/items", "/v1/a/b/items", false],
    ["/a.b", "/axb", false],
    ["/a+b(c)", "/a+b(c)", true],
    ["/**", "/anything/at/all", true],
    ["/files/**.json", "/files/a/b.json", true], // `**` inside a segment crosses segments
    ["/files/*.json", "/files/a/b.json", false],
    ["/v1/**/**/x", "/v1/x", true],
    ["", "", true],
    ["/", "", false],
  ])("%s matches %s: %s", (glob, path, expected) => {
    expect(compileGlob(glob).test(path)).toBe(expected);
    expect(regexGlob(glob).test(path)).toBe(expected);
  });

  it("matches exactly what the regular expression it replaces matched", () => {
    const glob = fc
      .array(fc.constantFrom("/", "*", "**", "/**", "/**/", "a", "b", "."), { maxLength: 8 })
      .map((parts) => parts.join(""));
    const text = fc.constantFrom("/", "a", "b", "ab", ".", "/a", "//", "\n", "\u2028", "*");
    const path = fc.array(text, { maxLength: 10 }).map((parts) => parts.join(""));
    // A path built from the glob itself, each wildcard replaced by some text, matches far more often
    // than an unrelated one, so both answers get exercised.
    const case_ = glob.chain((g) =>
      fc.tuple(
        fc.constant(g),
        fc.oneof(
          path,
          fc.array(path, { minLength: 8, maxLength: 8 }).map((fill) => derived(g, fill)),
        ),
      ),
    );
    fc.assert(
      fc.property(case_, ([g, p]) => {
        expect(compileGlob(g).test(p), `${JSON.stringify(g)} on ${JSON.stringify(p)}`).toBe(
          regexGlob(g).test(p),
        );
      }),
      { numRuns: 5000 },
    );
  });

  // The shapes that made the regular expression backtrack: several `**` that can each take any share
  // of a long path that finally fails to match. Linear means the steps per path character are bounded
  // by the glob alone, and doubling the path at most doubles the steps.
  it.each([
    ["/api/**/orders/**/items/**/notes", (n: number) => `/api${"/orders/items".repeat(n / 13)}/x`],
    ["/a/**/a/**/a/**/a/**/b", (n: number) => "/a".repeat(n / 2)],
    ["/**/**/**/**/z", (n: number) => "/y".repeat(n / 2)],
    ["/x/*a*a*a*a*b", (n: number) => `/x/${"a".repeat(n)}`],
    ["/**a**a**a**b", (n: number) => `/${"a/".repeat(n / 2)}`],
  ])("matches %s against a 64 KiB adversarial path in linear steps", (glob, adversarial) => {
    const compiled = compileGlob(glob);
    const steps = (path: string) => {
      const meter: StepMeter = { steps: 0 };
      expect(compiled.test(path, meter)).toBe(false);
      return meter.steps;
    };
    const full = adversarial(64 * 1024);
    const half = adversarial(32 * 1024);
    expect(full.length).toBeGreaterThan(64_000);
    const fullSteps = steps(full);
    expect(fullSteps).toBeLessThanOrEqual(2 * (full.length + 1) * compiled.states);
    expect(fullSteps).toBeLessThanOrEqual(2.1 * steps(half));
  });
});

/** The glob with its `*` runs replaced, in order, by the fills. */
function derived(glob: string, fills: readonly string[]): string {
  let n = 0;
  return glob.replace(/\*+/g, () => fills[n++ % fills.length] ?? "");
}
