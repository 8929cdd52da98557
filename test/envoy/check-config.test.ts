import { describe, expect, it } from "vitest";
import { HeaderValueOption_HeaderAppendAction } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { type ServerFixture, useServer } from "../support/use-server.js";
import {
  envoyCheckRequest,
  envoyClient,
  expectAllowed,
  expectDenied,
  headerOptions,
} from "./envoy-request.js";

// The Envoy-facing settings: which headers carry the key (KEYWARD_CREDENTIAL_HEADERS), whether it is
// kept from the upstream (KEYWARD_ENVOY_REMOVE_CREDENTIAL), and the identity headers' prefix
// (KEYWARD_ENVOY_HEADER_PREFIX).

const ROUTE = { "keyward.scopes": "orders:read" };
const OVERWRITE = HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD;
/** An orders:read key on the server, and a Check client for it. */
async function orderReader(server: ServerFixture) {
  const envoy = server.own(envoyClient(server.grpcAddress));
  const { keys } = server.clients(server.admin);
  const issued = await keys.issueKey({ name: "config test", scopes: ["orders:read"], ownerId: "team-a" });
  const check = (headers: Record<string, string>, rawHeaders = false) =>
    envoy.check(envoyCheckRequest({ headers, rawHeaders, contextExtensions: ROUTE }));
  return { secret: issued.secret, keyId: issued.key?.keyId ?? "", check };
}

describe("KEYWARD_CREDENTIAL_HEADERS", () => {
  const server = useServer({ env: { KEYWARD_CREDENTIAL_HEADERS: "x-custom-key" } });

  it("takes the key from the configured header only, and removes that header", async () => {
    const { secret, keyId, check } = await orderReader(server);
    for (const rawHeaders of [false, true]) {
      const ok = expectAllowed(await check({ "x-custom-key": secret }, rawHeaders));
      expect(headerOptions(ok.headers)["x-keyward-key-id"]?.value).toBe(keyId);
      expect(ok.headersToRemove).toEqual(["x-custom-key"]);
    }
    expectDenied(await check({ "x-api-key": secret }), 401, "missing_credential");
    expectDenied(await check({ authorization: `Bearer ${secret}` }), 401, "missing_credential");
    // A header that is not a credential header is never removed, whatever it holds.
    const ok = expectAllowed(await check({ "x-custom-key": secret, "x-api-key": "something else" }));
    expect(ok.headersToRemove).toEqual(["x-custom-key"]);
  });
});

describe("KEYWARD_ENVOY_REMOVE_CREDENTIAL", () => {
  const server = useServer({ env: { KEYWARD_ENVOY_REMOVE_CREDENTIAL: "false" } });

  it("keeps the credential header for the upstream when false, still removing spoofed headers", async () => {
    const { secret, check } = await orderReader(server);
    expect(expectAllowed(await check({ "x-api-key": secret })).headersToRemove).toEqual([]);
    expect(expectAllowed(await check({ authorization: `Bearer ${secret}` })).headersToRemove).toEqual([]);
    const spoofed = expectAllowed(await check({ "x-api-key": secret, "x-keyward-role": "admin" }));
    expect(spoofed.headersToRemove).toEqual(["x-keyward-role"]);
  });
});

describe("KEYWARD_ENVOY_HEADER_PREFIX", () => {
  const server = useServer({ env: { KEYWARD_ENVOY_HEADER_PREFIX: "x-auth-" } });

  it("names the identity headers with the prefix and treats client headers with it as spoofed", async () => {
    const { secret, keyId, check } = await orderReader(server);
    for (const rawHeaders of [false, true]) {
      const ok = expectAllowed(
        await check(
          {
            "x-api-key": secret,
            "x-auth-key-id": "fake",
            "x-auth-role": "admin",
            "x-keyward-key-id": "other",
          },
          rawHeaders,
        ),
      );
      expect(headerOptions(ok.headers)).toEqual({
        "x-auth-key-id": { value: keyId, action: OVERWRITE },
        "x-auth-workspace": { value: "default", action: OVERWRITE },
        "x-auth-scopes": { value: "orders:read", action: OVERWRITE },
        "x-auth-owner-id": { value: "team-a", action: OVERWRITE },
      });
      // x-keyward-* is no longer Keyward's to police under another prefix.
      expect(ok.headersToRemove.sort()).toEqual(["x-api-key", "x-auth-role"]);
    }
  });
});
