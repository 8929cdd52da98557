import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_PREFIX,
  displayPrefix,
  type Environment,
  generateKey,
  MAX_KEY_LENGTH,
  parseKey,
  prefixError,
  randomBase62,
} from "../../src/domain/key-format.js";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const prefixArb = fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/);
const environmentArb = fc.constantFrom<Environment>("live", "test");
// generateKey draws from crypto.randomBytes, so a counterexample is reported by its key, not its seed.
const generatedArb = fc
  .record({ prefix: prefixArb, environment: environmentArb })
  .map(({ prefix, environment }) => ({ prefix, environment, key: generateKey(prefix, environment) }));

/** A replacement character: base62, the separator, or anything else Unicode has (astral ones included). */
const charArb = fc.oneof(
  fc.constantFrom(...BASE62, "_"),
  fc.constantFrom("-", " ", "\n", "\0", "é", "ß", "ｋ", "٣", "𝟘", "🔑"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
);

describe("generateKey", () => {
  it("parses back to its prefix and environment", () => {
    fc.assert(
      fc.property(generatedArb, ({ prefix, environment, key }) => {
        expect(parseKey(key)).toEqual({ prefix, environment });
      }),
    );
  });

  it("has the shape <prefix>_<environment>_ followed by 49 base62 characters", () => {
    fc.assert(
      fc.property(generatedArb, ({ prefix, environment, key }) => {
        expect(key.startsWith(`${prefix}_${environment}_`)).toBe(true);
        expect(key.slice(`${prefix}_${environment}_`.length)).toMatch(/^[0-9A-Za-z]{49}$/);
      }),
    );
  });

  it("never repeats a key", () => {
    const keys = Array.from({ length: 2000 }, () => generateKey(DEFAULT_PREFIX, "live"));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("fits the longest prefix into exactly MAX_KEY_LENGTH", () => {
    const key = generateKey("a".repeat(16), "live");
    expect(key).toHaveLength(MAX_KEY_LENGTH);
    expect(parseKey(key)).toEqual({ prefix: "a".repeat(16), environment: "live" });
  });
});

describe("parseKey", () => {
  it("rejects any single-character substitution anywhere in a key", () => {
    fc.assert(
      fc.property(generatedArb, fc.nat(), charArb, ({ key }, at, replacement) => {
        const position = at % key.length;
        fc.pre(replacement !== key[position]);
        const altered = key.slice(0, position) + replacement + key.slice(position + 1);
        expect(parseKey(altered)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects every truncation", () => {
    fc.assert(
      fc.property(generatedArb, ({ key }) => {
        for (let length = 0; length < key.length; length++) {
          expect(parseKey(key.slice(0, length))).toBeUndefined();
        }
      }),
    );
  });

  it("rejects a key with anything appended", () => {
    fc.assert(
      fc.property(generatedArb, fc.array(charArb, { minLength: 1, maxLength: 8 }), ({ key }, extra) => {
        expect(parseKey(key + extra.join(""))).toBeUndefined();
      }),
    );
  });

  it("rejects input longer than MAX_KEY_LENGTH, however large", () => {
    const key = generateKey(DEFAULT_PREFIX, "live");
    expect(parseKey(key + "A".repeat(64 * 1024))).toBeUndefined();
    expect(parseKey("a".repeat(64 * 1024))).toBeUndefined();
    expect(parseKey(`${"a".repeat(MAX_KEY_LENGTH + 1)}_live_${"A".repeat(49)}`)).toBeUndefined();
  });

  it("rejects non-ASCII lookalikes of a valid key", () => {
    const key = generateKey(DEFAULT_PREFIX, "live");
    expect(parseKey(`ｋ${key.slice(1)}`)).toBeUndefined(); // fullwidth k
    expect(parseKey(key.replace("_live_", "_lіve_"))).toBeUndefined(); // Cyrillic і
    expect(parseKey(`${key.slice(0, -1)}٣`)).toBeUndefined(); // Arabic-Indic digit
  });

  it("rejects values that are not keys at all", () => {
    for (const candidate of ["", "_", "__", "kw", "kw_live_", "kw__", `kw_prod_${"A".repeat(49)}`]) {
      expect(parseKey(candidate), candidate).toBeUndefined();
    }
  });
});

describe("displayPrefix", () => {
  it("is the prefix, the environment and the first 6 random characters", () => {
    fc.assert(
      fc.property(generatedArb, ({ prefix, environment, key }) => {
        const shown = displayPrefix(key);
        expect(key.startsWith(shown)).toBe(true);
        expect(shown.slice(0, -6)).toBe(`${prefix}_${environment}_`);
        expect(shown.slice(-6)).toMatch(/^[0-9A-Za-z]{6}$/);
      }),
    );
  });
});

describe("randomBase62", () => {
  it("emits exactly the asked number of base62 characters", () => {
    fc.assert(
      fc.property(fc.nat({ max: 500 }), (length) => {
        const text = randomBase62(length);
        expect(text).toHaveLength(length);
        expect([...text].every((c) => BASE62.includes(c))).toBe(true);
      }),
    );
  });
});

describe("prefixError", () => {
  it.each(["a", "kw", "sk", "acme2", "a234567890123456"])("accepts %j", (prefix) => {
    expect(prefixError(prefix)).toBeUndefined();
  });

  it.each([
    "",
    "1kw",
    "Kw",
    "kW",
    "k_w",
    "k-w",
    "kw ",
    "kw\n",
    "ké",
    "a2345678901234567", // 17 characters
  ])("rejects %j, naming it", (prefix) => {
    expect(prefixError(prefix)).toContain(`"${prefix}"`);
  });
});
