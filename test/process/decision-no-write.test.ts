import { describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { perTestDatabase, seedDatabase } from "../support/databases.js";
import { makeKey } from "../support/fixtures.js";
import { openRaw, type RawDatabase, storedUsage } from "../support/raw-sql.js";
import { withCluster } from "../support/spawn-cluster.js";

// Issue 12: the decision path never writes to the database; usage reaches it only through the
// write-behind flush. The witness (RawDatabase.watchCommits) is a connection of the test's own that
// sees every commit another connection (of any process) makes: on SQLite `PRAGMA data_version`, on
// PostgreSQL a row trigger on each of Keyward's tables. An unchanged witness across the burst means no
// commit at all, whatever statement or process it would have come from. The control at the end shows
// the witness sees this server's commits: the flush at SIGTERM writes the burst's counts, and the
// witness reports it. KEYWARD_USAGE_FLUSH is an hour, so that no timed flush lands inside the burst.
// The postgres project runs it on PostgreSQL as well (issue 14).

const BURST = 200;

const database = perTestDatabase();

describe.each([1, 2])("with KEYWARD_WORKERS=%i", (workers) => {
  it(`decides ${BURST} calls without a commit to the database`, { timeout: 120_000 }, async () => {
    const url = database.temp.url;
    const now = Date.now();
    // Limits far out of reach, so every one of them is checked and consumed on each call.
    const limited = makeKey({
      keyId: "key_limited",
      rateLimit: { limit: 1_000_000, windowMs: 60_000 },
      monthlyQuota: 1_000_000,
      credits: { remaining: 1_000_000, refill: undefined },
      now,
    });
    const unlimited = makeKey({ keyId: "key_unlimited", now });
    expect(unlimited.key.tier).toBe("");
    await seedDatabase(url, { keys: [limited.key, unlimited.key] });

    let witness: RawDatabase | undefined;
    let committed: (() => Promise<boolean>) | undefined;
    try {
      await withCluster(
        { workers, clients: 8, database: url, env: { KEYWARD_USAGE_FLUSH: "1h" } },
        async ({ clients }) => {
          witness = await openRaw(url);
          committed = await witness.watchCommits();

          // Both keys, allowed and denied (a scope neither holds): the first call on the limited key reads
          // its usage from the store (a read, which the witness does not count), every later one is memory only.
          const answers = await Promise.all(
            Array.from({ length: BURST }, (_, i) =>
              clients[i % clients.length]?.authorize.authorize({
                apiKey: i % 2 === 0 ? limited.secret : unlimited.secret,
                requiredScopes: i % 10 < 2 ? ["models:write"] : [],
              }),
            ),
          );
          const reasons = answers.map((answer) => answer?.reason);
          expect(reasons.filter((reason) => reason === Reason.ALLOWED)).toHaveLength(BURST * 0.8);
          expect(reasons.filter((reason) => reason === Reason.INSUFFICIENT_SCOPE)).toHaveLength(BURST * 0.2);
          expect(await committed(), "a commit happened during the burst").toBe(false);
        },
      );
      // The control: the same witness sees the flush at SIGTERM commit, with every call of the burst in it.
      expect(await committed?.()).toBe(true);
    } finally {
      await witness?.close();
    }
    for (const keyId of [limited.key.keyId, unlimited.key.keyId]) {
      expect(await storedUsage(url, keyId), keyId).toMatchObject({
        requestsThisMonth: BURST * 0.4,
        deniedThisMonth: BURST * 0.1,
      });
    }
    expect(await storedUsage(url, limited.key.keyId)).toMatchObject({
      quotaUsedThisMonth: BURST * 0.4,
      creditsRemaining: 1_000_000 - BURST * 0.4,
    });
  });
});
