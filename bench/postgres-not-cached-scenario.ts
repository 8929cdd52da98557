import type { BenchContext, ScenarioResult } from "./context.js";
import { notCachedScenario } from "./loadgen-scenarios.js";
import { BENCH_POSTGRES_WHERE, seedPostgresSchema } from "./postgres-seed.js";

/**
 * Scenario 11: scenario 3 with the store on PostgreSQL: as many keys as scenario 3 seeds, in a
 * fresh schema (dropped afterwards), every request a different key, so every call is a round trip
 * to PostgreSQL; the same generator, rounds, answer checks and target as scenario 3.
 */
export async function postgresNotCachedScenario(context: BenchContext): Promise<ScenarioResult> {
  const { keys } = context.config;
  const { schema, context: onPostgres } = await seedPostgresSchema(context, "scenario 11", keys);
  try {
    const result = await notCachedScenario(onPostgres, keys, { id: "11", store: "PostgreSQL" });
    return {
      ...result,
      details: {
        ...result.details,
        postgres: BENCH_POSTGRES_WHERE,
      },
    };
  } finally {
    await schema.drop();
  }
}
