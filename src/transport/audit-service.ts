import { create } from "@bufbuild/protobuf";
import { listAuditEvents } from "../domain/audit-log.js";
import type { Clock } from "../domain/clock.js";
import type { KeyResolver } from "../domain/key-resolver.js";
import type { KeyStore } from "../domain/key-store.js";
import { AuditService, ListAuditEventsResponseSchema } from "../gen/keyward/v1/audit_service_pb.js";
import { adminCall, unwrap } from "./admin-call.js";
import { timestampToMs } from "./convert.js";
import { auditEventToProto } from "./convert-management.js";
import { type ServedService, served } from "./handler.js";

export interface AuditServiceDeps {
  readonly store: KeyStore;
  readonly resolver: KeyResolver;
  readonly clock: Clock;
}

/** keyward.v1.AuditService: reading the audit trail. */
export function auditService({ store, resolver, clock }: AuditServiceDeps): ServedService {
  return served(AuditService, {
    async listAuditEvents(request, context) {
      const { admin } = await adminCall(resolver, clock, context);
      const page = unwrap(
        await listAuditEvents(store, admin, {
          workspace: request.workspace,
          pageSize: request.pageSize,
          pageToken: request.pageToken,
          action: request.action,
          targetId: request.targetId,
          startTime: request.startTime && unwrap(timestampToMs(request.startTime, "start_time")),
          endTime: request.endTime && unwrap(timestampToMs(request.endTime, "end_time")),
        }),
      );
      return create(ListAuditEventsResponseSchema, {
        events: page.events.map(auditEventToProto),
        nextPageToken: page.nextPageToken,
      });
    },
  });
}
