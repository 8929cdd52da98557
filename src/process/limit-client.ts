import { type Clock, systemClock } from "../domain/clock.js";
import { createLeaseLedger } from "../domain/lease-ledger.js";
import type { LimitDecision } from "../domain/limit-decision.js";
import type { LimitGate } from "../domain/limit-gate.js";
import { LimitsUnanswered } from "../domain/unavailable.js";
import {
  type ClusterMessage,
  isClusterMessage,
  type PrimaryMessage,
  type WorkerMessage,
} from "./cluster-messages.js";

/** How long a worker waits for the primary's answer before the request fails UNAVAILABLE. */
export const LIMIT_ANSWER_TIMEOUT_MS = 2000;
/** Leases a worker holds at most (one per key). */
export const MAX_LEASES = 10_000;
/** How often expired leases are given back, besides on the key's next request. */
export const LEASE_SWEEP_MS = 1000;

/** The worker's end of the channel to the primary. */
export interface PrimaryChannel {
  /** Sends a message; false when the channel is closed. `sent` runs once it is handed to the channel. */
  send(message: WorkerMessage, sent?: () => void): boolean;
  /** Listens to every message of ours from the primary. */
  onMessage(listener: (message: ClusterMessage) => void): void;
}

/** node:cluster's IPC channel of this worker process. */
export function processChannel(): PrimaryChannel {
  return {
    send(message, sent) {
      // send() returns false also when it only queued the message (backpressure): judge by the channel.
      if (!process.connected || process.send === undefined) return false;
      process.send(message, undefined, {}, () => sent?.());
      return true;
    },
    onMessage(listener) {
      process.on("message", (message: unknown) => {
        if (isClusterMessage(message)) listener(message);
      });
    },
  };
}

/** Options of clusterLimitGate; the defaults are the worker process's. */
export interface ClusterLimitGateOptions {
  readonly channel?: PrimaryChannel;
  readonly clock?: Clock;
  readonly timeoutMs?: number;
  readonly maxLeases?: number;
}

/**
 * A cluster worker's gate: a request is answered from the key's lease when the worker holds one that
 * covers it (no round trip), else by the primary's book (limit-owner.ts), asking for a lease at most once
 * at a time per key. Dry runs always ask the primary and never spend a lease. An answer that does not
 * come in time fails the request with LimitsUnanswered (UNAVAILABLE) rather than allowing it uncounted;
 * a lease on such a late answer is ignored, and its units stay counted until its window passes.
 * `close` gives every lease back (before the worker exits).
 */
export function clusterLimitGate(options: ClusterLimitGateOptions = {}): LimitGate {
  const channel = options.channel ?? processChannel();
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? LIMIT_ANSWER_TIMEOUT_MS;
  const releasing = new Set<Promise<void>>();
  const ledger = createLeaseLedger({
    maxKeys: options.maxLeases ?? MAX_LEASES,
    release({ keyId, limits, units, grantedAt }) {
      const sent = new Promise<void>((resolve) => {
        if (!channel.send({ kw: "release", keyId, limits, units, grantedAt }, resolve)) resolve();
      });
      releasing.add(sent);
      void sent.then(() => releasing.delete(sent));
    },
  });
  const sweep = setInterval(() => ledger.sweep(clock.now()), LEASE_SWEEP_MS);
  sweep.unref();
  // Keys with a `consume` asking for a lease on the way: one lease request per key at a time.
  const leasing = new Set<string>();
  let closed = false;
  const pending = new Map<number, (message: Extract<PrimaryMessage, { kw: "consumed" }>) => void>();
  let next = 0;
  let rateLimitsLocal = false;
  channel.onMessage((message) => {
    if (message.kw === "consumed") pending.get(message.id)?.(message);
    else if (message.kw === "rate-limits") rateLimitsLocal = message.local;
  });
  return {
    consume(keyId, limits, cost, dryRun) {
      if (!dryRun && !closed) {
        const local = ledger.spend(keyId, limits, cost, clock.now());
        if (local !== undefined) return local;
      }
      const lease = !dryRun && !closed && !leasing.has(keyId);
      if (lease) leasing.add(keyId);
      const id = next++;
      return new Promise<LimitDecision>((resolve, reject) => {
        const settle = () => {
          clearTimeout(timer);
          pending.delete(id);
          if (lease) leasing.delete(keyId);
        };
        const timer = setTimeout(() => {
          settle();
          reject(new LimitsUnanswered("the cluster primary did not answer the rate-limit check in time"));
        }, timeoutMs);
        pending.set(id, (answer) => {
          settle();
          const { decision, error } = answer;
          if (decision === undefined) {
            reject(new LimitsUnanswered(`the cluster primary could not decide: ${error ?? "no answer"}`));
            return;
          }
          // Held even when closed: a lease granted after close() is released by the hold-and-release.
          if (answer.lease !== undefined) ledger.hold(keyId, limits, answer.lease, decision);
          if (closed) ledger.releaseAll();
          resolve(decision);
        });
        if (!channel.send({ kw: "consume", id, keyId, limits, cost, dryRun, lease })) {
          settle();
          reject(new LimitsUnanswered("the cluster primary cannot be reached for the rate-limit check"));
        }
      });
    },
    local: () => rateLimitsLocal,
    async close() {
      closed = true;
      clearInterval(sweep);
      ledger.releaseAll();
      await Promise.all(releasing);
    },
  };
}
