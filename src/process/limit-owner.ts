import type { Worker } from "node:cluster";
import type { LimitDecision } from "../domain/limit-decision.js";
import type { LimitGate } from "../domain/limit-gate.js";
import type { ClusterMessage, PrimaryMessage } from "./cluster-messages.js";

/** The primary's side of the limit book (see limit-client.ts for the workers'). */
export interface LimitOwner {
  /** Handles a worker's `consume`; false for any other message. */
  receive(worker: Worker, message: ClusterMessage): boolean;
}

/**
 * Answers every worker from the cluster's one limit book (through `gate`, which reads a key's usage from
 * the store on first use), in arrival order, with the primary's clock: a key's limit then holds for all
 * workers together, never per worker (issue 12). Each counted decision costs a worker a round trip to
 * the primary; handing out budget in slices that workers spend locally is the planned refinement.
 */
export function createLimitOwner(gate: LimitGate): LimitOwner {
  return {
    receive(worker, message) {
      if (message.kw !== "consume") return false;
      const answer = (reply: PrimaryMessage) => {
        if (worker.isConnected()) worker.send(reply);
      };
      const answered = (decision: LimitDecision) => answer({ kw: "consumed", id: message.id, decision });
      const failed = (error: unknown) =>
        answer({
          kw: "consumed",
          id: message.id,
          error: error instanceof Error ? error.message : String(error),
        });
      try {
        const decision = gate.consume(message.keyId, message.limits, message.cost, message.dryRun);
        if (decision instanceof Promise) decision.then(answered, failed);
        else answered(decision);
      } catch (error) {
        failed(error);
      }
      return true;
    },
  };
}
