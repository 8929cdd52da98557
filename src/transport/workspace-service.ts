import { create } from "@bufbuild/protobuf";
import type { Clock } from "../domain/clock.js";
import type { KeyResolver } from "../domain/key-resolver.js";
import type { KeyStore } from "../domain/key-store.js";
import {
  createWorkspace,
  getWorkspace,
  listWorkspaces,
  resumeWorkspace,
  suspendWorkspace,
  updateWorkspace,
} from "../domain/manage-workspaces.js";
import type { TierTable } from "../domain/tiers.js";
import {
  CreateWorkspaceResponseSchema,
  GetWorkspaceResponseSchema,
  ListWorkspacesResponseSchema,
  ResumeWorkspaceResponseSchema,
  SuspendWorkspaceResponseSchema,
  UpdateWorkspaceResponseSchema,
  WorkspaceService,
} from "../gen/keyward/v1/workspace_service_pb.js";
import type { Logger } from "../log.js";
import { type AdminCall, adminCall, unwrap } from "./admin-call.js";
import { workspaceSettingsFromProto, workspaceToProto } from "./convert-management.js";
import { invalidArgument } from "./errors.js";
import { type CallContext, type ServedService, served } from "./handler.js";

export interface WorkspaceServiceDeps {
  readonly store: KeyStore;
  readonly resolver: KeyResolver;
  readonly clock: Clock;
  readonly log: Logger;
  /** The tiers a key or a workspace default may name now (SIGHUP may replace them). */
  readonly tiers: () => TierTable;
}

/** keyward.v1.WorkspaceService: tenants, their limits and their suspension; global admins only, but reads. */
export function workspaceService({
  store,
  resolver,
  clock,
  log,
  tiers,
}: WorkspaceServiceDeps): ServedService {
  const authenticate = (context: CallContext) => adminCall(resolver, clock, context);
  const logChange = (message: string, workspace: string, call: AdminCall) =>
    log.info(message, { workspace, actor: call.admin.keyId, request_id: call.requestId });

  return served(WorkspaceService, {
    async createWorkspace(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const workspace = request.workspace;
      if (workspace === undefined) throw invalidArgument("workspace is required");
      const settings = unwrap(workspaceSettingsFromProto(workspace, undefined));
      const view = unwrap(
        await createWorkspace(store, admin, caller, workspace.workspaceId, settings, clock.now(), tiers()),
      );
      logChange("workspace created", view.workspace.workspaceId, call);
      return create(CreateWorkspaceResponseSchema, { workspace: workspaceToProto(view) });
    },
    async getWorkspace(request, context) {
      const { admin } = await authenticate(context);
      const view = unwrap(await getWorkspace(store, admin, request.workspaceId, clock.now()));
      return create(GetWorkspaceResponseSchema, { workspace: workspaceToProto(view) });
    },
    async listWorkspaces(request, context) {
      const { admin } = await authenticate(context);
      const page = unwrap(
        await listWorkspaces(store, admin, request.pageSize, request.pageToken, clock.now()),
      );
      return create(ListWorkspacesResponseSchema, {
        workspaces: page.workspaces.map(workspaceToProto),
        nextPageToken: page.nextPageToken,
        totalSize: page.totalSize,
      });
    },
    async updateWorkspace(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const workspace = request.workspace;
      if (workspace === undefined) throw invalidArgument("workspace is required");
      const settings = unwrap(workspaceSettingsFromProto(workspace, request.updateMask));
      const view = unwrap(
        await updateWorkspace(store, admin, caller, workspace.workspaceId, settings, clock.now(), tiers()),
      );
      logChange("workspace updated", view.workspace.workspaceId, call);
      return create(UpdateWorkspaceResponseSchema, { workspace: workspaceToProto(view) });
    },
    async suspendWorkspace(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const view = unwrap(
        await suspendWorkspace(store, admin, caller, request.workspaceId, request.reason, clock.now()),
      );
      logChange("workspace suspended", view.workspace.workspaceId, call);
      return create(SuspendWorkspaceResponseSchema, { workspace: workspaceToProto(view) });
    },
    async resumeWorkspace(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const view = unwrap(await resumeWorkspace(store, admin, caller, request.workspaceId, clock.now()));
      logChange("workspace resumed", view.workspace.workspaceId, call);
      return create(ResumeWorkspaceResponseSchema, { workspace: workspaceToProto(view) });
    },
  });
}
