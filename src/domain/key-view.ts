import type { ApiKey } from "./key.js";
import type { StoreReader } from "./key-store.js";
import type { UsageCounts } from "./usage-delta.js";

/** A key as the management calls show it: its record and its usage (Key.usage). */
export interface KeyView {
  readonly key: ApiKey;
  /** As of the last flush (KEYWARD_USAGE_FLUSH), so at most that interval behind; zeros if never used. */
  readonly usage: UsageCounts;
}

/** The usage of a key that has none counted, such as one just issued. */
export const NO_USAGE: UsageCounts = Object.freeze({
  requestsToday: 0,
  requestsThisMonth: 0,
  deniedThisMonth: 0,
});

/** The keys with their usage as of `now`, read in one query however many keys there are (a page of ListKeys). */
export async function viewKeys(
  reader: StoreReader,
  keys: readonly ApiKey[],
  now: number,
): Promise<KeyView[]> {
  if (keys.length === 0) return [];
  const usage = await reader.usageOf(
    keys.map((key) => key.keyId),
    now,
  );
  return keys.map((key) => ({ key, usage: usage.get(key.keyId) ?? NO_USAGE }));
}

/** One key with its usage as of `now`. */
export async function viewKey(reader: StoreReader, key: ApiKey, now: number): Promise<KeyView> {
  const [view] = await viewKeys(reader, [key], now);
  return view as KeyView;
}
