import { create } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import { type Environment, type Key, KeyStatus } from "../gen/keyward/v1/key_pb.js";
import {
  GetKeyResponseSchema,
  ListKeysResponseSchema,
  RotateKeyResponseSchema,
} from "../gen/keyward/v1/key_service_pb.js";
import type { Clients } from "./client.js";
import { commandGroup, type ServerOptions, serverAction, serverCommand, WITH_ADMIN_KEY } from "./command.js";
import { choiceOption, count, duration, environmentOption } from "./flags.js";
import { registerKeyIssue } from "./key-issue-command.js";
import { printKey, printKeyTable, printSecret, warnSecretShownOnce } from "./key-output.js";
import { registerKeyUpdate } from "./key-update-command.js";
import { formatTime, printJson } from "./output.js";
import { fetchPages, hintNextPage } from "./pages.js";

// `keyward keys …`: one subcommand per KeyService method.

/** Adds `keyward keys issue|list|get|update|suspend|resume|rotate|revoke`. */
export function registerKeyCommands(program: Command): void {
  const keys = commandGroup(
    program,
    "keys",
    "issue, inspect, change and revoke API keys on a running server",
    `${WITH_ADMIN_KEY} keyward keys list --status active`,
  );
  registerKeyIssue(keys);
  registerList(keys);
  registerSingle(keys, "get", "show one key (never its secret)", (clients, keyId) =>
    clients.keys.getKey({ keyId }),
  );
  registerKeyUpdate(keys);
  registerSingle(
    keys,
    "suspend",
    "deny a key (REASON_KEY_SUSPENDED) until it is resumed",
    (clients, keyId, options) => clients.keys.suspendKey({ keyId, reason: options.reason ?? "" }),
  );
  registerSingle(keys, "resume", "let a suspended key work again", (clients, keyId) =>
    clients.keys.resumeKey({ keyId }),
  );
  registerRotate(keys);
  registerSingle(keys, "revoke", "revoke a key, permanently and at once", (clients, keyId, options) =>
    clients.keys.revokeKey({ keyId, reason: options.reason ?? "" }),
  );
}

interface ListOptions extends ServerOptions {
  readonly workspace?: string;
  readonly status?: KeyStatus;
  readonly env?: Environment;
  readonly namePrefix?: string;
  readonly owner?: string;
  readonly pageSize?: number;
  readonly pageToken?: string;
  readonly all?: boolean;
}

const STATUSES = { active: KeyStatus.ACTIVE, suspended: KeyStatus.SUSPENDED, revoked: KeyStatus.REVOKED };

function registerList(keys: Command): void {
  const command = serverCommand(
    keys,
    "list",
    "list a workspace's keys, newest first",
    `${WITH_ADMIN_KEY} keyward keys list --all --json`,
  )
    .option(
      "--workspace <id>",
      "workspace to list (default: the admin key's own; a global admin must name one)",
    )
    .addOption(choiceOption("--status <status>", "only keys in this state", STATUSES))
    .addOption(environmentOption("--env <env>", "only keys of this environment"))
    .option("--name-prefix <prefix>", "only keys whose name starts with this")
    .option("--owner <id>", "only keys of this owner")
    .option("--page-size <n>", "keys per page, 1–1000 (server default 100)", count)
    .option("--page-token <token>", "continue from a previous page")
    .option("--all", "follow the pages to the end");
  serverAction(command, async ({ keys }, options: ListOptions) => {
    const pages = await fetchPages(options.pageToken ?? "", options.all === true, (pageToken) =>
      keys.listKeys({
        workspace: options.workspace ?? "",
        pageSize: options.pageSize ?? 0,
        pageToken,
        ...(options.status !== undefined && { status: options.status }),
        ...(options.env !== undefined && { environment: options.env }),
        namePrefix: options.namePrefix ?? "",
        ownerId: options.owner ?? "",
      }),
    );
    const last = pages.at(-1);
    const merged = create(ListKeysResponseSchema, {
      keys: pages.flatMap((page) => page.keys),
      nextPageToken: last?.nextPageToken ?? "",
      totalSize: last?.totalSize ?? 0,
    });
    if (options.json) return printJson(ListKeysResponseSchema, merged);
    if (merged.keys.length === 0) process.stdout.write("No keys found.\n");
    else printKeyTable(merged.keys);
    hintNextPage(merged.nextPageToken, "keys");
  });
}

interface ReasonOptions extends ServerOptions {
  readonly reason?: string;
}

/** get, suspend, resume and revoke: a key id in, the key out. */
function registerSingle(
  keys: Command,
  name: "get" | "suspend" | "resume" | "revoke",
  description: string,
  call: (clients: Clients, keyId: string, options: ReasonOptions) => Promise<{ key?: Key | undefined }>,
): void {
  const command = serverCommand(
    keys,
    `${name} <key_id>`,
    description,
    `${WITH_ADMIN_KEY} keyward keys ${name} key_123`,
  );
  if (name === "suspend" || name === "revoke") {
    command.option("--reason <text>", "why; kept on the key and in the audit trail");
  }
  serverAction(command, async (clients, options: ReasonOptions, [keyId = ""]) => {
    printKeyResponse(await call(clients, keyId, options), options);
  });
}

interface RotateOptions extends ServerOptions {
  readonly grace?: Duration;
}

function registerRotate(keys: Command): void {
  const command = serverCommand(
    keys,
    "rotate <key_id>",
    "issue a replacement with the same settings; the old key works until the grace period ends",
    `${WITH_ADMIN_KEY} keyward keys rotate key_123 --grace 1h`,
  ).option(
    "--grace <duration>",
    "how long the old key keeps working; 0 revokes it at once (server default 24h)",
    duration,
  );
  serverAction(command, async ({ keys }, options: RotateOptions, [keyId = ""]) => {
    const response = await keys.rotateKey({ keyId, gracePeriod: options.grace });
    if (options.json) {
      printJson(RotateKeyResponseSchema, response);
      warnSecretShownOnce();
      return;
    }
    if (response.key !== undefined) printKey(response.key);
    if (response.previousKey !== undefined) {
      process.stdout.write(`\n${describePrevious(response.previousKey)}\n`);
    }
    printSecret(response.secret);
  });
}

function describePrevious(previous: Key): string {
  if (previous.status === KeyStatus.REVOKED) return `Previous key ${previous.keyId} is revoked.`;
  const until = formatTime(previous.expireTime, "the end of the grace period");
  return `Previous key ${previous.keyId} keeps working until ${until}.`;
}

/** Prints a single-key response. Every such response is `{ key }`, so one schema serves for the JSON. */
function printKeyResponse(response: { key?: Key | undefined }, options: ServerOptions): void {
  if (options.json) printJson(GetKeyResponseSchema, create(GetKeyResponseSchema, { key: response.key }));
  else if (response.key !== undefined) printKey(response.key);
}
