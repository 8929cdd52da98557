import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import { bootstrap, startTestServer } from "../support/start-server.js";

// Nothing acknowledged is lost: keys and revocations survive a restart on the same file.

let dir: string;

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("restart on the same SQLite file", () => {
  it("keeps issued keys and revocations", async () => {
    dir = mkdtempSync(join(tmpdir(), "keyward-restart-"));
    const database = `sqlite:${join(dir, "keyward.db")}`;

    const first = await startTestServer({ database });
    const admin = await bootstrap(first);
    const keys = grpcClients(first.grpcAddress, admin).keys;
    const kept = await keys.issueKey({ name: "kept", scopes: ["models:read"] });
    const revoked = await keys.issueKey({ name: "revoked" });
    await keys.revokeKey({ keyId: revoked.key?.keyId ?? "", reason: "rotated" });
    await first.stop();

    const second = await startTestServer({ database });
    try {
      const { authorize } = grpcClients(second.grpcAddress);
      const allowed = await authorize.authorize({ apiKey: kept.secret, requiredScopes: ["models:read"] });
      expect(allowed).toMatchObject({ allowed: true, keyId: kept.key?.keyId });
      const denied = await authorize.authorize({ apiKey: revoked.secret });
      expect(denied).toMatchObject({ allowed: false, reason: Reason.KEY_REVOKED });
      // The bootstrap admin key still manages the store after the restart.
      await expect(
        grpcClients(second.grpcAddress, admin).keys.issueKey({ name: "after" }),
      ).resolves.toBeDefined();
    } finally {
      await second.stop();
    }
  });
});
