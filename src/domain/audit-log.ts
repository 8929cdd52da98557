import { type Admin, checkWorkspace } from "./admin-access.js";
import type { AuditAction, AuditEvent } from "./audit.js";
import type { KeyStore } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { decodePageToken, encodePageToken, pageSize } from "./page-token.js";

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
  const workspace = input.workspace === "" && !admin.global ? admin.workspace : input.workspace;
  if (workspace === "") return fail("invalid_argument", "workspace is required for a global admin");
  const denied = checkWorkspace(admin, workspace);
  if (denied !== undefined) return { ok: false, error: denied };
  if (input.action !== "" && !ACTIONS.has(input.action)) {
    return fail(
      "invalid_argument",
      `unknown action "${input.action.slice(0, 40)}"; one of ${[...ACTIONS].join(", ")}`,
    );
  }
  const size = pageSize(input.pageSize);
  if (typeof size === "string") return fail("invalid_argument", size);
  const fingerprint = JSON.stringify([
    workspace,
    input.action,
    input.targetId,
    input.startTime,
    input.endTime,
  ]);
  const position = decodePageToken(input.pageToken, fingerprint);
  if ("error" in position) return fail("invalid_argument", position.error);
  const events = await store.listAuditEvents({
    workspace,
    action: input.action === "" ? undefined : (input.action as AuditAction),
    targetId: input.targetId,
    startTime: input.startTime,
    endTime: input.endTime,
    after: position.cursor,
    limit: size + 1,
  });
  const page = events.slice(0, size);
  const last = page.at(-1);
  const nextPageToken =
    events.length > size && last !== undefined
      ? encodePageToken({ time: last.time, id: last.eventId }, fingerprint)
      : "";
  return ok({ events: page, nextPageToken });
}
