import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { Environment } from "../gen/keyward/v1/key_pb.js";
import {
  GetWorkspaceResponseSchema,
  ListWorkspacesResponseSchema,
  type Workspace,
  WorkspaceSchema,
} from "../gen/keyward/v1/workspace_service_pb.js";
import type { Clients } from "./client.js";
import { commandGroup, requireChanges, type ServerOptions, serverAction, serverCommand } from "./command.js";
import { count, environmentOption } from "./flags.js";
import { int64 } from "./limit-flags.js";
import { printJson } from "./output.js";
import { fetchPages, hintNextPage } from "./pages.js";
import { printWorkspace, printWorkspaceTable } from "./workspace-output.js";

// `keyward workspaces …`: one subcommand per WorkspaceService method. All but `get` of one's own
// workspace need a global admin key (`keyward bootstrap --global`).

const WITH_GLOBAL_KEY = 'KEYWARD_ADMIN_KEY="$(cat global-admin.key)"';

/** Adds `keyward workspaces create|list|get|update|suspend|resume`. */
export function registerWorkspaceCommands(program: Command): void {
  const workspaces = commandGroup(
    program,
    "workspaces",
    "create, inspect, change and suspend workspaces (tenants); needs a global admin key",
    `${WITH_GLOBAL_KEY} keyward workspaces list`,
  );
  registerCreateAndUpdate(workspaces);
  registerList(workspaces);
  registerSingle(workspaces, "get", "show one workspace", (clients, id) =>
    clients.workspaces.getWorkspace({ workspaceId: id }),
  );
  registerSingle(
    workspaces,
    "suspend",
    "deny every key of the workspace (REASON_WORKSPACE_SUSPENDED) until it is resumed",
    (clients, id, options) =>
      clients.workspaces.suspendWorkspace({ workspaceId: id, reason: options.reason ?? "" }),
  );
  registerSingle(workspaces, "resume", "let a suspended workspace's keys work again", (clients, id) =>
    clients.workspaces.resumeWorkspace({ workspaceId: id }),
  );
}

interface WorkspaceFieldOptions extends ServerOptions {
  readonly displayName?: string;
  readonly maxKeys?: number;
  readonly defaultPrefix?: string;
  readonly defaultEnv?: Environment;
  readonly defaultTier?: string;
  readonly defaultMonthlyQuota?: bigint;
}

/** The workspace from the flags given, and the UpdateWorkspace mask naming exactly those. */
export function workspaceFields(workspaceId: string, options: WorkspaceFieldOptions) {
  const workspace = create(WorkspaceSchema, { workspaceId });
  const paths: string[] = [];
  const masked = <T>(path: string, value: T): T => {
    paths.push(path);
    return value;
  };
  if (options.displayName !== undefined) workspace.displayName = masked("display_name", options.displayName);
  if (options.maxKeys !== undefined) workspace.maxKeys = masked("max_keys", options.maxKeys);
  if (options.defaultPrefix !== undefined) {
    workspace.defaultKeyPrefix = masked("default_key_prefix", options.defaultPrefix);
  }
  if (options.defaultEnv !== undefined) {
    workspace.defaultEnvironment = masked("default_environment", options.defaultEnv);
  }
  if (options.defaultTier !== undefined) workspace.defaultTier = masked("default_tier", options.defaultTier);
  if (options.defaultMonthlyQuota !== undefined) {
    workspace.defaultMonthlyQuota = masked("default_monthly_quota", options.defaultMonthlyQuota);
  }
  return { workspace, updateMask: create(FieldMaskSchema, { paths }) };
}

function registerCreateAndUpdate(workspaces: Command): void {
  const createCommand = serverCommand(
    workspaces,
    "create <workspace_id>",
    "create a workspace (id: 1–64 letters, digits, _ . -; immutable)",
    `${WITH_GLOBAL_KEY} keyward workspaces create acme --display-name "Acme Corp" --max-keys 100`,
  );
  const updateCommand = serverCommand(
    workspaces,
    "update <workspace_id>",
    "change the fields given, and only those",
    `${WITH_GLOBAL_KEY} keyward workspaces update acme --max-keys 500`,
  );
  for (const command of [createCommand, updateCommand]) {
    command
      .option("--display-name <name>", "human-readable name")
      .option("--max-keys <n>", "most keys active at once; 0 for no limit", count)
      .option("--default-prefix <prefix>", "prefix for keys issued without one (kw when unset)")
      .addOption(environmentOption("--default-env <env>", "environment for keys issued without one"))
      .option("--default-tier <name>", "rate-limit tier of keys issued without one")
      .option("--default-monthly-quota <n>", "monthly quota of keys issued without one; 0 unlimited", int64);
  }
  serverAction(createCommand, async ({ workspaces }, options: WorkspaceFieldOptions, [workspaceId = ""]) => {
    const { workspace } = workspaceFields(workspaceId, options);
    printWorkspaceResponse(await workspaces.createWorkspace({ workspace }), options);
  });
  serverAction(updateCommand, async ({ workspaces }, options: WorkspaceFieldOptions, [workspaceId = ""]) => {
    const request = workspaceFields(workspaceId, options);
    requireChanges(updateCommand, request.updateMask.paths);
    printWorkspaceResponse(await workspaces.updateWorkspace(request), options);
  });
}

interface ListOptions extends ServerOptions {
  readonly pageSize?: number;
  readonly pageToken?: string;
  readonly all?: boolean;
}

function registerList(workspaces: Command): void {
  const command = serverCommand(
    workspaces,
    "list",
    "list all workspaces",
    `${WITH_GLOBAL_KEY} keyward workspaces list --all`,
  )
    .option("--page-size <n>", "workspaces per page, 1–1000 (server default 100)", count)
    .option("--page-token <token>", "continue from a previous page")
    .option("--all", "follow the pages to the end");
  serverAction(command, async ({ workspaces }, options: ListOptions) => {
    const pages = await fetchPages(options.pageToken ?? "", options.all === true, (pageToken) =>
      workspaces.listWorkspaces({ pageSize: options.pageSize ?? 0, pageToken }),
    );
    const last = pages.at(-1);
    const merged = create(ListWorkspacesResponseSchema, {
      workspaces: pages.flatMap((page) => page.workspaces),
      nextPageToken: last?.nextPageToken ?? "",
      totalSize: last?.totalSize ?? 0,
    });
    if (options.json) return printJson(ListWorkspacesResponseSchema, merged);
    if (merged.workspaces.length === 0) process.stdout.write("No workspaces found.\n");
    else printWorkspaceTable(merged.workspaces);
    hintNextPage(merged.nextPageToken, "workspaces");
  });
}

interface ReasonOptions extends ServerOptions {
  readonly reason?: string;
}

/** get, suspend and resume: a workspace id in, the workspace out. */
function registerSingle(
  workspaces: Command,
  name: "get" | "suspend" | "resume",
  description: string,
  call: (
    clients: Clients,
    workspaceId: string,
    options: ReasonOptions,
  ) => Promise<{ workspace?: Workspace | undefined }>,
): void {
  const command = serverCommand(
    workspaces,
    `${name} <workspace_id>`,
    description,
    `${WITH_GLOBAL_KEY} keyward workspaces ${name} acme`,
  );
  if (name === "suspend")
    command.option("--reason <text>", "why; kept on the workspace and in the audit trail");
  serverAction(command, async (clients, options: ReasonOptions, [workspaceId = ""]) => {
    printWorkspaceResponse(await call(clients, workspaceId, options), options);
  });
}

/** Every single-workspace response is `{ workspace }`, so one schema serves for the JSON. */
function printWorkspaceResponse(
  response: { workspace?: Workspace | undefined },
  options: ServerOptions,
): void {
  if (options.json) {
    printJson(
      GetWorkspaceResponseSchema,
      create(GetWorkspaceResponseSchema, { workspace: response.workspace }),
    );
  } else if (response.workspace !== undefined) printWorkspace(response.workspace);
}
