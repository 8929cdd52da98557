import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/domain/key-format.js";
import type { KeyClient } from "../support/clients.js";
import { openRaw, type RawDatabase } from "../support/raw-sql.js";
import { useServer } from "../support/use-server.js";
import { envoyCheckRequest, envoyClient, expectAllowed, expectDenied } from "./envoy-request.js";

// A store outage is not a denial: Check fails with UNAVAILABLE so that Envoy's failure_mode_allow
// and status_on_error decide, instead of Keyward telling clients their valid keys are bad.

const server = useServer();
let keys: KeyClient;
let envoy: ReturnType<typeof envoyClient>;
let raw: RawDatabase;

beforeAll(async () => {
  keys = server.clients(server.admin).keys;
  envoy = server.own(envoyClient(server.grpcAddress));
  raw = await openRaw(server.database);
});

afterAll(async () => {
  await raw.close();
});

const ROUTE = { "keyward.scopes": "orders:read" };
const request = (secret: string, rawHeaders = false) =>
  envoyCheckRequest({ headers: { "x-api-key": secret }, rawHeaders, contextExtensions: ROUTE });

describe("store outage", () => {
  it("fails Check with UNAVAILABLE for an uncached key, and recovers", async () => {
    const cached = await keys.issueKey({ name: "checked before", scopes: ["orders:read"] });
    const uncached = await keys.issueKey({ name: "never checked", scopes: ["orders:read"] });
    expectAllowed(await envoy.check(request(cached.secret)));

    await raw.exec("ALTER TABLE api_keys RENAME TO api_keys_away");
    try {
      for (const secret of [uncached.secret, generateKey("kw", "live")]) {
        for (const rawHeaders of [false, true]) {
          const result = await envoy.result(request(secret, rawHeaders));
          expect(result).toEqual({
            ok: false,
            code: grpc.status.UNAVAILABLE,
            details: "the key store is unavailable; retry later",
          });
        }
      }
      // Decided without the store: a cached key, a malformed key, no key at all.
      expectAllowed(await envoy.check(request(cached.secret)));
      expectDenied(await envoy.check(request("not-a-key")), 401, "invalid_format");
      expectDenied(
        await envoy.check(envoyCheckRequest({ contextExtensions: ROUTE })),
        401,
        "missing_credential",
      );
      expect(server.logs.some((line) => line.includes('"msg":"store unavailable"'))).toBe(true);
      expect(server.logs.join("\n")).not.toContain(uncached.secret);
    } finally {
      await raw.exec("ALTER TABLE api_keys_away RENAME TO api_keys");
    }

    // The failure was not remembered as "not found".
    expectAllowed(await envoy.check(request(uncached.secret)));
    expectDenied(await envoy.check(request(generateKey("kw", "live"))), 401, "key_not_found");
  });
});
