import type { StoreReader } from "./key-store.js";
import { fail, type Refusal } from "./outcome.js";
import type { Workspace } from "./workspace.js";

/**
 * Refuses `adding` more active keys when the workspace would exceed max_keys.
 * Run it in the transaction that inserts, so that concurrent issues cannot both pass.
 */
export async function checkKeyLimit(
  tx: StoreReader,
  workspace: Workspace,
  now: number,
  adding: number,
): Promise<Refusal | undefined> {
  if (workspace.maxKeys <= 0) return undefined;
  const active = await tx.countActiveKeys(workspace.workspaceId, now);
  if (active + adding <= workspace.maxKeys) return undefined;
  return fail(
    "resource_exhausted",
    `account key limit reached: workspace "${workspace.workspaceId}" allows ${workspace.maxKeys} active keys`,
  );
}
