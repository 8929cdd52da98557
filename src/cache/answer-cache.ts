import { LRUCache } from "lru-cache";
import type { Decision } from "../domain/authorize.js";
import type { VerifiedKey } from "../domain/key.js";
import type { Reason } from "../domain/reason.js";

/**
 * Answers of the Authorize and Check services, built once and kept with their encoding, so that
 * a repeated answer allocates and encodes nothing. Each service holds its own (see README.md):
 * - allowed answers of hot keys (allowedAnswers): bounded by key count, forgotten least recently
 *   used first, and never stale, because a changed or evicted key comes back from the key cache
 *   as a new VerifiedKey object, which finds nothing kept for the old one;
 * - keyless answers (keylessAnswers): one per reason, never forgotten, since they depend on the
 *   reason alone;
 * - the encoding of each kept answer (encodeAnswer), forgotten with the answer.
 */

/**
 * How many keys' allowed answers are kept built and encoded: the hot keys. A bound, not one
 * per cached key, so that a million cached keys do not also hold a million answers.
 */
const HOT_ANSWERS = 10_000;

/** Gives an allowed answer for a key, building it only when it is not kept. */
export type AllowedAnswers<T extends object> = (key: VerifiedKey, variant: string, build: () => T) => T;

/**
 * Allowed answers built and encoded once per key (and variant, such as the header that carried
 * it), for the most recently used keys, from a key's second call on: a key loaded for one call,
 * as in a flood of distinct keys, is not worth keeping.
 */
export function allowedAnswers<T extends object>(max = HOT_ANSWERS): AllowedAnswers<T> {
  const kept = new LRUCache<VerifiedKey, Map<string, T>>({ max });
  return (key, variant, build) => {
    const byVariant = kept.get(key);
    if (byVariant === undefined) {
      kept.set(key, new Map());
      return build();
    }
    let answer = byVariant.get(variant);
    if (answer === undefined) {
      answer = keepEncoding(build());
      byVariant.set(variant, answer);
    }
    return answer;
  };
}

/**
 * The answer to a decision without a key (missing, malformed, not found), which depends on its
 * reason alone: built from the first such decision, then kept, one per reason of the closed set.
 */
export function keylessAnswers<T extends object>(
  build: (decision: Decision) => T,
): (decision: Decision) => T {
  const kept = new Map<Reason, T>();
  return (decision) => {
    let answer = kept.get(decision.reason);
    if (answer === undefined) {
      answer = keepEncoding(build(decision));
      kept.set(decision.reason, answer);
    }
    return answer;
  };
}

// Keyed by the answer object, so that an answer the LRU drops takes its bytes with it. At module
// level because the transport's serializer is handed only the message (grpc-js-adapter.ts).
const encodings = new WeakMap<object, Uint8Array | null>();

/** Marks an answer whose encoding is to be kept; it must never be mutated afterwards. */
function keepEncoding<T extends object>(answer: T): T {
  if (!encodings.has(answer)) encodings.set(answer, null);
  return answer;
}

/** The encoding of a message: made once and kept for an answer kept here, made anew for any other. */
export function encodeAnswer(message: object, encode: () => Uint8Array): Uint8Array {
  const kept = encodings.get(message);
  if (kept) return kept;
  const bytes = encode();
  if (kept === null) encodings.set(message, bytes);
  return bytes;
}
