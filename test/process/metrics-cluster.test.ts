import { expect, it } from "vitest";
import { perTestDatabase, seedDatabase } from "../support/databases.js";
import { makeKey } from "../support/fixtures.js";
import { servingField } from "../support/log-lines.js";
import { parsePrometheus, sumOf } from "../support/prometheus-text.js";
import { withCluster } from "../support/spawn-cluster.js";

// Issue 15: with workers, a scrape reaches one worker, yet shows every process: the primary merges
// each worker's metrics and its own (metrics/cluster-metrics.ts).

const database = perTestDatabase();

it("merges the decisions of both workers and the primary's own metrics into one scrape", async () => {
  const { key, secret } = makeKey({ now: Date.now() });
  await seedDatabase(database.temp.url, { keys: [key] });
  await withCluster(
    { workers: 2, database: database.temp.url, clients: 4, env: { KEYWARD_METRICS_LISTEN: "127.0.0.1:0" } },
    async ({ server, clients }) => {
      for (let i = 0; i < 20; i++) {
        const client = clients[i % clients.length];
        expect((await client?.authorize.authorize({ apiKey: secret }))?.allowed).toBe(true);
      }
      const port = servingField(server.output(), "metrics")[0]?.split(":")[1];
      expect(port).toBeDefined();
      // Whichever worker answers, every scrape sees all 20 calls and withCluster's 4 keyless ones.
      for (let scrape = 0; scrape < 4; scrape++) {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
          headers: { connection: "close" },
        });
        expect(response.status).toBe(200);
        const samples = parsePrometheus(await response.text());
        expect(sumOf(samples, "keyward_decisions_total", { entry: "authorize", reason: "allowed" })).toBe(20);
        expect(sumOf(samples, "keyward_decisions_total", { reason: "missing_credential" })).toBe(4);
        expect(sumOf(samples, "keyward_decision_duration_seconds_count")).toBe(24);
        // Build info is the largest of the processes' 1s, not their sum.
        expect(sumOf(samples, "keyward_build_info")).toBe(1);
        // The primary's: it flushes the limit book (and each worker its tally).
        expect(samples.has("keyward_usage_flush_age_seconds")).toBe(true);
      }
    },
  );
});
