import { describe, expect, it } from "vitest";
import { allowedAnswers, encodeAnswer, keylessAnswers } from "../../src/cache/answer-cache.js";
import type { Decision } from "../../src/domain/authorize.js";
import { makeKey, verifiedKey } from "../support/fixtures.js";

const newKey = () => verifiedKey({ key: makeKey().key, workspaceSuspended: false });

/** A build that counts its calls and returns a fresh answer each time. */
function counting() {
  let calls = 0;
  return {
    build: () => ({ answer: ++calls }),
    get calls() {
      return calls;
    },
  };
}

describe("allowedAnswers", () => {
  it("builds a key's first two answers and keeps the second, marked reusable", () => {
    const answers = allowedAnswers<{ answer: number }>();
    const key = newKey();
    const build = counting();
    const first = answers(key, "", build.build);
    const second = answers(key, "", build.build);
    const third = answers(key, "", build.build);
    expect(build.calls).toBe(2);
    expect(first).not.toBe(second);
    expect(third).toBe(second);
    // Kept answers are encoded once; the first, not kept, is encoded anew each time.
    let encodings = 0;
    const encode = () => {
      encodings++;
      return new Uint8Array(1);
    };
    encodeAnswer(third, encode);
    encodeAnswer(third, encode);
    encodeAnswer(first, encode);
    encodeAnswer(first, encode);
    expect(encodings).toBe(3);
  });

  it("keeps one answer per variant, and none for a replaced key record", () => {
    const answers = allowedAnswers<{ answer: number }>();
    const key = newKey();
    const build = counting();
    answers(key, "x-api-key", build.build);
    const viaHeader = answers(key, "x-api-key", build.build);
    const viaBearer = answers(key, "authorization", build.build);
    expect(answers(key, "x-api-key", build.build)).toBe(viaHeader);
    expect(answers(key, "authorization", build.build)).toBe(viaBearer);
    expect(viaBearer).not.toBe(viaHeader);
    // A changed key is a new VerifiedKey: nothing kept for it.
    const changed = { ...key };
    expect(answers(changed, "x-api-key", build.build)).not.toBe(viaHeader);
  });

  it("holds answers for at most `max` keys, forgetting the least recently used", () => {
    const answers = allowedAnswers<{ answer: number }>(2);
    const [a, b, c] = [newKey(), newKey(), newKey()];
    const build = counting();
    for (const key of [a, b, c]) {
      answers(key, "", build.build);
      answers(key, "", build.build);
    }
    const before = build.calls;
    answers(c, "", build.build); // kept
    expect(build.calls).toBe(before);
    answers(a, "", build.build); // forgotten: its first call again, built and not kept
    expect(build.calls).toBe(before + 1);
  });
});

describe("keylessAnswers", () => {
  const decision = (reason: Decision["reason"]): Decision => ({ reason, key: undefined, missingScopes: [] });

  it("builds one answer per reason, from the first decision with it, and keeps its encoding", () => {
    let builds = 0;
    const answers = keylessAnswers((d) => ({ reason: d.reason, build: ++builds }));
    const missing = answers(decision("missing_credential"));
    expect(answers(decision("missing_credential"))).toBe(missing);
    const notFound = answers(decision("key_not_found"));
    expect(notFound).toEqual({ reason: "key_not_found", build: 2 });
    expect(builds).toBe(2);
    let encodings = 0;
    const encode = () => {
      encodings++;
      return new Uint8Array(1);
    };
    encodeAnswer(notFound, encode);
    encodeAnswer(notFound, encode);
    expect(encodings).toBe(1);
  });
});
