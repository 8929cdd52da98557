import { Agent } from "node:http";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/domain/key-format.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
  AuthorizeService,
} from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { Environment, KeyStatus, Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { IssueKeyRequestSchema, IssueKeyResponseSchema } from "../../src/gen/keyward/v1/key_service_pb.js";
import { rawGrpcClient } from "../support/clients.js";
import { useServer } from "../support/use-server.js";

// Issue → authorize → revoke over real sockets, with a raw grpc-js client, a Connect client
// speaking gRPC to the grpc-js listener, and a Connect client on the HTTP listener.

const server = useServer();
let raw: ReturnType<typeof rawGrpcClient>;

beforeAll(() => {
  raw = server.own(rawGrpcClient(server.grpcAddress));
});

const AUTHORIZE = "/keyward.v1.AuthorizeService/Authorize";

/** A timestamp's milliseconds; a missing one fails the test. */
function msOf(timestamp: Timestamp | undefined): number {
  if (timestamp === undefined) throw new Error("timestamp not set");
  return timestampMs(timestamp);
}

async function rawAuthorize(request: MessageInitShape<typeof AuthorizeRequestSchema>) {
  const result = await raw.call(AUTHORIZE, AuthorizeRequestSchema, AuthorizeResponseSchema, request);
  if (!result.ok) throw new Error(`Authorize failed: ${result.code} ${result.details}`);
  return result.response;
}

describe("issue, authorize, revoke", () => {
  it("issues a key whose secret authorizes, through every client", async () => {
    const { keys, authorize } = server.clients(server.admin);
    const issued = await keys.issueKey({
      name: "inference service",
      scopes: ["models:read", "datasets:*"],
      classes: ["gpu"],
      environment: Environment.TEST,
      ownerId: "team-ml",
      metadata: { tier: "gold" },
    });
    expect(issued.secret).toMatch(/^kw_test_[0-9A-Za-z]{49}$/);
    expect(issued.key?.keyPrefix).toBe(issued.secret.slice(0, "kw_test_".length + 6));
    expect(issued.key?.status).toBe(KeyStatus.ACTIVE);
    expect(issued.key?.workspace).toBe("default");

    const viaConnect = await authorize.authorize({ apiKey: issued.secret, requiredScopes: ["models:read"] });
    expect(viaConnect).toMatchObject({
      allowed: true,
      reason: Reason.ALLOWED,
      httpStatus: 200,
      keyId: issued.key?.keyId,
      workspace: "default",
      grantedScopes: ["models:read", "datasets:*"],
      ownerId: "team-ml",
      metadata: { tier: "gold" },
      environment: Environment.TEST,
    });

    const viaRaw = await rawAuthorize({
      apiKey: issued.secret,
      requiredScopes: ["datasets:images:read"],
      class: "gpu",
    });
    expect(viaRaw.allowed).toBe(true);

    const viaHttp = await server.connectClients().authorize.authorize({
      headers: { "X-Api-Key": issued.secret },
      requiredScopes: ["models:read"],
    });
    expect(viaHttp.allowed).toBe(true);
    const viaHttpBinary = await server.connectClients(undefined, true).authorize.authorize({
      headers: { Authorization: `Bearer ${issued.secret}` },
    });
    expect(viaHttpBinary.allowed).toBe(true);
    const agent = new Agent({ keepAlive: true });
    server.own({ close: () => agent.destroy() });
    const grpcWeb = createClient(
      AuthorizeService,
      createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", nodeOptions: { agent } }),
    );
    expect((await grpcWeb.authorize({ apiKey: issued.secret })).allowed).toBe(true);
  });

  it("gives the same answer on a key's first, second and later calls, and one not-found answer for unknown keys", async () => {
    const { keys, authorize } = server.clients(server.admin);
    const { secret, key } = await keys.issueKey({ name: "repeat", scopes: ["models:read"], ownerId: "ann" });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await authorize.authorize({ apiKey: secret }));
    expect(answers[0]).toMatchObject({ allowed: true, keyId: key?.keyId, ownerId: "ann" });
    for (const later of answers.slice(1)) expect(later).toEqual(answers[0]);

    const unknown = [generateKey("kw", "live"), generateKey("kw", "live"), generateKey("kw", "live")];
    const denials = [];
    for (const apiKey of unknown) denials.push(await authorize.authorize({ apiKey }));
    for (const denial of denials) {
      expect(denial).toMatchObject({ allowed: false, reason: Reason.KEY_NOT_FOUND, keyId: "" });
      expect(denial).toEqual(denials[0]);
    }
  });

  it("denies a missing scope with 403 and names what is missing", async () => {
    const { keys } = server.clients(server.admin);
    const { secret } = await keys.issueKey({ name: "reader", scopes: ["models:read"] });
    const denied = await rawAuthorize({ apiKey: secret, requiredScopes: ["models:read", "models:write"] });
    expect(denied).toMatchObject({
      allowed: false,
      reason: Reason.INSUFFICIENT_SCOPE,
      httpStatus: 403,
      missingScopes: ["models:write"],
      grantedScopes: ["models:read"],
    });
    expect(denied.message).toContain("models:write");
    expect(denied.message).not.toContain(secret);
  });

  it("denies a class the key is not restricted to, and a key of another workspace", async () => {
    const { keys } = server.clients(server.admin);
    const { secret } = await keys.issueKey({ name: "gpu only", scopes: ["*"], classes: ["gpu"] });
    const wrongClass = await rawAuthorize({ apiKey: secret, class: "cpu" });
    expect(wrongClass).toMatchObject({ allowed: false, reason: Reason.CLASS_NOT_ALLOWED, httpStatus: 403 });
    const otherWorkspace = await rawAuthorize({ apiKey: secret, workspace: "acme" });
    expect(otherWorkspace).toMatchObject({ allowed: false, reason: Reason.KEY_NOT_FOUND, httpStatus: 401 });
    expect(otherWorkspace.keyId).toBe("");
    const sameWorkspace = await rawAuthorize({ apiKey: secret, workspace: "default", class: "gpu" });
    expect(sameWorkspace.allowed).toBe(true);
  });

  it("revokes at once: the very next call is denied, on every transport", async () => {
    const { keys, authorize } = server.clients(server.admin);
    const { key, secret } = await keys.issueKey({ name: "short lived", scopes: ["models:read"] });
    // Warm the cache so that revocation has to evict, not merely miss.
    // Three calls: the third answers from the kept (pre-encoded) answer, which the revoke must end.
    for (let i = 0; i < 3; i++) expect((await authorize.authorize({ apiKey: secret })).allowed).toBe(true);
    expect((await rawAuthorize({ apiKey: secret })).allowed).toBe(true);

    const before = server.clock.now();
    const revoked = await keys.revokeKey({ keyId: key?.keyId ?? "", reason: "leaked in a log" });
    expect(revoked.key?.status).toBe(KeyStatus.REVOKED);
    expect(revoked.key?.revokeReason).toBe("leaked in a log");
    // Revoked by this call, on the server's clock (stored to the millisecond).
    const revokedAt = msOf(revoked.key?.revokeTime);
    expect(revokedAt).toBeGreaterThanOrEqual(before);
    expect(revokedAt).toBeLessThanOrEqual(server.clock.now());

    for (const decision of [
      await rawAuthorize({ apiKey: secret }),
      await authorize.authorize({ apiKey: secret }),
      await server.connectClients().authorize.authorize({ apiKey: secret }),
    ]) {
      expect(decision).toMatchObject({ allowed: false, reason: Reason.KEY_REVOKED, httpStatus: 401 });
    }

    const again = await keys.revokeKey({ keyId: key?.keyId ?? "", reason: "second thoughts" });
    expect(again.key?.revokeTime).toEqual(revoked.key?.revokeTime);
    expect(again.key?.revokeReason).toBe("leaked in a log");
  });

  it("answers NOT_FOUND for revoking an unknown key", async () => {
    const { keys } = server.clients(server.admin);
    await expect(keys.revokeKey({ keyId: "key_doesnotexist" })).rejects.toMatchObject({
      code: Code.NotFound,
    });
  });

  it("denies an expired key with its expiry time, once the clock passes it", async () => {
    const { keys } = server.clients(server.admin);
    const { key, secret } = await keys.issueKey({
      name: "temporary",
      scopes: ["models:read"],
      ttl: { seconds: 60n },
    });
    expect(msOf(key?.expireTime) - msOf(key?.createTime)).toBe(60_000);
    expect((await rawAuthorize({ apiKey: secret })).allowed).toBe(true);
    server.clock.advance(61_000);
    const expired = await rawAuthorize({ apiKey: secret });
    expect(expired).toMatchObject({ allowed: false, reason: Reason.KEY_EXPIRED, httpStatus: 401 });
    expect(expired.expireTime).toEqual(key?.expireTime);
    expect(expired.message).toMatch(/expired at \d{4}-/);
  });

  it("denies an unknown well-formed key as not found, and garbage or a typo as invalid format", async () => {
    const { keys } = server.clients(server.admin);
    const { secret } = await keys.issueKey({ name: "real" });
    const typo = `${secret.slice(0, 20)}${secret[20] === "a" ? "b" : "a"}${secret.slice(21)}`;
    expect((await rawAuthorize({ apiKey: typo })).reason).toBe(Reason.INVALID_FORMAT);
    expect((await rawAuthorize({ apiKey: "not a key" })).reason).toBe(Reason.INVALID_FORMAT);
    const unknown = await rawAuthorize({ apiKey: generateKey("kw", "live") });
    expect(unknown).toMatchObject({
      allowed: false,
      reason: Reason.KEY_NOT_FOUND,
      httpStatus: 401,
      keyId: "",
    });
    expect((await rawAuthorize({ apiKey: secret })).allowed).toBe(true);
    expect((await rawAuthorize({})).reason).toBe(Reason.MISSING_CREDENTIAL);
    expect((await rawAuthorize({ headers: { authorization: "Basic dXNlcjpwdw==" } })).reason).toBe(
      Reason.MISSING_CREDENTIAL,
    );
  });

  it("serves IssueKey to a raw grpc-js client with the bearer in metadata", async () => {
    const result = await raw.call(
      "/keyward.v1.KeyService/IssueKey",
      IssueKeyRequestSchema,
      IssueKeyResponseSchema,
      { name: "raw client key", scopes: ["models:read"] },
      { authorization: `Bearer ${server.admin}` },
    );
    expect(result.ok).toBe(true);
    if (result.ok) expect((await rawAuthorize({ apiKey: result.response.secret })).allowed).toBe(true);
    const unauthenticated = await raw.call(
      "/keyward.v1.KeyService/IssueKey",
      IssueKeyRequestSchema,
      IssueKeyResponseSchema,
      { name: "x" },
    );
    expect(unauthenticated).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
  });

  it("returns errors as ConnectErrors with stable codes over the Connect protocol", async () => {
    const { keys } = server.connectClients(server.admin);
    const error = await keys.issueKey({ name: "bad", scopes: ["Models:Read"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toContain("Models:Read");
  });
});
