import { emptyDelta, type UsageDelta } from "./usage-delta.js";
import { dayStart } from "./usage-period.js";

/**
 * A process's count of its decisions per key since the last flush: allowed and denied requests and the
 * last allowed one, for every identified key whether it has limits or not (Key.usage). Only memory: the
 * write-behind flush (process/usage-flush.ts) drains it and adds the counts to the store, so the
 * decision path never writes. Each process keeps its own; their counts add up in the store. It holds
 * at most one entry per key used since the last drain (and per UTC day crossed meanwhile).
 */
export interface UsageTally {
  allowed(keyId: string, now: number): void;
  /** A request denied once the key was identified (any reason). */
  denied(keyId: string, now: number): void;
  /** The counts since the last drain, one delta per key and day; empties the tally. */
  drain(): UsageDelta[];
}

export function createUsageTally(): UsageTally {
  let current = new Map<string, UsageDelta>();
  // Deltas of a day that ended before the drain.
  const closed: UsageDelta[] = [];
  const deltaFor = (keyId: string, now: number): UsageDelta => {
    const day = dayStart(now);
    let delta = current.get(keyId);
    if (delta === undefined || delta.day !== day) {
      if (delta !== undefined) closed.push(delta);
      delta = emptyDelta(keyId, day);
      current.set(keyId, delta);
    }
    return delta;
  };
  return {
    allowed(keyId, now) {
      const delta = deltaFor(keyId, now);
      delta.requests++;
      delta.lastUsedTime = now;
    },
    denied(keyId, now) {
      deltaFor(keyId, now).denied++;
    },
    drain() {
      const deltas = closed.splice(0);
      for (const delta of current.values()) deltas.push(delta);
      current = new Map();
      return deltas;
    },
  };
}
