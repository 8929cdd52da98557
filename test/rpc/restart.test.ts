import { describe, expect, it } from "vitest";
import { KeyStatus, Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { useServer } from "../support/use-server.js";

// Nothing acknowledged is lost: keys and revocations survive a restart on the same file.

const server = useServer();

describe("restart on the same SQLite file", () => {
  it("keeps issued keys and revocations", async () => {
    const keys = server.clients(server.admin).keys;
    const kept = await keys.issueKey({ name: "kept", scopes: ["models:read"] });
    const revoked = await keys.issueKey({ name: "revoked" });
    await keys.revokeKey({ keyId: revoked.key?.keyId ?? "", reason: "rotated" });

    await server.restart();

    const { authorize } = server.clients();
    const allowed = await authorize.authorize({ apiKey: kept.secret, requiredScopes: ["models:read"] });
    expect(allowed).toMatchObject({ allowed: true, keyId: kept.key?.keyId });
    const denied = await authorize.authorize({ apiKey: revoked.secret });
    expect(denied).toMatchObject({ allowed: false, reason: Reason.KEY_REVOKED });
    // The bootstrap admin key still manages the store after the restart, and the records are whole.
    const admin = server.clients(server.admin).keys;
    await expect(admin.issueKey({ name: "after" })).resolves.toMatchObject({
      key: { name: "after", status: KeyStatus.ACTIVE },
    });
    expect((await admin.getKey({ keyId: kept.key?.keyId ?? "" })).key).toEqual(kept.key);
    expect((await admin.getKey({ keyId: revoked.key?.keyId ?? "" })).key).toMatchObject({
      status: KeyStatus.REVOKED,
      revokeReason: "rotated",
    });
  });
});
