import { constants } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as Status } from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcFrame, rawSession } from "../support/raw-grpc.js";
import { useServer } from "../support/use-server.js";

describe("grpc.health.v1", () => {
  // Each test drains its own server. A drain that had to wait out its timeout would cut the call in
  // flight; the generous timeout keeps a busy machine from doing that, so only a drain that does not
  // wait for the call can fail the test.
  const server = useServer({ each: true, env: { KEYWARD_DRAIN_TIMEOUT: "60s" } });

  it("answers SERVING for the server and each service, NOT_FOUND for an unknown one", async () => {
    const { health } = server.clients();
    for (const service of ["", "keyward.v1.AuthorizeService", "keyward.v1.KeyService"]) {
      expect((await health.check({ service })).status).toBe(Status.SERVING);
    }
    await expect(health.check({ service: "no.such.Service" })).rejects.toMatchObject({
      code: Code.NotFound,
    });
  });

  it("tells watchers NOT_SERVING when draining, ends their streams, and then stops listening", async () => {
    const { health } = server.clients();
    const seen: Status[] = [];
    let stopped: Promise<void> | undefined;
    for await (const response of health.watch({ service: "" })) {
      seen.push(response.status);
      if (seen.length === 1) stopped = server.stop();
    }
    await stopped;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
    await expect(server.clients().health.check({ service: "" })).rejects.toMatchObject({
      code: Code.Unavailable,
    });
    const healthz = await fetch(`${server.httpUrl}/healthz`).catch((error: unknown) => error);
    expect(healthz).toBeInstanceOf(Error); // the HTTP listener is closed too
  });

  it("lets a unary call that is in flight when the drain starts finish, and only then stops", async () => {
    const issued = await server.clients(server.admin).keys.issueKey({ name: "in flight" });
    const message = grpcFrame(
      toBinary(AuthorizeRequestSchema, create(AuthorizeRequestSchema, { apiKey: issued.secret })),
    );
    const session = rawSession(server.grpcAddress);
    try {
      await new Promise((resolve) => session.once("connect", resolve));
      const call = session.request({
        ":method": "POST",
        ":path": "/keyward.v1.AuthorizeService/Authorize",
        "content-type": "application/grpc",
        te: "trailers",
      });
      const events: string[] = [];
      const answered = new Promise<{ status: string | undefined; body: Buffer }>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let status: string | undefined;
        call.on("data", (chunk: Buffer) => chunks.push(chunk));
        call.on("trailers", (trailers) => {
          status = String(trailers["grpc-status"]);
        });
        call.on("error", reject);
        call.on("close", () => {
          events.push("call answered");
          resolve({ status, body: Buffer.concat(chunks) });
        });
      });
      // Half the request message, then a PING: its answer means the server has read the call's headers.
      call.write(message.subarray(0, 3));
      await new Promise<void>((resolve, reject) =>
        session.ping((error) => (error ? reject(error) : resolve())),
      );

      const goaway = new Promise<number>((resolve) =>
        session.once("goaway", (code: number) => resolve(code)),
      );
      const stopping = server.stop().then(() => events.push("server stopped"));
      // The drain has begun on this very connection: it refuses new calls, and ours is still open.
      expect(await goaway).toBe(constants.NGHTTP2_NO_ERROR);
      expect(events).toEqual([]);

      call.end(message.subarray(3));
      const { status, body } = await answered;
      await stopping;
      expect(events).toEqual(["call answered", "server stopped"]);
      expect(status).toBe("0");
      expect(fromBinary(AuthorizeResponseSchema, body.subarray(5))).toMatchObject({
        allowed: true,
        reason: Reason.ALLOWED,
        keyId: issued.key?.keyId,
      });
      expect(server.logs.join("\n")).not.toContain("drain timed out");
    } finally {
      session.close();
    }
  });
});
