import { timestampDate } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/domain/key-format.js";
import type { KeyClient } from "../support/clients.js";
import { useServer } from "../support/use-server.js";
import {
  type EnvoyRequestOptions,
  envoyCheckRequest,
  envoyClient,
  expectAllowed,
  expectDenied,
  visibleText,
} from "./envoy-request.js";

// Every denial as Envoy relays it to the client: HTTP status, gRPC code, headers and JSON body.
// Whenever a secret was presented, neither the body nor the status message may contain it.

const ORDERS_READ = { "keyward.scopes": "orders:read" };

const server = useServer();
let envoy: ReturnType<typeof envoyClient>;
let keys: KeyClient;

beforeAll(() => {
  keys = server.clients(server.admin).keys;
  envoy = server.own(envoyClient(server.grpcAddress));
});

/** Checks `secret` sent in x-api-key on an orders:read route (unless options say otherwise). */
async function deny(
  secret: string | undefined,
  status: 401 | 403,
  reason: string,
  options: EnvoyRequestOptions = {},
) {
  const response = await envoy.check(
    envoyCheckRequest({
      contextExtensions: ORDERS_READ,
      ...options,
      headers: { ...(secret === undefined ? {} : { "x-api-key": secret }), ...options.headers },
    }),
  );
  const body = expectDenied(response, status, reason);
  if (secret !== undefined && secret !== "") expect(visibleText(response)).not.toContain(secret);
  return body.error;
}

async function issue(scopes = ["orders:read", "orders:write"], more: { classes?: string[] } = {}) {
  const issued = await keys.issueKey({ name: "denial test", scopes, ...more });
  return { secret: issued.secret, keyId: issued.key?.keyId ?? "" };
}

describe("401: no valid key", () => {
  it("missing key", async () => {
    const error = await deny(undefined, 401, "missing_credential");
    expect(error.details).toEqual({ required_scopes: ["orders:read"] });
    expect(error.message).toContain("x-api-key");
    await deny(undefined, 401, "missing_credential", { headers: { authorization: "Basic dXNlcjpwdw==" } });
  });

  it("malformed key, and a typo of a real one", async () => {
    const error = await deny("not-a-keyward-key", 401, "invalid_format");
    expect(error.details).toEqual({ required_scopes: ["orders:read"] });
    const { secret } = await issue();
    const typo = `${secret.slice(0, 20)}${secret[20] === "a" ? "b" : "a"}${secret.slice(21)}`;
    await deny(typo, 401, "invalid_format");
  });

  it("unknown key", async () => {
    const error = await deny(generateKey("kw", "live"), 401, "key_not_found");
    expect(error.details).toEqual({ required_scopes: ["orders:read"] });
  });

  it("revoked key, from the very next Check although it was cached", async () => {
    const { secret, keyId } = await issue();
    expectAllowed(
      await envoy.check(
        envoyCheckRequest({ headers: { "x-api-key": secret }, contextExtensions: ORDERS_READ }),
      ),
    );
    await keys.revokeKey({ keyId, reason: "leaked" });
    const error = await deny(secret, 401, "key_revoked");
    expect(error.details).toMatchObject({ key_id: keyId });
  });

  it("expired key, with its expiry time", async () => {
    const issued = await keys.issueKey({ name: "short", scopes: ["orders:read"], ttl: { seconds: 60n } });
    const expireTime = issued.key?.expireTime;
    if (expireTime === undefined) throw new Error("issued without expire_time");
    server.clock.advance(61_000);
    const error = await deny(issued.secret, 401, "key_expired");
    const iso = timestampDate(expireTime).toISOString();
    expect(error.details).toMatchObject({ key_id: issued.key?.keyId, expire_time: iso });
    expect(error.message).toContain(`expired at ${iso}`);
  });

  it("a key of another workspace than keyward.workspace names, without telling about the key", async () => {
    const { secret } = await issue();
    const error = await deny(secret, 401, "key_not_found", {
      contextExtensions: { "keyward.workspace": "acme" },
    });
    expect(error.details).toEqual({});
  });

  const percentEncoded = (text: string) =>
    [...text].map((char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`).join("");
  it.each([
    ["api_key", () => "?api_key=whatever"],
    ["api_key among other parameters", () => "?limit=5&API_KEY=whatever"],
    ["a Keyward key under any name", (secret: string) => `?token=${secret}`],
    ["a percent-encoded Keyward key", (secret: string) => `?t=${percentEncoded(secret)}&limit=5`],
    // A bare `?<key>` (no name, no `=`) leaks into access logs just the same.
    ["a bare Keyward key", (secret: string) => `?${secret}`],
  ])("a key in the query string: %s", async (_, query) => {
    const { secret } = await issue();
    // Refused even when a valid key is also in the header: the one in the URL has leaked already.
    const error = await deny(secret, 401, "credential_in_query", { path: `/v1/orders${query(secret)}` });
    expect(error.message).toMatch(/query string/);
    expect(error.message).toMatch(/header/);
  });
});

describe("403: a valid key that may not do this", () => {
  it("suspended key, until it is resumed", async () => {
    const { secret, keyId } = await issue();
    const request = envoyCheckRequest({ headers: { "x-api-key": secret }, contextExtensions: ORDERS_READ });
    expectAllowed(await envoy.check(request));
    await keys.suspendKey({ keyId, reason: "investigation" });
    const error = await deny(secret, 403, "key_suspended");
    expect(error.details).toMatchObject({ key_id: keyId });
    await keys.resumeKey({ keyId });
    expectAllowed(await envoy.check(request));
  });

  it("insufficient scope, naming required, granted and missing scopes", async () => {
    const { secret, keyId } = await issue();
    const error = await deny(secret, 403, "insufficient_scope", {
      contextExtensions: { "keyward.scopes": "orders:read, orders:delete" },
    });
    expect(error.details).toEqual({
      key_id: keyId,
      required_scopes: ["orders:read", "orders:delete"],
      granted_scopes: ["orders:read", "orders:write"],
      missing_scopes: ["orders:delete"],
    });
    expect(error.message).toContain("orders:delete");
  });

  it("class not allowed", async () => {
    const { secret } = await issue(["orders:read"], { classes: ["gpu"] });
    await deny(secret, 403, "class_not_allowed", { contextExtensions: { "keyward.class": "cpu" } });
  });

  it("route not allowed by the default deny, even with a valid key", async () => {
    const { secret } = await issue();
    const error = await deny(secret, 403, "route_not_allowed", { contextExtensions: {} });
    expect(error.details).toEqual({});
  });

  it("suspended workspace", async () => {
    const global = server.clients(await server.bootstrapGlobal());
    const workspaces = global.workspaces;
    await workspaces.createWorkspace({ workspace: { workspaceId: "tenant-s" } });
    const issued = await global.keys.issueKey({
      workspace: "tenant-s",
      name: "tenant key",
      scopes: ["orders:read"],
    });
    const before = envoyCheckRequest({
      headers: { "x-api-key": issued.secret },
      contextExtensions: ORDERS_READ,
    });
    expectAllowed(await envoy.check(before));
    await workspaces.suspendWorkspace({ workspaceId: "tenant-s", reason: "unpaid" });
    const error = await deny(issued.secret, 403, "workspace_suspended");
    expect(error.details).toMatchObject({ key_id: issued.key?.keyId });
  });
});
