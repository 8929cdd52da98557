import { create } from "@bufbuild/protobuf";
import { type Admin, authenticateAdmin } from "../domain/admin-access.js";
import type { Clock } from "../domain/clock.js";
import { bearerToken } from "../domain/credential.js";
import { issueKey } from "../domain/issue-key.js";
import type { KeyResolver, KeyStore } from "../domain/key-store.js";
import { revokeKey } from "../domain/revoke-key.js";
import {
  IssueKeyResponseSchema,
  KeyService,
  RevokeKeyResponseSchema,
} from "../gen/keyward/v1/key_service_pb.js";
import type { Logger } from "../log.js";
import { issueInputFromProto, keyToProto } from "./convert.js";
import { failureError } from "./errors.js";
import { type CallContext, type ServedService, served } from "./handler.js";

export interface KeyServiceDeps {
  /** A store whose changes evict the cache (cache/cached-key-store.ts). */
  readonly store: KeyStore;
  readonly resolver: KeyResolver;
  readonly clock: Clock;
  readonly log: Logger;
}

/** keyward.v1.KeyService: key management, for admin keys only. */
export function keyService({ store, resolver, clock, log }: KeyServiceDeps): ServedService {
  async function admin(context: CallContext): Promise<Admin> {
    const header = context.header("authorization");
    const outcome = await authenticateAdmin(resolver, header && bearerToken(header), clock.now());
    if (!outcome.ok) throw failureError(outcome.error);
    return outcome.value;
  }

  return served(KeyService, {
    async issueKey(request, context) {
      const caller = await admin(context);
      const input = issueInputFromProto(request);
      if (!input.ok) throw failureError(input.error);
      const issued = await issueKey(store, caller, input.value, clock.now());
      if (!issued.ok) throw failureError(issued.error);
      const key = issued.value.key;
      log.info("key issued", {
        key_id: key.keyId,
        workspace: key.workspace,
        actor: caller.keyId,
        peer: context.peer,
      });
      return create(IssueKeyResponseSchema, { key: keyToProto(key), secret: issued.value.secret });
    },
    async revokeKey(request, context) {
      const caller = await admin(context);
      const revoked = await revokeKey(store, caller, request.keyId, request.reason, clock.now());
      if (!revoked.ok) throw failureError(revoked.error);
      const key = revoked.value;
      log.info("key revoked", {
        key_id: key.keyId,
        workspace: key.workspace,
        actor: caller.keyId,
        peer: context.peer,
      });
      return create(RevokeKeyResponseSchema, { key: keyToProto(key) });
    },
  });
}
