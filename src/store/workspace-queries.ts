import type { Kysely } from "kysely";
import type { Workspace } from "../domain/workspace.js";
import { lockedForWrite } from "./database.js";
import { rowFromWorkspace, workspaceFromRow } from "./rows.js";
import type { Database } from "./schema.js";

/** `forWrite`: a transaction's read of the workspace it may then write or count keys of (see lockedForWrite). */
export async function findWorkspace(
  db: Kysely<Database>,
  workspaceId: string,
  forWrite = false,
): Promise<Workspace | undefined> {
  const query = db.selectFrom("workspaces").selectAll().where("workspace_id", "=", workspaceId);
  const row = await (forWrite ? lockedForWrite(db, query) : query).executeTakeFirst();
  return row && workspaceFromRow(row);
}

export async function insertWorkspace(db: Kysely<Database>, workspace: Workspace): Promise<void> {
  await db.insertInto("workspaces").values(rowFromWorkspace(workspace)).execute();
}

export async function updateWorkspace(db: Kysely<Database>, workspace: Workspace): Promise<void> {
  const { workspace_id, create_time, ...mutable } = rowFromWorkspace(workspace);
  await db.updateTable("workspaces").set(mutable).where("workspace_id", "=", workspace_id).execute();
}

/** Workspaces in id order, after the given id, and how many there are in all. */
export async function listWorkspaces(
  db: Kysely<Database>,
  after: string | undefined,
  limit: number,
): Promise<{ workspaces: Workspace[]; total: number }> {
  let page = db.selectFrom("workspaces").selectAll();
  if (after !== undefined) page = page.where("workspace_id", ">", after);
  const rows = await page.orderBy("workspace_id").limit(limit).execute();
  const count = await db
    .selectFrom("workspaces")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .executeTakeFirstOrThrow();
  return { workspaces: rows.map(workspaceFromRow), total: Number(count.n) };
}
