import type { Kysely } from "kysely";
import type { AuditEvent } from "../domain/audit.js";
import type { AuditQuery } from "../domain/key-store.js";
import { eventFromRow, rowFromEvent } from "./rows.js";
import type { Database } from "./schema.js";

export async function insertEvent(db: Kysely<Database>, event: AuditEvent): Promise<void> {
  await db.insertInto("audit_events").values(rowFromEvent(event)).execute();
}

/** A page of a workspace's events, newest first (time, event_id descending). */
export async function listEvents(db: Kysely<Database>, query: AuditQuery): Promise<AuditEvent[]> {
  let select = db.selectFrom("audit_events").selectAll().where("workspace", "=", query.workspace);
  if (query.action !== undefined) select = select.where("action", "=", query.action);
  if (query.targetId !== "") select = select.where("target_id", "=", query.targetId);
  if (query.startTime !== undefined) select = select.where("time", ">=", query.startTime);
  if (query.endTime !== undefined) select = select.where("time", "<", query.endTime);
  const after = query.after;
  if (after !== undefined) {
    select = select.where((eb) =>
      eb.or([
        eb("time", "<", after.time),
        eb.and([eb("time", "=", after.time), eb("event_id", "<", after.id)]),
      ]),
    );
  }
  const rows = await select.orderBy("time", "desc").orderBy("event_id", "desc").limit(query.limit).execute();
  return rows.map(eventFromRow);
}
