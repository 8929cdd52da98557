import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import type { GrpcClients } from "../support/clients.js";
import { useRawDatabase } from "../support/raw-sql.js";
import { useServer } from "../support/use-server.js";

// Every state-changing management call writes an audit event in the same transaction as the change.

const server = useServer({ workspace: "audited" });
const raw = useRawDatabase(server);
/** The audit trail, read with the workspace admin key. */
let audit: GrpcClients["audit"];

beforeAll(() => {
  audit = server.clients(server.admin).audit;
});

describe("audit trail", () => {
  it("records who did what to which key, for each action, newest first", async () => {
    const { keys } = server.clients(server.admin);
    const issued = await keys.issueKey({ workspace: "audited", name: "tracked" });
    const keyId = issued.key?.keyId ?? "";
    await keys.updateKey({
      key: { keyId, name: "renamed", ownerId: "" },
      updateMask: { paths: ["name", "owner_id"] },
    });
    await keys.suspendKey({ keyId, reason: "investigating" });
    await keys.resumeKey({ keyId });
    const rotated = await keys.rotateKey({ keyId });
    await keys.revokeKey({ keyId: rotated.key?.keyId ?? "", reason: "done" });

    const { events } = await audit.listAuditEvents({ workspace: "audited" });
    const actions = events.map((e) => `${e.action} ${e.targetId === keyId ? "old" : "new"}`);
    expect(actions.slice(0, 7)).toEqual([
      "key.revoked new",
      "key.rotated old", // written after the new key's key.issued, in the same transaction
      "key.issued new",
      "key.resumed old",
      "key.suspended old",
      "key.updated old",
      "key.issued old",
    ]);
    const updated = events.find((e) => e.action === "key.updated");
    expect(updated?.changedFields).toEqual(["name"]); // owner_id was in the mask but did not change
    const suspended = events.find((e) => e.action === "key.suspended");
    expect(suspended).toMatchObject({ reason: "investigating", workspace: "audited" });
    expect(suspended?.actorKeyId).toMatch(/^key_/);
    expect(suspended?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(suspended?.userAgent).toMatch(/connect-es/); // the Connect client's own user agent
    expect(events).toContainEqual(expect.objectContaining({ action: "key.issued", actorKeyId: "bootstrap" }));
    expect(JSON.stringify(events.map((e) => e.targetId))).not.toContain(issued.secret);

    const filtered = await audit.listAuditEvents({
      workspace: "audited",
      action: "key.issued",
      targetId: keyId,
    });
    expect(filtered.events.map((e) => e.action)).toEqual(["key.issued"]);
    await expect(audit.listAuditEvents({ action: "key.exploded" })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const paged = await audit.listAuditEvents({ pageSize: 2 });
    const next = await audit.listAuditEvents({ pageSize: 2, pageToken: paged.nextPageToken });
    expect(next.events[0]?.eventId).toBe(events[2]?.eventId);
  });

  it("filters by time range", async () => {
    const all = (await audit.listAuditEvents({ workspace: "audited", pageSize: 1000 })).events;
    const newest = all[0]?.time;
    const onlyNewest = await audit.listAuditEvents({ startTime: newest });
    expect(onlyNewest.events.every((e) => Number(e.time?.seconds) >= Number(newest?.seconds))).toBe(true);
    const beforeAll = await audit.listAuditEvents({ endTime: { seconds: 1n } });
    expect(beforeAll.events).toEqual([]);
  });

  it("rolls the change back when its audit event cannot be written, and the event when the change fails", async () => {
    const { keys, authorize } = server.clients(server.admin);
    const before = (await keys.listKeys({})).totalSize;
    await raw.failWrites("fail_audit", "audit_events", "insert", "audit down");
    try {
      await expect(keys.issueKey({ workspace: "audited", name: "never" })).rejects.toMatchObject({
        code: Code.Unavailable,
      });
    } finally {
      await raw.passWrites("fail_audit", "audit_events");
    }
    expect((await keys.listKeys({})).totalSize).toBe(before);

    const target = await keys.issueKey({ workspace: "audited", name: "stays active" });
    const eventsBefore = (await audit.listAuditEvents({ pageSize: 1000 })).events.length;
    await raw.failWrites("fail_revoke", "api_keys", "update", "keys down");
    try {
      await expect(keys.revokeKey({ keyId: target.key?.keyId ?? "" })).rejects.toMatchObject({
        code: Code.Unavailable,
      });
    } finally {
      await raw.passWrites("fail_revoke", "api_keys");
    }
    expect((await audit.listAuditEvents({ pageSize: 1000 })).events.length).toBe(eventsBefore);
    expect((await authorize.authorize({ apiKey: target.secret })).reason).toBe(Reason.ALLOWED);

    // An expected failure (over a limit) leaves no event either.
    const refused = await keys
      .issueKey({ workspace: "audited", name: "x", scopes: ["NOT VALID"] })
      .catch((e) => e);
    expect(refused).toMatchObject({ code: Code.InvalidArgument });
    expect((await audit.listAuditEvents({ pageSize: 1000 })).events.length).toBe(eventsBefore);
  });
});
