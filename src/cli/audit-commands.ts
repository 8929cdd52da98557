import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import { type AuditEvent, ListAuditEventsResponseSchema } from "../gen/keyward/v1/audit_service_pb.js";
import { commandGroup, type ServerOptions, serverAction, serverCommand, WITH_ADMIN_KEY } from "./command.js";
import { count, timestamp } from "./flags.js";
import { formatList, formatTime, printJson, printTable } from "./output.js";
import { fetchPages, hintNextPage } from "./pages.js";

// `keyward audit list`: the audit trail, one event per management call that changed state.

/** Adds `keyward audit list`. */
export function registerAuditCommands(program: Command): void {
  const audit = commandGroup(
    program,
    "audit",
    "read the audit trail of a workspace",
    `${WITH_ADMIN_KEY} keyward audit list --action key.revoked`,
  );
  registerList(audit);
}

interface ListOptions extends ServerOptions {
  readonly workspace?: string;
  readonly action?: string;
  readonly target?: string;
  readonly since?: Timestamp;
  readonly until?: Timestamp;
  readonly pageSize?: number;
  readonly pageToken?: string;
  readonly all?: boolean;
}

function registerList(audit: Command): void {
  const command = serverCommand(
    audit,
    "list",
    "list a workspace's audit events, newest first",
    `${WITH_ADMIN_KEY} keyward audit list --target key_123 --since 2025-01-01T00:00:00Z`,
  )
    .option(
      "--workspace <id>",
      "workspace to read (default: the admin key's own; a global admin must name one)",
    )
    .option("--action <action>", "only this action, e.g. key.issued, key.revoked, workspace.suspended")
    .option("--target <id>", "only events about this key or workspace")
    .option("--since <time>", "only events at or after this RFC 3339 time", timestamp)
    .option("--until <time>", "only events before this RFC 3339 time", timestamp)
    .option("--page-size <n>", "events per page, 1–1000 (server default 100)", count)
    .option("--page-token <token>", "continue from a previous page")
    .option("--all", "follow the pages to the end");
  serverAction(command, async ({ audit }, options: ListOptions) => {
    const pages = await fetchPages(options.pageToken ?? "", options.all === true, (pageToken) =>
      audit.listAuditEvents({
        workspace: options.workspace ?? "",
        pageSize: options.pageSize ?? 0,
        pageToken,
        action: options.action ?? "",
        targetId: options.target ?? "",
        startTime: options.since,
        endTime: options.until,
      }),
    );
    const merged = create(ListAuditEventsResponseSchema, {
      events: pages.flatMap((page) => page.events),
      nextPageToken: pages.at(-1)?.nextPageToken ?? "",
    });
    if (options.json) return printJson(ListAuditEventsResponseSchema, merged);
    if (merged.events.length === 0) process.stdout.write("No audit events found.\n");
    else printEventTable(merged.events);
    hintNextPage(merged.nextPageToken, "events");
  });
}

function printEventTable(events: readonly AuditEvent[]): void {
  printTable(
    ["TIME", "ACTION", "TARGET", "ACTOR", "DETAILS"],
    events.map((event) => [
      formatTime(event.time),
      event.action,
      event.targetId,
      event.actorKeyId,
      details(event),
    ]),
  );
}

/** What changed and why, where the event says; the peer and user agent are left to --json. */
function details(event: AuditEvent): string {
  const parts = [
    ...(event.changedFields.length > 0 ? [`changed: ${formatList(event.changedFields)}`] : []),
    ...(event.reason !== "" ? [`reason: ${event.reason}`] : []),
  ];
  return parts.length === 0 ? "-" : parts.join("; ");
}
