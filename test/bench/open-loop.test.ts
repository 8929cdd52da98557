import { afterEach, describe, expect, it } from "vitest";
import { grpcFrame } from "../../bench/grpc-frame.js";
import { openLoop } from "../../bench/open-loop.js";
import { startUnaryServer, type UnaryServer } from "./unary-server.js";

// bench/open-loop.ts (scenario 6) against a real local HTTP/2 server: it sends rate × seconds
// calls after its warm-up, checks every answer, and reports latencies that include the server's
// time.

const REQUEST = Buffer.from("request message");
const ANSWER = Buffer.from("answer message");
const DELAY_MS = 5;

let server: UnaryServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const options = (address: string) => ({
  target: address,
  path: "/test.v1.Echo/Call",
  headers: { "x-test": "yes" },
  body: grpcFrame(REQUEST),
  expect: grpcFrame(ANSWER),
  rate: 400,
  seconds: 0.5,
  warmupSeconds: 0.25,
  connections: 2,
  drainSeconds: 5,
});

describe("openLoop", () => {
  it("sends rate × seconds calls after the warm-up and reports their latencies", async () => {
    server = await startUnaryServer(() => ({ message: ANSWER }), DELAY_MS);
    const result = await openLoop(options(server.address));

    expect(result.warmupCalls).toBe(100);
    expect(result.planned).toBe(200);
    expect(result.sent).toBe(200);
    expect(result.ok).toBe(200);
    expect(result).toMatchObject({ badStatus: 0, badAnswer: 0, errors: 0, unanswered: 0, warmupFailed: 0 });
    expect(server.received).toHaveLength(300);
    expect(server.received.every((message) => message.equals(REQUEST))).toBe(true);
    // Every answer waited DELAY_MS on the server (less up to 1 ms: a timer counts from the event
    // loop's cached time, which may be a little behind), so hardly any latency is below it.
    const { latencyUs, serviceLatencyUs } = result;
    expect(serviceLatencyUs.p50).toBeGreaterThanOrEqual((DELAY_MS - 1) * 1000);
    expect(latencyUs.p50).toBeGreaterThanOrEqual(serviceLatencyUs.p50);
    expect(latencyUs.p50).toBeLessThanOrEqual(latencyUs.p99);
    expect(latencyUs.p99).toBeLessThanOrEqual(latencyUs.p999);
    expect(latencyUs.p999).toBeLessThanOrEqual(latencyUs.max);
    expect(latencyUs.max).toBeLessThan(5_000_000);
    expect(result.sentPerSecond).toBeGreaterThan(300);
    expect(result.blockedSends).toBe(0);
  });

  it("counts a gRPC error and an unexpected answer as such", async () => {
    server = await startUnaryServer((_message, index) =>
      index % 10 === 3 ? { grpcStatus: 14 } : index % 10 === 7 ? { message: REQUEST } : { message: ANSWER },
    );
    const result = await openLoop(options(server.address));

    // The server answers by arrival, which two connections may reorder a little across the warm-up's end.
    expect(result.badStatus + result.badAnswer + result.ok).toBe(200);
    expect(result.badStatus + result.badAnswer + result.warmupFailed).toBe(60);
    expect(result.badStatus).toBeGreaterThan(10);
    expect(result.badAnswer).toBeGreaterThan(10);
    expect(result.firstProblem).toMatch(/grpc-status 14|not the expected/);
  });
});
