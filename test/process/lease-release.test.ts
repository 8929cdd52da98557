import { expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { perTestDatabase, seedDatabase } from "../support/databases.js";
import { makeKey } from "../support/fixtures.js";
import { storedUsage } from "../support/raw-sql.js";
import { withCluster } from "../support/spawn-cluster.js";

// Issue 12, leases (domain/limit-lease.ts): a key far below its quota gets slices of it leased to the
// workers, taken from the primary's book when granted. SIGTERM must give every unspent unit back before
// the primary's last flush, or the store would count the leased units as used. KEYWARD_USAGE_FLUSH is
// an hour: what the store holds afterwards came from the flush at SIGTERM alone. The postgres project
// runs it on PostgreSQL as well: the counts must reach either store exactly.

const database = perTestDatabase();

it("stores exactly the quota and credits spent over 2 workers holding leases, after SIGTERM", {
  timeout: 120_000,
}, async () => {
  const { key, secret } = makeKey({
    monthlyQuota: 100_000,
    credits: { remaining: 50_000, refill: undefined },
    now: Date.now(),
  });
  await seedDatabase(database.temp.url, { keys: [key] });
  await withCluster(
    { workers: 2, clients: 8, database: database.temp.url, env: { KEYWARD_USAGE_FLUSH: "1h" } },
    async ({ clients }) => {
      for (let round = 0; round < 15; round++) {
        const answers = await Promise.all(
          clients.map((client) => client.authorize.authorize({ apiKey: secret })),
        );
        for (const answer of answers) expect(answer.reason).toBe(Reason.ALLOWED);
      }
    },
  );
  expect(await storedUsage(database.temp.url, key.keyId)).toMatchObject({
    requestsThisMonth: 120,
    quotaUsedThisMonth: 120,
    creditsRemaining: 50_000 - 120,
  });
});
