import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { IssueKeyRequestSchema, IssueKeyResponseSchema } from "../../src/gen/keyward/v1/key_service_pb.js";
import { rawGrpcClient } from "../support/clients.js";
import { useServer } from "../support/use-server.js";

// Every input gets an answer: a documented reason or INVALID_ARGUMENT, never a crash,
// a hang or an INTERNAL. After all of it the server still serves.

const server = useServer();
let raw: ReturnType<typeof rawGrpcClient>;

beforeAll(() => {
  raw = server.own(rawGrpcClient(server.grpcAddress));
});

describe("bad input to Authorize", () => {
  it("answers odd credentials with the documented reasons", async () => {
    const { authorize } = server.clients();
    const cases: [string, Reason][] = [
      ["", Reason.MISSING_CREDENTIAL],
      ["x".repeat(60 * 1024), Reason.INVALID_FORMAT], // just within KEYWARD_MAX_MESSAGE_BYTES
      ["kw_live_ÄÖÜäöüß€😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀", Reason.INVALID_FORMAT],
      ["kw_live_", Reason.INVALID_FORMAT],
      ["___", Reason.INVALID_FORMAT],
      ["\u0000\u0001\u0002", Reason.INVALID_FORMAT],
    ];
    for (const [apiKey, reason] of cases) {
      const decision = await authorize.authorize({ apiKey });
      expect(decision.reason, apiKey.slice(0, 20)).toBe(reason);
      expect(decision.allowed).toBe(false);
      expect(decision.httpStatus).toBe(401);
    }
  });

  it("finds the key among 1000 headers (the cap), and reports missing when none of them carries one", async () => {
    const { keys, authorize } = server.clients(server.admin);
    const { secret } = await keys.issueKey({ name: "many headers" });
    const headers: Record<string, string> = {};
    for (let i = 0; i < 999; i++) headers[`x-header-${i}`] = `value-${i}`;
    expect((await authorize.authorize({ headers })).reason).toBe(Reason.MISSING_CREDENTIAL);
    headers["X-API-KEY"] = secret;
    expect((await authorize.authorize({ headers })).allowed).toBe(true);
  });

  it("refuses malformed requests with INVALID_ARGUMENT", async () => {
    const { authorize } = server.clients();
    await expect(authorize.authorize({ apiKey: "x", headers: { "x-api-key": "y" } })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const badScope = await authorize.authorize({ requiredScopes: ["NOT A SCOPE"] }).catch((e: unknown) => e);
    expect(badScope).toBeInstanceOf(ConnectError);
    expect((badScope as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badScope as ConnectError).rawMessage).toContain("NOT A SCOPE");
  });

  it("answers bytes that are not a protobuf message with INVALID_ARGUMENT, not INTERNAL", async () => {
    const garbage = [Uint8Array.of(0xff, 0xff, 0xff), Uint8Array.of(0x0a, 0x7f, 0x01), Uint8Array.of(0x12)];
    for (const bytes of garbage) {
      const result = await raw.callBytes(
        "/keyward.v1.AuthorizeService/Authorize",
        bytes,
        AuthorizeResponseSchema,
      );
      expect(result).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });
    }
  });

  it("ignores unknown protobuf fields, as proto3 requires", async () => {
    // Field 99 (varint 1) is unknown to AuthorizeRequest.
    const result = await raw.callBytes(
      "/keyward.v1.AuthorizeService/Authorize",
      Uint8Array.of(0x98, 0x06, 0x01),
      AuthorizeResponseSchema,
    );
    expect(result.ok && result.response.reason).toBe(Reason.MISSING_CREDENTIAL);
  });

  it("answers a 32 KiB bearer token as UNAUTHENTICATED", async () => {
    const result = await raw.call(
      "/keyward.v1.KeyService/IssueKey",
      IssueKeyRequestSchema,
      IssueKeyResponseSchema,
      { name: "x" },
      { authorization: `Bearer ${"k".repeat(32 * 1024)}` },
    );
    expect(result).toMatchObject({ ok: false, code: grpc.status.UNAUTHENTICATED });
  });

  it("lets HTTP/2 refuse more than 128 header fields, and keeps serving", async () => {
    // Node's HTTP/2 layer (maxHeaderListPairs, which grpc-js does not expose) resets the stream with
    // ENHANCE_YOUR_CALM before grpc-js sees it; grpc-js clients report RESOURCE_EXHAUSTED. Its own
    // headers take 9 of the 128 (README, Errors: Limits).
    const metadata = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-entry-${i}`, "v".repeat(i)]));
    const call = (n: number) =>
      raw.call(
        "/keyward.v1.AuthorizeService/Authorize",
        AuthorizeRequestSchema,
        AuthorizeResponseSchema,
        {},
        metadata(n),
      );
    expect(await call(119)).toMatchObject({ ok: true });
    expect(await call(120)).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
    expect(await call(0)).toMatchObject({ ok: true });
  });

  it("lets HTTP/2 refuse a header field beyond 64 KiB encoded, and keeps serving", async () => {
    // nghttp2 closes the connection (COMPRESSION_ERROR) before grpc-js sees the call: no handler
    // runs, so there is no gRPC status to send. grpc-js clients report the reset as INTERNAL.
    const result = await raw.call(
      "/keyward.v1.KeyService/IssueKey",
      IssueKeyRequestSchema,
      IssueKeyResponseSchema,
      { name: "x" },
      { authorization: `Bearer ${"k".repeat(200_000)}` },
    );
    expect(result).toMatchObject({ ok: false, details: expect.stringContaining("RST_STREAM") });
    expect(server.logs.join("\n")).not.toContain("kkkkkkkk");
  });
});

describe("bad input over the Connect protocol (JSON)", () => {
  const post = (body: string, contentType = "application/json") =>
    fetch(`${server.httpUrl}/keyward.v1.AuthorizeService/Authorize`, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    });

  it("answers broken JSON, unknown fields and wrong types with invalid_argument", async () => {
    for (const body of [
      "{",
      '{"apiKey": 42}',
      '{"noSuchField": true}',
      '{"requiredScopes": "models:read"}',
      "[]",
    ]) {
      const response = await post(body);
      expect(response.status, body).toBe(400);
      const json = (await response.json()) as { code: string; message: string };
      expect(json.code, body).toBe("invalid_argument");
      expect(json.message).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("answers a JSON Authorize like curl would send it", async () => {
    const response = await post('{"apiKey": ""}');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      reason: "REASON_MISSING_CREDENTIAL",
      httpStatus: 401,
    });
  });

  it("answers GET /healthz", async () => {
    const response = await fetch(`${server.httpUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("SERVING");
  });
});

describe("after all of it", () => {
  it("still serves", async () => {
    const result = await raw.call(
      "/grpc.health.v1.Health/Check",
      HealthCheckRequestSchema,
      HealthCheckResponseSchema,
      {},
    );
    expect(result.ok).toBe(true);
    const { authorize } = server.clients();
    expect((await authorize.authorize({})).reason).toBe(Reason.MISSING_CREDENTIAL);
    expect(server.logs.join("\n")).not.toContain('"level":"error"');
  });
});
