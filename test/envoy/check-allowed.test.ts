import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { HeaderValueOption_HeaderAppendAction } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { useServer } from "../support/use-server.js";
import { envoyCheckRequest, envoyClient, expectAllowed, headerOptions } from "./envoy-request.js";

// Allowed Checks: what Envoy is told to add to and remove from the request before it goes upstream.

const OVERWRITE = HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD;
const ORDERS_READ = { "keyward.scopes": "orders:read" };

const server = useServer();
let envoy: ReturnType<typeof envoyClient>;
let secret: string;
let keyId: string;

beforeAll(async () => {
  const { keys } = server.clients(server.admin);
  const issued = await keys.issueKey({
    name: "orders frontend",
    scopes: ["orders:read", "orders:write"],
    ownerId: "team-shop",
  });
  secret = issued.secret;
  keyId = issued.key?.keyId ?? "";
  envoy = server.own(envoyClient(server.grpcAddress));
});

function expectIdentity(ok: ReturnType<typeof expectAllowed>) {
  expect(headerOptions(ok.headers)).toEqual({
    "x-keyward-key-id": { value: keyId, action: OVERWRITE },
    "x-keyward-workspace": { value: "default", action: OVERWRITE },
    "x-keyward-scopes": { value: "orders:read,orders:write", action: OVERWRITE },
    "x-keyward-owner-id": { value: "team-shop", action: OVERWRITE },
  });
}

describe.each([
  { form: "headers map", rawHeaders: false },
  { form: "header_map (encode_raw_headers)", rawHeaders: true },
])("allowed, $form", ({ rawHeaders }) => {
  it("accepts the key in x-api-key, adds the identity headers and removes the key", async () => {
    const response = await envoy.check(
      envoyCheckRequest({ rawHeaders, headers: { "x-api-key": secret }, contextExtensions: ORDERS_READ }),
    );
    const ok = expectAllowed(response);
    expectIdentity(ok);
    expect(ok.headersToRemove).toEqual(["x-api-key"]);
    expect(ok.responseHeadersToAdd).toEqual([]);
    expect(response.dynamicMetadata).toEqual({ key_id: keyId, workspace: "default" });
  });

  it("accepts authorization: Bearer and removes the authorization header", async () => {
    const response = await envoy.check(
      envoyCheckRequest({
        rawHeaders,
        headers: { authorization: `Bearer ${secret}` },
        contextExtensions: ORDERS_READ,
      }),
    );
    const ok = expectAllowed(response);
    expectIdentity(ok);
    expect(ok.headersToRemove).toEqual(["authorization"]);
    expect(response.dynamicMetadata).toEqual({ key_id: keyId, workspace: "default" });
  });

  it("overwrites a spoofed identity header and removes the other client-sent x-keyward-* headers", async () => {
    const ok = expectAllowed(
      await envoy.check(
        envoyCheckRequest({
          rawHeaders,
          headers: { "x-api-key": secret, "x-keyward-key-id": "fake", "x-keyward-admin": "yes" },
          contextExtensions: ORDERS_READ,
        }),
      ),
    );
    expectIdentity(ok);
    // Envoy applies headers_to_remove after the additions: an added header listed there would vanish.
    expect(ok.headersToRemove).toContain("x-keyward-admin");
    expect(ok.headersToRemove).toContain("x-api-key");
    expect(ok.headersToRemove).toHaveLength(2);
    for (const added of ok.headers) expect(ok.headersToRemove).not.toContain(added.header?.key);
  });

  it("removes a spoofed owner id when the key has none to set", async () => {
    const { keys } = server.clients(server.admin);
    const ownerless = await keys.issueKey({ name: "no owner", scopes: ["orders:read"] });
    const ok = expectAllowed(
      await envoy.check(
        envoyCheckRequest({
          rawHeaders,
          headers: { "x-api-key": ownerless.secret, "x-keyward-owner-id": "team-admin" },
          contextExtensions: ORDERS_READ,
        }),
      ),
    );
    expect(Object.keys(headerOptions(ok.headers)).sort()).toEqual([
      "x-keyward-key-id",
      "x-keyward-scopes",
      "x-keyward-workspace",
    ]);
    expect(ok.headersToRemove.sort()).toEqual(["x-api-key", "x-keyward-owner-id"]);
  });

  it("allows a public route without a key, adds no identity and strips spoofed x-keyward-* headers", async () => {
    const response = await envoy.check(
      envoyCheckRequest({
        rawHeaders,
        path: "/healthz",
        headers: { "x-keyward-key-id": "fake", "x-keyward-workspace": "acme" },
        contextExtensions: { "keyward.public": "true" },
      }),
    );
    const ok = expectAllowed(response);
    expect(ok.headers).toEqual([]);
    expect(ok.headersToRemove.sort()).toEqual(["x-keyward-key-id", "x-keyward-workspace"]);
    expect(response.dynamicMetadata).toBeUndefined();
  });

  it("keeps a key sent to a public route from the upstream too", async () => {
    // deploy/README.md: on allow, Keyward removes "the credential header"; a public route is an allow,
    // and the key is just as secret there (health and docs endpoints log freely).
    const ok = expectAllowed(
      await envoy.check(
        envoyCheckRequest({
          rawHeaders,
          path: "/healthz",
          headers: { "x-api-key": secret },
          contextExtensions: { "keyward.public": "true" },
        }),
      ),
    );
    expect(ok.headers).toEqual([]);
    expect(ok.headersToRemove).toContain("x-api-key");
  });
});

describe("identity header values", () => {
  // RFC 9110 §5.5: a field value never holds CR, LF, NUL or other controls (HTAB aside). Envoy either
  // fails the request (validate_mutations) or hands the bytes to the upstream, where CR LF starts a
  // new header line. owner_id is free text set by workspace admins; it must be refused or made safe.
  it.each([
    ["CR LF", "team-a\r\nx-keyward-workspace: keyward"],
    ["NUL", "team\u0000a"],
  ])("never carry control characters (%s in owner_id)", async (_, ownerId) => {
    const { keys } = server.clients(server.admin);
    let oddSecret: string;
    try {
      oddSecret = (await keys.issueKey({ name: "odd owner", scopes: ["orders:read"], ownerId })).secret;
    } catch (error) {
      // Refused at issue time: that is a fix too.
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      return;
    }
    const ok = expectAllowed(
      await envoy.check(
        envoyCheckRequest({ headers: { "x-api-key": oddSecret }, contextExtensions: ORDERS_READ }),
      ),
    );
    for (const option of ok.headers) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them.
      expect(option.header?.value).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f]/);
    }
  });
});
