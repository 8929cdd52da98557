import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { runLoad } from "../../bench/loadgen.js";
import { GENERATOR_BUSY_LIMIT_PERCENT } from "../../bench/measure.js";
import { generateKey } from "../../src/domain/key-format.js";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
} from "../../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { startUnaryServer, type UnaryServer } from "./unary-server.js";

// bench/loadgen.ts (scenarios 3 and 4) against a real local HTTP/2 server: one request per key,
// every key once, every answer checked, latencies that include the server's time.

const DELAY_MS = 2;
const notFound = toBinary(
  AuthorizeResponseSchema,
  create(AuthorizeResponseSchema, { reason: Reason.KEY_NOT_FOUND }),
);

let server: UnaryServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const keysSent = (received: readonly Buffer[]) =>
  received.map((message) => fromBinary(AuthorizeRequestSchema, message).apiKey);

describe("runLoad", () => {
  const keys = Array.from({ length: 300 }, () => generateKey("kw", "live"));
  const options = (address: string) => ({
    target: address,
    keys,
    scope: "orders:read",
    expect: Reason.KEY_NOT_FOUND,
    connections: 2,
    streams: 4,
    seconds: 30,
    warmup: 50,
  });

  it("sends every key once, checks every answer and reports the timed calls' latencies", async () => {
    server = await startUnaryServer(() => ({ message: notFound }), DELAY_MS);
    const result = await runLoad(options(server.address));

    expect(result).toMatchObject({
      calls: 250,
      ok: 250,
      badStatus: 0,
      badReason: 0,
      errors: 0,
      warmupFailed: 0,
    });
    expect(new Set(keysSent(server.received))).toEqual(new Set(keys));
    expect(server.received).toHaveLength(300);
    expect(fromBinary(AuthorizeRequestSchema, server.received[0] as Buffer).requiredScopes).toEqual([
      "orders:read",
    ]);
    // The server's timer counts from the event loop's cached time: up to 1 ms early.
    expect(result.latencyUs.p50).toBeGreaterThanOrEqual((DELAY_MS - 1) * 1000);
    expect(result.latencyUs.p50).toBeLessThanOrEqual(result.latencyUs.p99);
    expect(result.latencyUs.p99).toBeLessThanOrEqual(result.latencyUs.max);
    expect(result.callsPerSecond).toBeCloseTo(250 / result.seconds);
    // 8 calls in flight, each ≥ 2 ms: at most 4,000 calls/s.
    expect(result.callsPerSecond).toBeLessThan(4000);
    expect(result.generatorBusyPercent).toBeGreaterThan(0);
  });

  it("reports its thread busy nearly all the time when it is the limit, and mostly idle when the server is", async () => {
    // The server answers at once in this very thread: with the bench's 4 × 32 calls in flight
    // there is always an answer or a request to handle, and the thread never waits.
    server = await startUnaryServer(() => ({ message: notFound }));
    const many = Array.from({ length: 5000 }, () => generateKey("kw", "live"));
    const limited = await runLoad({ ...options(server.address), keys: many, connections: 4, streams: 32 });
    expect(limited.ok).toBe(4950);
    expect(limited.generatorBusyPercent).toBeGreaterThanOrEqual(GENERATOR_BUSY_LIMIT_PERCENT);

    await server.close();
    server = await startUnaryServer(() => ({ message: notFound }), 20);
    const waiting = await runLoad(options(server.address));
    expect(waiting.generatorBusyPercent).toBeLessThan(GENERATOR_BUSY_LIMIT_PERCENT);
  });

  it("stops the timed part at its time limit", async () => {
    server = await startUnaryServer(() => ({ message: notFound }), 20);
    const result = await runLoad({
      ...options(server.address),
      connections: 1,
      streams: 2,
      seconds: 0.2,
      warmup: 0,
    });

    expect(result.calls).toBeGreaterThan(0);
    expect(result.calls).toBeLessThan(60);
    expect(result.ok).toBe(result.calls);
  });

  it("counts another reason and a gRPC error as unexpected", async () => {
    const allowed = toBinary(
      AuthorizeResponseSchema,
      create(AuthorizeResponseSchema, { reason: Reason.ALLOWED }),
    );
    const position = new Map(keys.map((key, i) => [key, i]));
    server = await startUnaryServer((message) => {
      const i = position.get(fromBinary(AuthorizeRequestSchema, message).apiKey) ?? 0;
      return i % 10 === 3 ? { grpcStatus: 13 } : i % 10 === 7 ? { message: allowed } : { message: notFound };
    });
    const result = await runLoad(options(server.address));

    expect(result.calls).toBe(250);
    expect(result.badStatus).toBe(25);
    expect(result.badReason).toBe(25);
    expect(result.warmupFailed).toBe(10);
    expect(result.firstProblem).toMatch(/grpc-status 13|reason ALLOWED/);
  });
});
