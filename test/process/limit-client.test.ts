import type { Worker } from "node:cluster";
import { describe, expect, it } from "vitest";
import { createLimitBook, type LimitBook } from "../../src/domain/limit-book.js";
import type { EnforcedLimits } from "../../src/domain/limit-decision.js";
import { bookGate } from "../../src/domain/limit-gate.js";
import type { ClusterMessage, WorkerMessage } from "../../src/process/cluster-messages.js";
import { clusterLimitGate, type PrimaryChannel } from "../../src/process/limit-client.js";
import { createLimitOwner } from "../../src/process/limit-owner.js";

// Issue 12: "a key far below its limit costs no cross-process round trip". The worker's gate and the
// primary's owner run in this process, joined by a channel that delivers asynchronously as IPC does and
// counts what crosses it; the real cluster tests (rate-limit-workers, usage-durability) hold the limits.

const NOW = Date.parse("2026-03-15T12:00:00.100Z");
const ROOMY: EnforcedLimits = { rateLimit: { limit: 10_000, windowMs: 60_000 }, monthlyQuota: 0 };
const FREE: EnforcedLimits = { rateLimit: { limit: 10, windowMs: 60_000 }, monthlyQuota: 0 };

function cluster(workers = 2) {
  const book = createLimitBook({ maxKeys: 100 });
  const clock = { now: () => time };
  let time = NOW;
  const never = () => Promise.reject(new Error("rate-only keys are never read"));
  const owner = createLimitOwner(
    bookGate(book, clock, never, { flushed: () => Promise.resolve(), started: () => 0 }),
    workers,
  );
  const sent: WorkerMessage[] = [];
  const gates = Array.from({ length: workers }, () => {
    let listener: (message: ClusterMessage) => void = () => {};
    const worker = {
      isConnected: () => true,
      send: (message: ClusterMessage) => setImmediate(() => listener(message)),
    } as unknown as Worker;
    const channel: PrimaryChannel = {
      send(message, done) {
        sent.push(message);
        setImmediate(() => {
          owner.receive(worker, message);
          done?.();
        });
        return true;
      },
      onMessage: (l) => {
        listener = l;
      },
    };
    return clusterLimitGate({ channel, clock });
  });
  return {
    book,
    gates,
    sent,
    advance: (ms: number) => (time += ms),
    count: (kw: string) => sent.filter((m) => m.kw === kw).length,
  };
}

/** The cost the book would still allow now (a dry run reports its room as if the request were taken). */
const room = (book: LimitBook, limits: EnforcedLimits) =>
  (book.consume("k", limits, 1, NOW, true).rateLimit?.remaining ?? 0) + 1;

describe("clusterLimitGate with leases", () => {
  it("a key far below its limit asks the primary once, then decides locally", async () => {
    const { gates, count } = cluster();
    const gate = gates[0];
    if (gate === undefined) throw new Error("no gate");
    const first = await gate.consume("k", ROOMY, 1, false);
    expect(first).toMatchObject({ reason: "allowed", rateLimit: { remaining: 9999 } });
    for (let i = 1; i <= 500; i++) {
      const decision = gate.consume("k", ROOMY, 1, false);
      // Answered synchronously: no promise, so no round trip.
      expect(decision).not.toBeInstanceOf(Promise);
      expect(decision).toMatchObject({ reason: "allowed", rateLimit: { remaining: 9999 - i } });
    }
    expect(count("consume")).toBe(1);
    // A dry run always asks.
    await gate.consume("k", ROOMY, 1, true);
    expect(count("consume")).toBe(2);
    await gate.close?.();
  });

  it("gives the unspent units back on close, so the book counts exactly what was allowed", async () => {
    const { book, gates, count } = cluster();
    const gate = gates[0];
    if (gate === undefined) throw new Error("no gate");
    await gate.consume("k", ROOMY, 1, false);
    for (let i = 0; i < 9; i++) gate.consume("k", ROOMY, 1, false);
    expect(room(book, ROOMY)).toBeLessThan(10_000 - 10);
    await gate.close?.();
    expect(count("release")).toBe(1);
    expect(room(book, ROOMY)).toBe(10_000 - 10);
  });

  it("releases a lease that expired (next sub-bucket) or whose terms changed, and asks again", async () => {
    const { book, gates, count, advance } = cluster();
    const gate = gates[0];
    if (gate === undefined) throw new Error("no gate");
    await gate.consume("k", ROOMY, 1, false);
    gate.consume("k", ROOMY, 1, false);
    advance(1000); // the next one-second sub-bucket of a one-minute window
    const after = gate.consume("k", ROOMY, 1, false);
    expect(after).toBeInstanceOf(Promise);
    await after;
    expect(count("release")).toBe(1);
    const lowered: EnforcedLimits = { ...ROOMY, rateLimit: { limit: 5000, windowMs: 60_000 } };
    await gate.consume("k", lowered, 1, false);
    expect(count("release")).toBe(2);
    expect(count("consume")).toBe(3);
    await gate.close?.();
    await new Promise((resolve) => setImmediate(resolve));
    // 4 requests in the window (one from the lease): nothing leased and unspent is left counted.
    expect(room(book, lowered)).toBe(5000 - 4);
  });

  it("a key near its limit (free tier over 2 workers) asks the primary for every call", async () => {
    const { gates, count } = cluster();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => gates[i % 2]?.consume("k", FREE, 1, false)),
    );
    expect(answers.filter((a) => a?.reason === "allowed")).toHaveLength(10);
    expect(count("consume")).toBe(20);
    for (const gate of gates) await gate.close?.();
    expect(count("release")).toBe(0);
  });

  it("two workers share a roomy key: each asks once, and together never pass the limit", async () => {
    const limits: EnforcedLimits = { rateLimit: { limit: 100, windowMs: 60_000 }, monthlyQuota: 0 };
    const { gates, count } = cluster();
    let allowed = 0;
    for (let i = 0; i < 300; i++) {
      const decision = await gates[i % 2]?.consume("k", limits, 1, false);
      if (decision?.reason === "allowed") allowed++;
    }
    expect(allowed).toBe(100);
    expect(count("consume")).toBeLessThan(300);
    for (const gate of gates) await gate.close?.();
  });
});
