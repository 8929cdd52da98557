import type { Worker } from "node:cluster";
import type { Clock } from "../domain/clock.js";
import type { LimitBook } from "../domain/limit-book.js";
import type { ClusterMessage, PrimaryMessage } from "./cluster-messages.js";

/** The primary's side of the limit book (see limit-client.ts for the workers'). */
export interface LimitOwner {
  /** Handles a worker's `consume`; false for any other message. */
  receive(worker: Worker, message: ClusterMessage): boolean;
}

/**
 * Holds the one limit book of a cluster and answers every worker from it, in arrival order, with the
 * primary's clock: a key's limit then holds for all workers together, never per worker (issue 12).
 * Each counted decision costs a worker a round trip to the primary; handing out budget in slices
 * that workers spend locally is the planned refinement.
 */
export function createLimitOwner(book: LimitBook, clock: Clock): LimitOwner {
  return {
    receive(worker, message) {
      if (message.kw !== "consume") return false;
      const decision = book.consume(message.keyId, message.limits, message.cost, clock.now(), message.dryRun);
      if (worker.isConnected())
        worker.send({ kw: "consumed", id: message.id, decision } satisfies PrimaryMessage);
      return true;
    },
  };
}
