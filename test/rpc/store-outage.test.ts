import { Code, ConnectError } from "@connectrpc/connect";
import SQLite from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlitePath } from "../../src/database-url.js";
import { generateKey } from "../../src/domain/key-format.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import { bootstrap, startTestServer, type TestServer } from "../support/start-server.js";

// A store that fails is an outage: UNAVAILABLE with a short message (the cause goes to the log),
// never an answer the store did not give, and service resumes when the store does.

let server: TestServer;
let admin: string;
let sqlite: SQLite.Database;

beforeAll(async () => {
  server = await startTestServer();
  admin = await bootstrap(server);
  sqlite = new SQLite(sqlitePath(server.database) as string);
});

afterAll(async () => {
  sqlite.close();
  await server.stop();
});

describe("store outage", () => {
  it("answers UNAVAILABLE while the table is gone, and recovers when it is back", async () => {
    const { keys, authorize } = grpcClients(server.grpcAddress, admin);
    const cached = await keys.issueKey({ name: "cached before the outage" });
    expect((await authorize.authorize({ apiKey: cached.secret })).allowed).toBe(true);

    sqlite.exec("ALTER TABLE api_keys RENAME TO api_keys_away");
    try {
      const unknown = generateKey("kw", "live");
      const error = await authorize.authorize({ apiKey: unknown }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.Unavailable);
      expect((error as ConnectError).rawMessage).toBe("the key store is unavailable; retry later");
      await expect(keys.issueKey({ name: "during the outage" })).rejects.toMatchObject({
        code: Code.Unavailable,
      });
      // A key verified before the outage is still answered from the cache.
      expect((await authorize.authorize({ apiKey: cached.secret })).allowed).toBe(true);
      expect(server.logs.join("\n")).toContain('"msg":"store unavailable"');
    } finally {
      sqlite.exec("ALTER TABLE api_keys_away RENAME TO api_keys");
    }

    // The failed lookup was not remembered as "not found", and the store serves again.
    const after = await keys.issueKey({ name: "after the outage" });
    expect((await authorize.authorize({ apiKey: after.secret })).allowed).toBe(true);
    expect((await authorize.authorize({ apiKey: generateKey("kw", "live") })).reason).toBe(
      Reason.KEY_NOT_FOUND,
    );
  });
});
