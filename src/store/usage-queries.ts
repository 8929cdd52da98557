import { type Insertable, type Kysely, sql } from "kysely";
import type { PersistedUsage, UsageCounts, UsageDelta } from "../domain/usage-delta.js";
import { dayStart, monthStart } from "../domain/usage-period.js";
import { isPostgres } from "./database.js";
import { nextTurn } from "./next-turn.js";
import type { Database, KeyUsageTable } from "./schema.js";

// The write-behind usage store (issue 12): flushes add deltas, never read-modify-write, so that the
// counts of several writers (workers, replicas) add up.

/**
 * Rows per statement (5 parameters a row stays far below SQLite's 32,766 and PostgreSQL's 65,535), and
 * statements between two turns of the event loop: on SQLite each statement runs synchronously, so a
 * flush of thousands of keys blocks decisions for one chunk at a time, not for the whole flush.
 */
const CHUNK = 100;

/**
 * Adds the deltas in one transaction: day rows, last-used times and credit balances. A flush may hold
 * thousands of keys (a flood of distinct keys), and better-sqlite3 runs synchronously on the event loop:
 * so the counts go in multi-row statements, merged first by key and day, never one statement per key.
 */
export async function addUsage(db: Kysely<Database>, deltas: readonly UsageDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  const days = new Map<
    string,
    { key_id: string; day: number; requests: number; denied: number; quota_cost: number }
  >();
  const lastUsed = new Map<string, number>();
  const credits: UsageDelta[] = [];
  for (const d of deltas) {
    // A refund (a lease's unspent units given back) makes quotaCost or creditsSpent negative: added all the same.
    if (d.requests !== 0 || d.denied !== 0 || d.quotaCost !== 0) {
      const id = `${d.keyId}\0${d.day}`;
      const row = days.get(id);
      if (row === undefined)
        days.set(id, {
          key_id: d.keyId,
          day: d.day,
          requests: d.requests,
          denied: d.denied,
          quota_cost: d.quotaCost,
        });
      else {
        row.requests += d.requests;
        row.denied += d.denied;
        row.quota_cost += d.quotaCost;
      }
    }
    if (d.lastUsedTime !== undefined && !((lastUsed.get(d.keyId) ?? -1) >= d.lastUsedTime))
      lastUsed.set(d.keyId, d.lastUsedTime);
    if (d.creditsSpent !== 0 || d.creditsRefilledAt !== undefined) credits.push(d);
  }
  // Every writer locks rows in key order: two replicas flushing the same keys would otherwise each hold
  // what the other waits for, and PostgreSQL would fail one of them (test/store/store-queries.test.ts).
  const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  // The transaction holds the writer connection across turns: other writes wait for it, and decisions
  // read on their own connection (SQLite's WAL, PostgreSQL's MVCC), which it does not block.
  await db.transaction().execute(async (tx) => {
    const rows = [...days.values()].sort((a, b) => byKey(a.key_id, b.key_id) || a.day - b.day);
    for (let at = 0; at < rows.length; at += CHUNK) {
      if (at > 0) await nextTurn();
      await addDays(tx, rows.slice(at, at + CHUNK));
    }
    const times = [...lastUsed].sort(([a], [b]) => byKey(a, b));
    for (let at = 0; at < times.length; at += CHUNK) {
      await nextTurn();
      await setLastUsed(tx, times.slice(at, at + CHUNK));
    }
    credits.sort((a, b) => byKey(a.keyId, b.keyId));
    for (const [at, delta] of credits.entries()) {
      if (at % CHUNK === 0) await nextTurn();
      await addCredits(tx, delta);
    }
  });
}

async function addDays(db: Kysely<Database>, rows: Insertable<KeyUsageTable>[]): Promise<void> {
  await db
    .insertInto("key_usage")
    .values(rows)
    .onConflict((conflict) =>
      conflict.columns(["key_id", "day"]).doUpdateSet({
        requests: sql`key_usage.requests + excluded.requests`,
        denied: sql`key_usage.denied + excluded.denied`,
        quota_cost: sql`key_usage.quota_cost + excluded.quota_cost`,
      }),
    )
    .execute();
}

/** Moves each key's last_used_time forward to its time, never back (another writer may hold a later one). */
async function setLastUsed(
  db: Kysely<Database>,
  times: readonly (readonly [string, number])[],
): Promise<void> {
  await lastUsedUpdate(db, times).execute(db);
}

/** The statement of setLastUsed, for a test of its plan. */
export function lastUsedUpdate(db: Kysely<Database>, times: readonly (readonly [string, number])[]) {
  // PostgreSQL takes untyped VALUES parameters as text (and refuses bigint < text): they are cast
  // there. Not on SQLite: a VALUES list of casts is planned as a materialised subquery, which it
  // then joins by scanning api_keys (a million rows) instead of looking each key up by its id.
  const typed = isPostgres(db);
  const values = sql.join(
    times.map(([keyId, time]) =>
      typed ? sql`(cast(${keyId} as text), cast(${time} as bigint))` : sql`(${keyId}, ${time})`,
    ),
  );
  // UPDATE … FROM joins on the primary key (SQLite ≥ 3.33 and PostgreSQL); VALUES names its columns column1, column2 in both.
  return sql`update api_keys set last_used_time = v.t
    from (select column1 as key_id, column2 as t from (values ${values}) as x) as v
    where api_keys.key_id = v.key_id and (api_keys.last_used_time is null or api_keys.last_used_time < v.t)`;
}

async function addCredits(db: Kysely<Database>, d: UsageDelta): Promise<void> {
  if (d.creditsRefilledAt !== undefined) {
    // Refilled to the refill amount at the period's start, then spent from.
    await db
      .updateTable("api_keys")
      .set({
        credits_remaining: sql`credit_refill_amount - ${d.creditsSpent}`,
        credits_refilled_at: d.creditsRefilledAt,
      })
      .where("key_id", "=", d.keyId)
      .where("credit_refill_amount", "is not", null)
      .where("credits_set_time", "is not distinct from", d.creditsSetTime ?? null)
      .where((eb) =>
        eb.or([
          eb("credits_refilled_at", "is", null),
          eb("credits_refilled_at", "<", d.creditsRefilledAt as number),
        ]),
      )
      .execute();
  } else if (d.creditsSpent !== 0) {
    await db
      .updateTable("api_keys")
      .set({ credits_remaining: sql`credits_remaining - ${d.creditsSpent}` })
      .where("key_id", "=", d.keyId)
      .where("credits_remaining", "is not", null)
      .where("credits_set_time", "is not distinct from", d.creditsSetTime ?? null)
      .execute();
  }
}

/** What the limit book needs to take a key over from the store, as of `now`. */
export async function readUsage(db: Kysely<Database>, keyId: string, now: number): Promise<PersistedUsage> {
  const today = dayStart(now);
  const [counts, key] = await Promise.all([
    monthCounts(db, [keyId], now),
    db
      .selectFrom("api_keys")
      .select(["last_used_time", "credits_remaining", "credits_refilled_at", "credits_set_time"])
      .where("key_id", "=", keyId)
      .executeTakeFirst(),
  ]);
  const month = counts.get(keyId);
  return {
    day: today,
    requestsToday: month?.requestsToday ?? 0,
    requestsThisMonth: month?.requestsThisMonth ?? 0,
    deniedThisMonth: month?.deniedThisMonth ?? 0,
    quotaUsedThisMonth: month?.quotaUsed ?? 0,
    lastUsedTime: optionalNumber(key?.last_used_time),
    creditsRefilledAt: optionalNumber(key?.credits_refilled_at),
    creditsRemaining: optionalNumber(key?.credits_remaining),
    creditsSetTime: optionalNumber(key?.credits_set_time),
  };
}

/** The stored counts of each key as of `now` (flushed counts only); keys never used are absent. */
export async function usageOf(
  db: Kysely<Database>,
  keyIds: readonly string[],
  now: number,
): Promise<Map<string, UsageCounts>> {
  const counts = await monthCounts(db, keyIds, now);
  return new Map(
    [...counts].map(([keyId, c]) => [
      keyId,
      {
        requestsToday: c.requestsToday,
        requestsThisMonth: c.requestsThisMonth,
        deniedThisMonth: c.deniedThisMonth,
      },
    ]),
  );
}

interface MonthCounts {
  requestsToday: number;
  requestsThisMonth: number;
  deniedThisMonth: number;
  quotaUsed: number;
}

async function monthCounts(
  db: Kysely<Database>,
  keyIds: readonly string[],
  now: number,
): Promise<Map<string, MonthCounts>> {
  const result = new Map<string, MonthCounts>();
  if (keyIds.length === 0) return result;
  const today = dayStart(now);
  const rows = await db
    .selectFrom("key_usage")
    .select(["key_id", "day", "requests", "denied", "quota_cost"])
    .where("key_id", "in", keyIds)
    .where("day", ">=", monthStart(now))
    .where("day", "<=", today)
    .execute();
  for (const row of rows) {
    let c = result.get(row.key_id);
    if (c === undefined) {
      c = { requestsToday: 0, requestsThisMonth: 0, deniedThisMonth: 0, quotaUsed: 0 };
      result.set(row.key_id, c);
    }
    const requests = Number(row.requests);
    if (Number(row.day) === today) c.requestsToday += requests;
    c.requestsThisMonth += requests;
    c.deniedThisMonth += Number(row.denied);
    c.quotaUsed += Number(row.quota_cost);
  }
  return result;
}

function optionalNumber(value: number | string | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}
