import { type Admin, listingWorkspace } from "./admin-access.js";
import type { AuditAction, AuditEvent } from "./audit.js";
import type { KeyStore } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { pageOf, pageRequest } from "./page-token.js";
import { quoted } from "./secret-input.js";

const ACTIONS: ReadonlySet<string> = new Set<AuditAction>([
  "key.issued",
  "key.revoked",
  "key.updated",
  "key.suspended",
  "key.resumed",
  "key.rotated",
  "workspace.created",
  "workspace.updated",
  "workspace.suspended",
  "workspace.resumed",
]);

export interface ListAuditInput {
  /** "" for the admin's own workspace. */
  readonly workspace: string;
  readonly pageSize: number;
  readonly pageToken: string;
  readonly action: string;
  readonly targetId: string;
  readonly startTime: number | undefined;
  readonly endTime: number | undefined;
}

/** A workspace's audit events, newest first, one page at a time. */
export async function listAuditEvents(
  store: KeyStore,
  admin: Admin,
  input: ListAuditInput,
): Promise<Outcome<{ events: AuditEvent[]; nextPageToken: string }>> {
  const workspace = listingWorkspace(admin, input.workspace);
  if (!workspace.ok) return workspace;
  if (input.action !== "" && !ACTIONS.has(input.action)) {
    return fail(
      "invalid_argument",
      `unknown action ${quoted(input.action, 40)}; one of ${[...ACTIONS].join(", ")}`,
    );
  }
  const request = pageRequest(input.pageSize, input.pageToken, [
    workspace.value,
    input.action,
    input.targetId,
    input.startTime,
    input.endTime,
  ]);
  if (!request.ok) return request;
  const events = await store.listAuditEvents({
    workspace: workspace.value,
    action: input.action === "" ? undefined : (input.action as AuditAction),
    targetId: input.targetId,
    startTime: input.startTime,
    endTime: input.endTime,
    after: request.value.cursor,
    limit: request.value.size + 1,
  });
  const { page, nextPageToken } = pageOf(events, request.value, (event) => ({
    time: event.time,
    id: event.eventId,
  }));
  return ok({ events: page, nextPageToken });
}
