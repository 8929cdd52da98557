import type { LimitDecision } from "../domain/limit-decision.js";
import type { LimitGate } from "../domain/limit-gate.js";
import { LimitsUnanswered } from "../domain/unavailable.js";
import { isClusterMessage, type PrimaryMessage, type WorkerMessage } from "./cluster-messages.js";

/** How long a worker waits for the primary's answer before the request fails UNAVAILABLE. */
export const LIMIT_ANSWER_TIMEOUT_MS = 2000;

/**
 * A cluster worker's gate: every counted decision asks the primary's book (limit-owner.ts). An
 * answer that does not come in time fails the request with LimitsUnanswered (UNAVAILABLE) rather
 * than allowing it uncounted.
 */
export function clusterLimitGate(timeoutMs = LIMIT_ANSWER_TIMEOUT_MS): LimitGate {
  const pending = new Map<number, (message: Extract<PrimaryMessage, { kw: "consumed" }>) => void>();
  let next = 0;
  process.on("message", (message: unknown) => {
    if (isClusterMessage(message) && message.kw === "consumed") pending.get(message.id)?.(message);
  });
  return {
    consume(keyId, limits, cost, dryRun) {
      const id = next++;
      return new Promise<LimitDecision>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new LimitsUnanswered("the cluster primary did not answer the rate-limit check in time"));
        }, timeoutMs);
        pending.set(id, ({ decision, error }) => {
          clearTimeout(timer);
          pending.delete(id);
          if (decision !== undefined) resolve(decision);
          else reject(new LimitsUnanswered(`the cluster primary could not decide: ${error ?? "no answer"}`));
        });
        // send() returns false also when it only queued the message (backpressure): judge by the channel.
        if (!process.connected || process.send === undefined) {
          clearTimeout(timer);
          pending.delete(id);
          reject(new LimitsUnanswered("the cluster primary cannot be reached for the rate-limit check"));
          return;
        }
        process.send({ kw: "consume", id, keyId, limits, cost, dryRun } satisfies WorkerMessage);
      });
    },
  };
}
