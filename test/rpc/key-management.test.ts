import type { MessageInitShape } from "@bufbuild/protobuf";
import { toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Environment, type Key, KeySchema, KeyStatus, Reason } from "../../src/gen/keyward/v1/key_pb.js";
import type { UpdateKeyRequestSchema } from "../../src/gen/keyward/v1/key_service_pb.js";
import { useServer } from "../support/use-server.js";

// GetKey, ListKeys, UpdateKey, SuspendKey, ResumeKey and RotateKey over real gRPC.

const server = useServer();

const clients = () => server.clients(server.admin);

describe("GetKey and ListKeys", () => {
  it("returns a key by id, never its secret or hash", async () => {
    const { keys } = clients();
    const issued = await keys.issueKey({ name: "get me", scopes: ["models:read"], metadata: { team: "a" } });
    const { key } = await keys.getKey({ keyId: issued.key?.keyId ?? "" });
    expect(key).toEqual(issued.key);
    expect(toJsonString(KeySchema, key as Key)).not.toContain(issued.secret.slice(8));
    await expect(keys.getKey({ keyId: "key_missing" })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("filters by status, environment, name prefix and owner, newest first", async () => {
    // A workspace of its own: its listing holds only this test's keys and its admin.
    const { keys } = server.clients(await server.bootstrap("filters"));
    const a = await keys.issueKey({ workspace: "filters", name: "alpha 1", ownerId: "ann" });
    const b = await keys.issueKey({ workspace: "filters", name: "alpha 2", environment: Environment.TEST });
    const c = await keys.issueKey({ workspace: "filters", name: "beta_%", ownerId: "ann" });
    await keys.revokeKey({ keyId: b.key?.keyId ?? "" });
    const ids = async (request: Parameters<typeof keys.listKeys>[0]) =>
      (await keys.listKeys({ workspace: "filters", ...request })).keys.map((k) => k.keyId);
    const all = await keys.listKeys({ workspace: "filters" });
    expect(all.totalSize).toBe(4); // three keys and the bootstrap admin
    expect(all.keys.map((k) => k.name).slice(0, 3)).toEqual(["beta_%", "alpha 2", "alpha 1"]);
    expect(await ids({ namePrefix: "alpha" })).toEqual([b.key?.keyId, a.key?.keyId]);
    expect(await ids({ namePrefix: "beta_%" })).toEqual([c.key?.keyId]);
    expect(await ids({ namePrefix: "beta__" })).toEqual([]); // _ is not a wildcard
    expect(await ids({ ownerId: "ann" })).toEqual([c.key?.keyId, a.key?.keyId]);
    expect(await ids({ status: KeyStatus.REVOKED })).toEqual([b.key?.keyId]);
    expect(await ids({ environment: Environment.TEST })).toEqual([b.key?.keyId]);
    await expect(keys.listKeys({ pageSize: 1001 })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(keys.listKeys({ pageToken: "garbage" })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });
});

describe("UpdateKey", () => {
  it("narrows scopes with effect on the very next Authorize", async () => {
    const { keys, authorize } = clients();
    const issued = await keys.issueKey({ name: "wide", scopes: ["models:read", "models:write"] });
    const write = { apiKey: issued.secret, requiredScopes: ["models:write"] };
    expect((await authorize.authorize(write)).allowed).toBe(true); // now cached
    const updated = await keys.updateKey({
      key: { keyId: issued.key?.keyId ?? "", scopes: ["models:read"] },
      updateMask: { paths: ["scopes"] },
    });
    expect(updated.key?.scopes).toEqual(["models:read"]);
    expect(updated.key?.updateTime).not.toEqual(issued.key?.updateTime);
    const denied = await authorize.authorize(write);
    expect(denied).toMatchObject({
      allowed: false,
      reason: Reason.INSUFFICIENT_SCOPE,
      missingScopes: ["models:write"],
    });
  });

  it("sets an earlier expiry, clears it, and changes only the masked fields", async () => {
    const { keys, authorize } = clients();
    const issued = await keys.issueKey({ name: "before", description: "kept", ownerId: "o1" });
    const keyId = issued.key?.keyId ?? "";
    const expired = await keys.updateKey({
      key: { keyId, name: "after", description: "ignored: not in the mask", expireTime: { seconds: 1n } },
      updateMask: { paths: ["name", "expire_time"] },
    });
    expect(expired.key).toMatchObject({ name: "after", description: "kept", ownerId: "o1" });
    expect((await authorize.authorize({ apiKey: issued.secret })).reason).toBe(Reason.KEY_EXPIRED);
    await keys.updateKey({ key: { keyId }, updateMask: { paths: ["expire_time"] } });
    expect((await authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
  });

  it("refuses revoked keys, unknown paths, an empty mask and invalid values", async () => {
    const { keys } = clients();
    const issued = await keys.issueKey({ name: "x" });
    const keyId = issued.key?.keyId ?? "";
    const cases: [MessageInitShape<typeof UpdateKeyRequestSchema>, Code][] = [
      [{ key: { keyId }, updateMask: { paths: ["secret"] } }, Code.InvalidArgument],
      [{ key: { keyId }, updateMask: { paths: ["key_hash"] } }, Code.InvalidArgument],
      [{ key: { keyId } }, Code.InvalidArgument],
      [{ key: { keyId, scopes: ["Bad Scope"] }, updateMask: { paths: ["scopes"] } }, Code.InvalidArgument],
      [{ key: { keyId, name: "" }, updateMask: { paths: ["name"] } }, Code.InvalidArgument],
      [{ key: { keyId: "key_missing", name: "y" }, updateMask: { paths: ["name"] } }, Code.NotFound],
    ];
    for (const [request, code] of cases) {
      await expect(keys.updateKey(request)).rejects.toMatchObject({ code });
    }
    await keys.revokeKey({ keyId });
    await expect(
      keys.updateKey({ key: { keyId, name: "z" }, updateMask: { paths: ["name"] } }),
    ).rejects.toMatchObject({
      code: Code.FailedPrecondition,
    });
  });
});

describe("SuspendKey and ResumeKey", () => {
  it("denies a suspended key with 403 until it is resumed; a revoked key cannot be resumed", async () => {
    const { keys, authorize } = clients();
    const issued = await keys.issueKey({ name: "pausable" });
    const keyId = issued.key?.keyId ?? "";
    expect((await authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
    const suspended = await keys.suspendKey({ keyId, reason: "billing" });
    expect(suspended.key).toMatchObject({ status: KeyStatus.SUSPENDED, suspendReason: "billing" });
    // Suspended by this call: the suspension is the key's latest change.
    expect(suspended.key?.suspendTime).toEqual(suspended.key?.updateTime);
    expect(suspended.key?.updateTime).not.toEqual(issued.key?.updateTime);
    expect(await authorize.authorize({ apiKey: issued.secret })).toMatchObject({
      allowed: false,
      reason: Reason.KEY_SUSPENDED,
      httpStatus: 403,
    });
    const again = await keys.suspendKey({ keyId, reason: "other" });
    expect(again.key?.suspendReason).toBe("billing"); // idempotent
    const resumed = await keys.resumeKey({ keyId });
    expect(resumed.key?.status).toBe(KeyStatus.ACTIVE);
    expect(resumed.key?.suspendTime).toBeUndefined();
    expect((await authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
    await keys.revokeKey({ keyId });
    await expect(keys.resumeKey({ keyId })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(keys.suspendKey({ keyId })).rejects.toMatchObject({ code: Code.FailedPrecondition });
  });
});

describe("RotateKey", () => {
  it("keeps both keys working inside the grace period and expires the old one after it", async () => {
    const { keys, authorize } = clients();
    const old = await keys.issueKey({
      name: "rotating",
      scopes: ["models:read"],
      classes: ["gpu"],
      environment: Environment.TEST,
      prefix: "acme",
      ownerId: "svc-1",
      metadata: { tier: "gold" },
    });
    const rotated = await keys.rotateKey({ keyId: old.key?.keyId ?? "", gracePeriod: { seconds: 600n } });
    expect(rotated.secret).toMatch(/^acme_test_/);
    expect(rotated.key).toMatchObject({
      name: "rotating",
      scopes: ["models:read"],
      classes: ["gpu"],
      environment: Environment.TEST,
      ownerId: "svc-1",
      metadata: { tier: "gold" },
      rotatedFromKeyId: old.key?.keyId,
    });
    expect(rotated.previousKey?.rotatedToKeyId).toBe(rotated.key?.keyId);
    expect((await keys.getKey({ keyId: old.key?.keyId ?? "" })).key?.rotatedToKeyId).toBe(rotated.key?.keyId);

    const check = (apiKey: string) =>
      authorize.authorize({ apiKey, requiredScopes: ["models:read"], class: "gpu" });
    expect((await check(old.secret)).allowed).toBe(true);
    expect((await check(rotated.secret)).allowed).toBe(true);
    server.clock.advance(601_000);
    expect(await check(old.secret)).toMatchObject({ allowed: false, reason: Reason.KEY_EXPIRED });
    expect((await check(rotated.secret)).allowed).toBe(true);
    await expect(keys.rotateKey({ keyId: old.key?.keyId ?? "" })).rejects.toMatchObject({
      code: Code.FailedPrecondition,
    });
  });

  it("revokes the old key at once with a zero grace period, and defaults to 24 hours", async () => {
    const { keys, authorize } = clients();
    const now = await keys.issueKey({ name: "now" });
    const rotatedNow = await keys.rotateKey({ keyId: now.key?.keyId ?? "", gracePeriod: { seconds: 0n } });
    expect(rotatedNow.previousKey?.status).toBe(KeyStatus.REVOKED);
    expect((await authorize.authorize({ apiKey: now.secret })).reason).toBe(Reason.KEY_REVOKED);
    expect((await authorize.authorize({ apiKey: rotatedNow.secret })).allowed).toBe(true);

    const later = await keys.issueKey({ name: "later" });
    const rotatedLater = await keys.rotateKey({ keyId: later.key?.keyId ?? "" });
    const graceEnd = Number(rotatedLater.previousKey?.expireTime?.seconds) * 1000;
    const rotatedAt = Number(rotatedLater.previousKey?.updateTime?.seconds) * 1000;
    expect(graceEnd - rotatedAt).toBeGreaterThanOrEqual(24 * 3600 * 1000 - 1000);
    expect(graceEnd - rotatedAt).toBeLessThanOrEqual(24 * 3600 * 1000 + 1000);
  });
});
