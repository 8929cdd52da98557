import { request as httpRequest } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CheckRequestSchema,
  CheckResponseSchema,
} from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { CHECK, envoyCheckRequest } from "../envoy/envoy-request.js";
import { rawGrpcClient } from "../support/clients.js";
import { useServer } from "../support/use-server.js";

// Every listener bounds the request message (KEYWARD_MAX_MESSAGE_BYTES, 64 KiB; Check:
// KEYWARD_MAX_CHECK_MESSAGE_BYTES, 1 MiB) and answers beyond it with RESOURCE_EXHAUSTED, or
// HTTP 413 when the body's length says so, before reading it.

const AUTHORIZE = "/keyward.v1.AuthorizeService/Authorize";
const KIB = 1024;

const server = useServer();
let raw: ReturnType<typeof rawGrpcClient>;

beforeAll(() => {
  raw = server.own(rawGrpcClient(server.grpcAddress));
});

/** A Check whose request carries a buffered body of this many bytes (Envoy's with_request_body). */
function checkWithBody(bytes: number) {
  const request = envoyCheckRequest({ method: "POST" });
  const http = request.attributes?.request?.http;
  if (http) http.body = "b".repeat(bytes);
  return request;
}

describe("the gRPC listener", () => {
  it("answers an Authorize message beyond 64 KiB with RESOURCE_EXHAUSTED, and one within it", async () => {
    const within = await raw.call(AUTHORIZE, AuthorizeRequestSchema, AuthorizeResponseSchema, {
      apiKey: "x".repeat(63 * KIB),
    });
    expect(within.ok && within.response.reason).toBe(Reason.INVALID_FORMAT);
    const beyond = await raw.call(AUTHORIZE, AuthorizeRequestSchema, AuthorizeResponseSchema, {
      apiKey: "x".repeat(65 * KIB),
    });
    expect(beyond).toEqual({
      ok: false,
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(
        /^the request message \(\d+ bytes\) is larger than the limit of 65536 bytes$/,
      ),
    });
  });

  it("takes a Check of up to 1 MiB (a buffered body) and refuses a larger one", async () => {
    const within = await raw.call(CHECK, CheckRequestSchema, CheckResponseSchema, checkWithBody(1000 * KIB));
    expect(within.ok).toBe(true);
    const beyond = await raw.call(CHECK, CheckRequestSchema, CheckResponseSchema, checkWithBody(1025 * KIB));
    expect(beyond).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
  });
});

describe("the Connect listener", () => {
  it("answers a body whose Content-Length is beyond the limit with 413 resource_exhausted", async () => {
    const response = await fetch(`${server.httpUrl}${AUTHORIZE}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ apiKey: "x".repeat(65 * KIB) }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      code: "resource_exhausted",
      message: expect.stringContaining("larger than the limit of 65536 bytes"),
    });
  });

  it("is understood by Connect clients as RESOURCE_EXHAUSTED", async () => {
    const { authorize } = server.connectClients();
    const error = await authorize.authorize({ apiKey: "x".repeat(65 * KIB) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((await authorize.authorize({ apiKey: "x".repeat(63 * KIB) })).reason).toBe(Reason.INVALID_FORMAT);
  });

  it("holds Check to its own, larger limit", async () => {
    const post = (body: string) =>
      fetch(`${server.httpUrl}${CHECK}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    const json = (bytes: number) =>
      JSON.stringify({
        attributes: { request: { http: { method: "GET", path: "/", body: "b".repeat(bytes) } } },
      });
    expect((await post(json(1000 * KIB))).status).toBe(200);
    expect((await post(json(1025 * KIB))).status).toBe(413);
  });

  it("refuses an oversized body announced with Expect: 100-continue before the client sends it", async () => {
    const { status, continued } = await new Promise<{ status: number | undefined; continued: boolean }>(
      (resolve, reject) => {
        let continued = false;
        const request = httpRequest(`${server.httpUrl}${AUTHORIZE}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": 10_000_000,
            expect: "100-continue",
          },
        });
        request.on("continue", () => {
          continued = true;
        });
        request.on("response", (response) => {
          response.resume();
          resolve({ status: response.statusCode, continued });
          request.destroy();
        });
        request.on("error", reject);
        request.flushHeaders();
      },
    );
    expect(status).toBe(413);
    expect(continued).toBe(false);
  });

  it("reads a body without a length only up to the limit, answers resource_exhausted and closes", async () => {
    const { status, written } = await new Promise<{ status: number | undefined; written: number }>(
      (resolve) => {
        let written = 0;
        let status: number | undefined;
        const request = httpRequest(`${server.httpUrl}${AUTHORIZE}`, {
          method: "POST",
          headers: { "content-type": "application/json" }, // no length: chunked
        });
        const chunk = Buffer.alloc(16 * KIB, 0x20);
        const pump = () => {
          // Bounded: at most 64 MiB offered, whatever the server does.
          while (status === undefined && written < 64 * KIB * KIB && !request.destroyed) {
            written += chunk.length;
            if (!request.write(chunk)) return void request.once("drain", pump);
          }
        };
        request.on("response", (response) => {
          status = response.statusCode;
          response.resume();
        });
        request.on("close", () => resolve({ status, written }));
        request.on("error", () => {});
        pump();
      },
    );
    // The client never ends its body: the call ends because the server answered and closed.
    expect(status).toBe(429); // the Connect protocol's status for resource_exhausted
    expect(written).toBeGreaterThan(64 * KIB);
  });
});

describe("configured limits", () => {
  const small = useServer({
    env: { KEYWARD_MAX_MESSAGE_BYTES: "4KiB", KEYWARD_MAX_CHECK_MESSAGE_BYTES: "8KiB" },
  });

  it("follow KEYWARD_MAX_MESSAGE_BYTES and KEYWARD_MAX_CHECK_MESSAGE_BYTES", async () => {
    const { authorize } = small.clients();
    await expect(authorize.authorize({ apiKey: "x".repeat(5 * KIB) })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
    });
    const client = small.own(rawGrpcClient(small.grpcAddress));
    const within = await client.call(CHECK, CheckRequestSchema, CheckResponseSchema, checkWithBody(6 * KIB));
    const beyond = await client.call(CHECK, CheckRequestSchema, CheckResponseSchema, checkWithBody(9 * KIB));
    expect(within.ok).toBe(true);
    expect(beyond).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
  });
});
