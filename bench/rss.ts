import { parseArgs } from "node:util";
import { createKeyCache } from "../src/cache/key-cache.js";
import { systemClock } from "../src/domain/clock.js";
import { openDatabase } from "../src/store/database.js";
import { createKeyStore } from "../src/store/key-store.js";

// Scenario 7: the memory of Keyward's verified-key cache holding every seeded key. Builds the
// cache exactly as src/keyward.ts does (createKeyCache with the store's findKeyByHash as load),
// resolves every key hash in the database once, then reports RSS and heap after a full GC.
//
//   node --expose-gc --import tsx bench/rss.ts --database sqlite:<path> [--max-keys 1000000]
//
// Prints one JSON line (RssResult).

/** What scenario 7 measured; sizes in MB (2^20 bytes). */
export interface RssResult {
  readonly keysResolved: number;
  readonly keysCached: number;
  /** Before the cache was filled: the process itself (Node, tsx, Kysely, SQLite). */
  readonly rssBeforeMb: number;
  readonly heapUsedBeforeMb: number;
  /** After every key was resolved once and a full GC: what the target is about. */
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly fillSeconds: number;
}

const BATCH = 10_000;
const MB = 1024 * 1024;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { database: { type: "string" }, "max-keys": { type: "string", default: "1000000" } },
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  if (values.database === undefined || gc === undefined) {
    process.stderr.write("usage: node --expose-gc --import tsx bench/rss.ts --database sqlite:<path>\n");
    process.exit(2);
  }
  const maxKeys = Number(values["max-keys"]);
  const db = openDatabase(values.database);
  const store = createKeyStore(db);
  const cache = createKeyCache({
    load: store.findKeyByHash,
    maxKeys,
    ttlMs: 3_600_000, // long enough that nothing expires while we fill and measure
    maxMissing: 10_000,
    missingTtlMs: 5_000,
    clock: systemClock,
  });
  gc();
  const before = process.memoryUsage();
  const started = performance.now();
  let resolved = 0;
  // Page through the hashes in index order: they are never all in memory outside the cache.
  for (let after = ""; resolved < maxKeys; ) {
    const rows = await db
      .selectFrom("api_keys")
      .select("key_hash")
      .where("key_hash", ">", after)
      .orderBy("key_hash")
      .limit(Math.min(BATCH, maxKeys - resolved))
      .execute();
    if (rows.length === 0) break;
    for (const { key_hash } of rows) {
      if ((await cache.resolve(key_hash)) === null) throw new Error("a stored key did not resolve");
      resolved++;
    }
    after = (rows[rows.length - 1] as { key_hash: string }).key_hash;
  }
  const fillSeconds = (performance.now() - started) / 1000;
  await db.destroy();
  gc();
  gc();
  const memory = process.memoryUsage();
  const result: RssResult = {
    keysResolved: resolved,
    keysCached: cache.size.keys,
    rssBeforeMb: before.rss / MB,
    heapUsedBeforeMb: before.heapUsed / MB,
    rssMb: memory.rss / MB,
    heapUsedMb: memory.heapUsed / MB,
    fillSeconds,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
