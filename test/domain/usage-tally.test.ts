import { expect, it } from "vitest";
import { createUsageTally } from "../../src/domain/usage-tally.js";

const DAY = 86_400_000;
const NOON = Date.UTC(2026, 2, 14, 12);

it("counts allowed and denied requests per key, with the last allowed time, and empties on drain", () => {
  const tally = createUsageTally();
  tally.allowed("a", NOON);
  tally.allowed("a", NOON + 5);
  tally.denied("a", NOON + 7);
  tally.denied("b", NOON);
  expect(tally.drain()).toEqual([
    {
      keyId: "a",
      day: NOON - 12 * 3_600_000,
      requests: 2,
      denied: 1,
      quotaCost: 0,
      creditsSpent: 0,
      lastUsedTime: NOON + 5,
    },
    { keyId: "b", day: NOON - 12 * 3_600_000, requests: 0, denied: 1, quotaCost: 0, creditsSpent: 0 },
  ]);
  expect(tally.drain()).toEqual([]);
});

it("keeps each UTC day's counts apart, so the store can put them in the right day and month", () => {
  const tally = createUsageTally();
  const today = NOON - 12 * 3_600_000;
  tally.allowed("a", today + DAY - 1);
  tally.allowed("a", today + DAY);
  tally.allowed("a", today + DAY + 1);
  expect(tally.drain().map((d) => [d.day, d.requests])).toEqual([
    [today, 1],
    [today + DAY, 2],
  ]);
});
