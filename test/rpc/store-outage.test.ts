import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { generateKey } from "../../src/domain/key-format.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { useRawDatabase } from "../support/raw-sql.js";
import { useServer } from "../support/use-server.js";

// A store that fails is an outage: UNAVAILABLE with a short message (the cause goes to the log),
// never an answer the store did not give, and service resumes when the store does.

const server = useServer();
const raw = useRawDatabase(server);

describe("store outage", () => {
  it("answers UNAVAILABLE while the table is gone, remembers nothing of it, and recovers when it is back", async () => {
    const { keys, authorize } = server.clients(server.admin);
    const cached = await keys.issueKey({ name: "cached before the outage" });
    const uncached = await keys.issueKey({ name: "first asked about during the outage" });
    const unknown = generateKey("kw", "live");
    expect((await authorize.authorize({ apiKey: cached.secret })).allowed).toBe(true);
    const remembered = server.keyward.cache.size;

    await raw.exec("ALTER TABLE api_keys RENAME TO api_keys_away");
    try {
      for (const apiKey of [uncached.secret, unknown]) {
        const error = await authorize.authorize({ apiKey }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConnectError);
        expect((error as ConnectError).code).toBe(Code.Unavailable);
        expect((error as ConnectError).rawMessage).toBe("the key store is unavailable; retry later");
      }
      await expect(keys.issueKey({ name: "during the outage" })).rejects.toMatchObject({
        code: Code.Unavailable,
      });
      // A key verified before the outage is still answered from the cache.
      expect((await authorize.authorize({ apiKey: cached.secret })).allowed).toBe(true);
      expect(server.logs.join("\n")).toContain('"msg":"store unavailable"');
      // The failed lookups left nothing behind: neither key is remembered, found or absent.
      expect(server.keyward.cache.size).toEqual(remembered);
    } finally {
      await raw.exec("ALTER TABLE api_keys_away RENAME TO api_keys");
    }

    // The same keys, asked again, get the store's answers: the failures were not remembered as "not found".
    expect(await authorize.authorize({ apiKey: uncached.secret })).toMatchObject({
      allowed: true,
      keyId: uncached.key?.keyId,
    });
    expect((await authorize.authorize({ apiKey: unknown })).reason).toBe(Reason.KEY_NOT_FOUND);
    const after = await keys.issueKey({ name: "after the outage" });
    expect((await authorize.authorize({ apiKey: after.secret })).allowed).toBe(true);
  });
});
