import type { Kysely } from "kysely";
import type { TierUse } from "../domain/tiers.js";
import type { Database } from "./schema.js";

/** Every tier named by a key that is not revoked, or by a workspace's default, with where it is used. */
export async function tiersInUse(db: Kysely<Database>): Promise<TierUse[]> {
  const [keys, workspaces] = await Promise.all([
    db
      .selectFrom("api_keys")
      .select(["tier", (eb) => eb.fn.countAll<number | string>().as("n")])
      .where("tier", "!=", "")
      .where("status", "!=", "revoked")
      .groupBy("tier")
      .execute(),
    db
      .selectFrom("workspaces")
      .select(["default_tier", "workspace_id"])
      .where("default_tier", "!=", "")
      .orderBy("workspace_id")
      .execute(),
  ]);
  const uses = new Map<string, { tier: string; keys: number; workspaces: string[] }>();
  const use = (tier: string) => {
    let found = uses.get(tier);
    if (found === undefined) {
      found = { tier, keys: 0, workspaces: [] };
      uses.set(tier, found);
    }
    return found;
  };
  for (const row of keys) use(row.tier).keys = Number(row.n);
  for (const row of workspaces) use(row.default_tier).workspaces.push(row.workspace_id);
  return [...uses.values()].sort((a, b) => a.tier.localeCompare(b.tier));
}
