import { expect, it, vi } from "vitest";
import { emptyDelta, type UsageDelta } from "../../src/domain/usage-delta.js";
import { createLogger } from "../../src/log.js";
import { startUsageFlush } from "../../src/process/usage-flush.js";

// The flush loop alone, with a write function standing in for the store (the store's side is in
// test/store and test/process/usage-durability.test.ts).

const delta = (keyId: string, requests: number): UsageDelta => ({ ...emptyDelta(keyId, 0), requests });

it("writes what the sources drained, every interval and once more on stop", async () => {
  let queued: UsageDelta[] = [delta("a", 1)];
  const written: UsageDelta[][] = [];
  const flush = startUsageFlush({
    drains: [() => queued.splice(0)],
    write: async (deltas) => {
      written.push([...deltas]);
    },
    intervalMs: 10,
    log: createLogger("error", () => {}),
  });
  await vi.waitFor(() => expect(written).toEqual([[delta("a", 1)]]));
  queued = [delta("b", 2)];
  await flush.stop();
  expect(written).toEqual([[delta("a", 1)], [delta("b", 2)]]);
  expect(flush.started()).toBeGreaterThanOrEqual(2);
});

it("keeps the deltas of a failed write for the next flush, and logs the failure once", async () => {
  const lines: string[] = [];
  let fail = true;
  const written: UsageDelta[] = [];
  let queued: UsageDelta[] = [delta("a", 1)];
  const flush = startUsageFlush({
    drains: [() => queued.splice(0)],
    write: async (deltas) => {
      if (fail) throw new Error("disk full");
      written.push(...deltas);
    },
    intervalMs: 5,
    log: createLogger("info", (line) => lines.push(line)),
  });
  await vi.waitFor(() => expect(flush.started()).toBeGreaterThanOrEqual(3));
  queued = [delta("b", 1)];
  fail = false;
  await flush.stop();
  expect(written).toEqual([delta("a", 1), delta("b", 1)]);
  expect(lines.filter((line) => line.includes("usage flush failed"))).toHaveLength(1);
  expect(lines.filter((line) => line.includes("usage flush recovered"))).toHaveLength(1);
});

it("lets a reader wait for the flush in progress", async () => {
  let release: () => void = () => {};
  const flush = startUsageFlush({
    drains: [() => [delta("a", 1)]],
    write: () =>
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    intervalMs: 5,
    log: createLogger("error", () => {}),
  });
  await vi.waitFor(() => expect(flush.started()).toBe(1));
  let flushed = false;
  const waiting = flush.flushed().then(() => {
    flushed = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(flushed).toBe(false);
  release();
  await waiting;
  expect(flushed).toBe(true);
  // stop: later flushes' writes never resolve on their own here, so resolve each as it comes
  const stopping = flush.stop();
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    release();
  }
  await stopping;
});
