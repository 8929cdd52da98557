import { LRUCache } from "lru-cache";
import type { VerifiedKey } from "../domain/key.js";
import { markReusable } from "./handler.js";

/**
 * How many keys' allowed answers are kept built and encoded: the hot keys. A bound, not one
 * per cached key, so that a million cached keys do not also hold a million answers.
 */
const HOT_ANSWERS = 10_000;

/** Gives an allowed answer for a key, building it only when it is not kept. */
export type KeptAnswers<T extends object> = (key: VerifiedKey, variant: string, build: () => T) => T;

/**
 * Allowed answers built and encoded once per key (and variant, such as the header that carried
 * it), for the most recently used keys, from a key's second call on: a key loaded for one call,
 * as in a flood of distinct keys, is not worth keeping. A VerifiedKey is replaced, never changed,
 * when its key changes, so a kept answer cannot go stale.
 */
export function keptAnswers<T extends object>(max = HOT_ANSWERS): KeptAnswers<T> {
  const kept = new LRUCache<VerifiedKey, Map<string, T>>({ max });
  return (key, variant, build) => {
    const byVariant = kept.get(key);
    if (byVariant === undefined) {
      kept.set(key, new Map());
      return build();
    }
    let answer = byVariant.get(variant);
    if (answer === undefined) {
      answer = markReusable(build());
      byVariant.set(variant, answer);
    }
    return answer;
  };
}
