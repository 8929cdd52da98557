import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { startTestServer } from "../support/start-server.js";

function healthClient(grpcAddress: string) {
  return createClient(Health, createGrpcTransport({ baseUrl: `http://${grpcAddress}` }));
}

describe("grpc.health.v1", () => {
  it("answers SERVING for the server and each service, NOT_FOUND for an unknown one", async () => {
    const server = await startTestServer();
    try {
      const health = healthClient(server.grpcAddress);
      for (const service of ["", "keyward.v1.AuthorizeService", "keyward.v1.KeyService"]) {
        expect((await health.check({ service })).status).toBe(Status.SERVING);
      }
      await expect(health.check({ service: "no.such.Service" })).rejects.toMatchObject({
        code: Code.NotFound,
      });
    } finally {
      await server.stop();
    }
  });

  it("tells watchers NOT_SERVING when draining, ends their streams, and then stops listening", async () => {
    const server = await startTestServer();
    const health = healthClient(server.grpcAddress);
    const seen: Status[] = [];
    let stopped: Promise<void> | undefined;
    const watching = (async () => {
      for await (const response of health.watch({ service: "" })) {
        seen.push(response.status);
        if (seen.length === 1) stopped = server.stop();
      }
    })();
    await watching;
    await stopped;
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING]);
    await expect(healthClient(server.grpcAddress).check({ service: "" })).rejects.toMatchObject({
      code: Code.Unavailable,
    });
    const healthz = await fetch(`${server.httpUrl}/healthz`).catch((error: unknown) => error);
    expect(healthz).toBeInstanceOf(Error); // the HTTP listener is closed too
  });

  it("lets an in-flight call finish during drain", async () => {
    const server = await startTestServer();
    const health = healthClient(server.grpcAddress);
    // A watch stream is in flight when stop() begins; stop() must end it cleanly rather than cut it.
    const iterator = health.watch({ service: "" })[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.status).toBe(Status.SERVING);
    const stopping = server.stop();
    expect((await iterator.next()).value?.status).toBe(Status.NOT_SERVING);
    expect((await iterator.next()).done).toBe(true);
    await stopping;
    expect(server.logs.join("\n")).not.toContain("drain timed out");
  });
});
