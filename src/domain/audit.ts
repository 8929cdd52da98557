import { randomBase62 } from "./key-format.js";

/** What changed; a closed set so that filters and dashboards can rely on the names. */
export type AuditAction =
  | "key.issued"
  | "key.revoked"
  | "key.updated"
  | "key.suspended"
  | "key.resumed"
  | "key.rotated"
  | "workspace.created"
  | "workspace.updated"
  | "workspace.suspended"
  | "workspace.resumed";

/** One management call that changed state. Never holds a key or its hash. */
export interface AuditEvent {
  readonly eventId: string;
  readonly time: number;
  readonly workspace: string;
  readonly actorKeyId: string;
  readonly action: AuditAction;
  readonly targetId: string;
  readonly changedFields: readonly string[];
  readonly peer: string;
  readonly userAgent: string;
  readonly reason: string;
}

/** Who made a management call, for the audit trail. */
export interface Caller {
  readonly actorKeyId: string;
  readonly peer: string;
  readonly userAgent: string;
}

let sequence = 0;

/**
 * Event ids sort like the events were recorded: the time, then a per-process
 * sequence, then randomness. So "newest first" keeps the order of events
 * written in the same millisecond (a rotation writes two).
 */
function eventId(now: number): string {
  sequence = (sequence + 1) % 36 ** 4;
  return `evt_${now.toString(36).padStart(9, "0")}${sequence.toString(36).padStart(4, "0")}${randomBase62(12)}`;
}

export function auditEvent(
  caller: Caller,
  now: number,
  event: Pick<AuditEvent, "workspace" | "action" | "targetId"> &
    Partial<Pick<AuditEvent, "changedFields" | "reason">>,
): AuditEvent {
  return {
    eventId: eventId(now),
    time: now,
    actorKeyId: caller.actorKeyId,
    peer: caller.peer,
    userAgent: caller.userAgent,
    changedFields: event.changedFields ?? [],
    reason: event.reason ?? "",
    workspace: event.workspace,
    action: event.action,
    targetId: event.targetId,
  };
}
