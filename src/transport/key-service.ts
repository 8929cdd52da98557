import { create } from "@bufbuild/protobuf";
import type { Clock } from "../domain/clock.js";
import { getKey } from "../domain/get-key.js";
import { issueKey } from "../domain/issue-key.js";
import type { ApiKey } from "../domain/key.js";
import type { KeyResolver } from "../domain/key-resolver.js";
import type { KeyStore } from "../domain/key-store.js";
import { NO_USAGE, viewKey } from "../domain/key-view.js";
import { listKeys } from "../domain/list-keys.js";
import { revokeKey } from "../domain/revoke-key.js";
import { rotateKey } from "../domain/rotate-key.js";
import { resumeKey, suspendKey } from "../domain/suspend-key.js";
import type { TierTable } from "../domain/tiers.js";
import { updateKey } from "../domain/update-key.js";
import type { Key } from "../gen/keyward/v1/key_pb.js";
import {
  GetKeyResponseSchema,
  IssueKeyResponseSchema,
  KeyService,
  ListKeysResponseSchema,
  ResumeKeyResponseSchema,
  RevokeKeyResponseSchema,
  RotateKeyResponseSchema,
  SuspendKeyResponseSchema,
  UpdateKeyResponseSchema,
} from "../gen/keyward/v1/key_service_pb.js";
import type { Logger } from "../log.js";
import { type AdminCall, adminCall, unwrap } from "./admin-call.js";
import {
  durationToMs,
  environmentFromProto,
  issueInputFromProto,
  keyToProto,
  statusFromProto,
} from "./convert.js";
import { keyUpdateFromProto } from "./convert-management.js";
import { invalidArgument } from "./errors.js";
import { type ServedService, served } from "./handler.js";

export interface KeyServiceDeps {
  /** A store whose changes evict the cache (cache/cached-key-store.ts). */
  readonly store: KeyStore;
  readonly resolver: KeyResolver;
  readonly clock: Clock;
  readonly log: Logger;
  /** The tiers a key or a workspace default may name now (SIGHUP may replace them). */
  readonly tiers: () => TierTable;
}

/** keyward.v1.KeyService: key management, for admin keys only. Handlers extract, call the domain, convert back. */
export function keyService({ store, resolver, clock, log, tiers }: KeyServiceDeps): ServedService {
  const authenticate = (context: Parameters<typeof adminCall>[2]) => adminCall(resolver, clock, context);
  const logChange = (message: string, keyId: string, workspace: string, call: AdminCall) =>
    log.info(message, {
      key_id: keyId,
      workspace,
      actor: call.admin.keyId,
      peer: call.caller.peer,
      request_id: call.requestId,
    });
  // A changed key is shown with its usage, like GetKey's, read once the change is committed. Should that
  // read fail, the key goes without usage: failing the call would hide a change that took effect (and a
  // rotation's only copy of the new secret).
  const shown = async (key: ApiKey): Promise<Key> => {
    try {
      return keyToProto(await viewKey(store, key, clock.now()));
    } catch (error) {
      log.warn("usage not read for a changed key", { key_id: key.keyId, error });
      return keyToProto({ key });
    }
  };

  return served(KeyService, {
    async issueKey(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const input = unwrap(issueInputFromProto(request));
      const issued = unwrap(await issueKey(store, admin, caller, input, clock.now(), tiers()));
      logChange("key issued", issued.key.keyId, issued.key.workspace, call);
      return create(IssueKeyResponseSchema, {
        key: keyToProto({ key: issued.key, usage: NO_USAGE }),
        secret: issued.secret,
      });
    },
    async revokeKey(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const key = unwrap(await revokeKey(store, admin, caller, request.keyId, request.reason, clock.now()));
      logChange("key revoked", key.keyId, key.workspace, call);
      return create(RevokeKeyResponseSchema, { key: await shown(key) });
    },
    async getKey(request, context) {
      const { admin } = await authenticate(context);
      const view = unwrap(await getKey(store, admin, request.keyId, clock.now()));
      return create(GetKeyResponseSchema, { key: keyToProto(view) });
    },
    async listKeys(request, context) {
      const { admin } = await authenticate(context);
      const page = unwrap(
        await listKeys(
          store,
          admin,
          {
            workspace: request.workspace,
            pageSize: request.pageSize,
            pageToken: request.pageToken,
            status: unwrap(statusFromProto(request.status)),
            environment: unwrap(environmentFromProto(request.environment)),
            namePrefix: request.namePrefix,
            ownerId: request.ownerId,
          },
          clock.now(),
        ),
      );
      return create(ListKeysResponseSchema, {
        keys: page.keys.map(keyToProto),
        nextPageToken: page.nextPageToken,
        totalSize: page.totalSize,
      });
    },
    async updateKey(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      if (request.key === undefined) throw invalidArgument("key is required");
      const update = unwrap(keyUpdateFromProto(request.key, request.updateMask));
      const key = unwrap(
        await updateKey(store, admin, caller, request.key.keyId, update, clock.now(), tiers()),
      );
      logChange("key updated", key.keyId, key.workspace, call);
      return create(UpdateKeyResponseSchema, { key: await shown(key) });
    },
    async suspendKey(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const key = unwrap(await suspendKey(store, admin, caller, request.keyId, request.reason, clock.now()));
      logChange("key suspended", key.keyId, key.workspace, call);
      return create(SuspendKeyResponseSchema, { key: await shown(key) });
    },
    async resumeKey(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const key = unwrap(await resumeKey(store, admin, caller, request.keyId, clock.now()));
      logChange("key resumed", key.keyId, key.workspace, call);
      return create(ResumeKeyResponseSchema, { key: await shown(key) });
    },
    async rotateKey(request, context) {
      const call = await authenticate(context);
      const { admin, caller } = call;
      const grace = request.gracePeriod && unwrap(durationToMs(request.gracePeriod, "grace_period"));
      const rotation = unwrap(await rotateKey(store, admin, caller, request.keyId, grace, clock.now()));
      logChange("key rotated", rotation.previous.keyId, rotation.key.workspace, call);
      return create(RotateKeyResponseSchema, {
        key: keyToProto({ key: rotation.key, usage: NO_USAGE }),
        secret: rotation.secret,
        previousKey: await shown(rotation.previous),
      });
    },
  });
}
