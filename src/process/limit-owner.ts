import type { Worker } from "node:cluster";
import type { LeasingGate } from "../domain/limit-gate.js";
import type { LeasedDecision } from "../domain/limit-lease.js";
import type { ClusterMessage, PrimaryMessage } from "./cluster-messages.js";

/** The primary's side of the limit book (see limit-client.ts for the workers'). */
export interface LimitOwner {
  /** Handles a worker's `consume` or `release`; false for any other message. */
  receive(worker: Worker, message: ClusterMessage): boolean;
}

/**
 * Answers every worker from the cluster's one limit book (through `gate`, which reads a key's usage from
 * the store on first use), in arrival order, with the primary's clock: a key's limit then holds for all
 * workers together, never per worker (issue 12). A worker that asks for one may get a lease with an
 * allowed answer, a slice of the key's budget sized for `workers` workers (domain/limit-lease.ts), so
 * that a key far below its limits costs it no round trip; `release` gives the unspent units back.
 */
export function createLimitOwner(gate: LeasingGate, workers: number): LimitOwner {
  return {
    receive(worker, message) {
      if (message.kw === "release") {
        gate.release(message.keyId, message.limits, message.units, message.grantedAt);
        return true;
      }
      if (message.kw !== "consume") return false;
      const answer = (reply: PrimaryMessage) => {
        if (worker.isConnected()) worker.send(reply);
      };
      const answered = ({ decision, lease }: LeasedDecision) =>
        answer({ kw: "consumed", id: message.id, decision, ...(lease && { lease }) });
      const failed = (error: unknown) =>
        answer({
          kw: "consumed",
          id: message.id,
          error: error instanceof Error ? error.message : String(error),
        });
      try {
        const { keyId, limits, cost, dryRun } = message;
        const leased =
          message.lease && !dryRun
            ? gate.consumeLeasing(keyId, limits, cost, workers)
            : wrap(gate.consume(keyId, limits, cost, dryRun));
        if (leased instanceof Promise) leased.then(answered, failed);
        else answered(leased);
      } catch (error) {
        failed(error);
      }
      return true;
    },
  };
}

function wrap(decision: ReturnType<LeasingGate["consume"]>): LeasedDecision | Promise<LeasedDecision> {
  return decision instanceof Promise ? decision.then((d) => ({ decision: d })) : { decision };
}
