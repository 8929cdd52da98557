import { parseArgs } from "node:util";
import { createKeyCache } from "../src/cache/key-cache.js";
import { systemClock } from "../src/domain/clock.js";
import { digestOfHash } from "../src/domain/key-hash.js";
import { openDatabase } from "../src/store/database.js";
import { createKyselyKeyStore } from "../src/store/kysely-key-store.js";

// Scenario 7: the memory of Keyward's verified-key cache holding every seeded key. Builds the
// cache exactly as src/keyward.ts does (createKeyCache with the store's findKeyByHash as load),
// resolves every key hash in the database once, then reports RSS and heap after full GCs and again
// after 20 s idle (the number judged: see RssResult.rssMb).
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
  /** Right after every key was resolved once and full GCs: the fill's empty pages still held. */
  readonly rssAfterFillMb: number;
  /**
   * What the target is about: the same process idle for SETTLE_SECONDS more, after V8's memory
   * reducer (which starts about 8 s after allocation stops) gave back the pages the fill left empty.
   */
  readonly rssMb: number;
  readonly heapUsedMb: number;
  /** What V8 reserved for the heap, and memory outside it (ArrayBuffers such as the LRU's index arrays). */
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly fillSeconds: number;
}

const BATCH = 10_000;
const SETTLE_SECONDS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
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
  const { db, queryOnly, close } = await openDatabase(values.database);
  const store = createKyselyKeyStore(db, queryOnly);
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
      if ((await cache.resolve(digestOfHash(key_hash))) === undefined)
        throw new Error("a stored key did not resolve");
      resolved++;
    }
    after = (rows[rows.length - 1] as { key_hash: string }).key_hash;
  }
  const fillSeconds = (performance.now() - started) / 1000;
  await close();
  // Settle as an idle server would: full GCs with pauses between them, so V8 can also give back
  // the pages the fill's garbage left empty (it unmaps them on a background thread).
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(500);
  }
  const afterFill = process.memoryUsage();
  // Idle, as a server between bursts: sample each second and keep the last reading.
  let memory = afterFill;
  for (let second = 0; second < SETTLE_SECONDS; second++) {
    await sleep(1000);
    memory = process.memoryUsage();
  }
  const result: RssResult = {
    keysResolved: resolved,
    keysCached: cache.size.keys,
    rssBeforeMb: before.rss / MB,
    heapUsedBeforeMb: before.heapUsed / MB,
    rssAfterFillMb: afterFill.rss / MB,
    rssMb: memory.rss / MB,
    heapUsedMb: memory.heapUsed / MB,
    heapTotalMb: memory.heapTotal / MB,
    externalMb: memory.external / MB,
    fillSeconds,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
