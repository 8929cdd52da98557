import { type Client, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Histogram } from "hdr-histogram-js";
import { generateKey } from "../src/domain/key-format.js";
import { AuthorizeService } from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { KeyService } from "../src/gen/keyward/v1/key_service_pb.js";
import { newHistogram, recordUs } from "./histogram.js";
import { REQUIRED_SCOPE, SEED_SCOPES } from "./seed.js";

// The soak's mixed load (bench/soak.ts): Authorize hits, misses, bogus and malformed keys, and
// IssueKey and RevokeKey, at a bounded rate over several connections, every answer checked.

/** What one operation of the load does; an operation is one or two calls. */
export const OPERATIONS = {
  hit: "Authorize a hot seeded key (cached): ALLOWED",
  miss: "Authorize a seeded key last used longer ago than the cache TTL (a store read): ALLOWED",
  bogus: "Authorize a key with a valid checksum that was never issued: KEY_NOT_FOUND",
  malformed: "Authorize a key with a broken checksum, or no key shape at all: INVALID_FORMAT",
  issue: "IssueKey, then Authorize the new key on another connection: ALLOWED",
  revoke: "RevokeKey of the oldest issued key, then Authorize it on another connection: KEY_REVOKED",
} as const;
export type Operation = keyof typeof OPERATIONS;

/** Share of the operations. Issues and revokes balance, so the set of live issued keys stays small. */
export const MIX: Readonly<Record<Operation, number>> = {
  hit: 0.55,
  miss: 0.2,
  bogus: 0.1,
  malformed: 0.05,
  issue: 0.05,
  revoke: 0.05,
};

/** Bounds the issued keys not yet revoked: beyond it an issue becomes a revoke. */
const MAX_LIVE = 1000;
const CALL_TIMEOUT_MS = 10_000;
const MAX_IN_FLIGHT = 256;

/** The keys the load presents. Miss and bogus keys keep to one connection each (see keyAt). */
export interface KeyPools {
  readonly hot: readonly string[];
  /** Cycled through, each reused only after the cache TTL. */
  readonly miss: readonly string[];
  /** Never-issued keys, cycled through, each reused only after the negative-cache TTL. */
  readonly bogus: readonly string[];
}

export interface OperationStats {
  sent: number;
  unexpected: number;
  /** Latencies of the operations that answered as expected, µs. */
  readonly latencyUs: Histogram;
}

export interface MixedLoad {
  /** Presents every key of every pool once (hot keys on every connection): the caches' steady state. */
  prime(): Promise<void>;
  /** Sends `rate` operations a second for `seconds`; resolves when the last has answered. */
  run(rate: number, seconds: number, stop: () => boolean): Promise<void>;
  readonly stats: Readonly<Record<Operation, OperationStats>>;
  /** The first unexpected answers and failures (at most 20), and how many there were. */
  readonly problems: { readonly first: string[]; count: number };
  /** Operations not sent because MAX_IN_FLIGHT were still unanswered (the server fell behind). */
  readonly dropped: () => number;
}

type Connection = { authorize: Client<typeof AuthorizeService>; keys: Client<typeof KeyService> };

export function createMixedLoad(
  address: string,
  adminSecret: string,
  connectionCount: number,
  pools: KeyPools,
) {
  const auth: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${adminSecret}`);
    return next(request);
  };
  // A transport per connection: node:cluster hands each TCP connection to one worker.
  const connections: Connection[] = Array.from({ length: connectionCount }, () => {
    const transport = createGrpcTransport({ baseUrl: `http://${address}`, interceptors: [auth] });
    return {
      authorize: createClient(AuthorizeService, transport),
      keys: createClient(KeyService, transport),
    };
  });
  const stats = Object.fromEntries(
    Object.keys(OPERATIONS).map((op) => [op, { sent: 0, unexpected: 0, latencyUs: newHistogram() }]),
  ) as unknown as Record<Operation, OperationStats>;
  const problems = { first: [] as string[], count: 0 };
  const live: { keyId: string; secret: string; connection: number }[] = [];
  const cursor = { miss: 0, bogus: 0, issue: 0 };
  let inFlight = 0;
  let dropped = 0;

  const problem = (op: string, text: string) => {
    problems.count++;
    if (problems.first.length < 20) problems.first.push(`${op}: ${text}`);
  };
  const connectionAt = (index: number) => connections[index % connections.length] as Connection;
  const expectReason = async (connection: Connection, apiKey: string, expected: Reason) => {
    const decision = await connection.authorize.authorize(
      { apiKey, requiredScopes: [REQUIRED_SCOPE] },
      { timeoutMs: CALL_TIMEOUT_MS },
    );
    if (decision.reason !== expected) return `expected ${Reason[expected]}, got ${Reason[decision.reason]}`;
    return undefined;
  };

  /** One operation's calls; a text when an answer was not the expected one. */
  const perform = async (op: Operation): Promise<string | undefined> => {
    switch (op) {
      case "hit": {
        const index = Math.floor(Math.random() * pools.hot.length);
        const connection = connectionAt(Math.floor(Math.random() * connections.length));
        return expectReason(connection, pools.hot[index] as string, Reason.ALLOWED);
      }
      case "miss": {
        const index = cursor.miss++ % pools.miss.length;
        return expectReason(connectionAt(index), pools.miss[index] as string, Reason.ALLOWED);
      }
      case "bogus": {
        const index = cursor.bogus++ % pools.bogus.length;
        return expectReason(connectionAt(index), pools.bogus[index] as string, Reason.KEY_NOT_FOUND);
      }
      case "malformed":
        return expectReason(
          connectionAt(Math.floor(Math.random() * connections.length)),
          malformedKey(),
          Reason.INVALID_FORMAT,
        );
      case "issue": {
        const index = cursor.issue++;
        const issued = await connectionAt(index).keys.issueKey(
          { name: "soak", scopes: [...SEED_SCOPES] },
          { timeoutMs: CALL_TIMEOUT_MS },
        );
        const keyId = issued.key?.keyId ?? "";
        const wrong = await expectReason(connectionAt(index + 1), issued.secret, Reason.ALLOWED);
        // Revocable only once checked: a revoke must not overtake this Authorize.
        if (wrong === undefined) live.push({ keyId, secret: issued.secret, connection: index });
        return wrong;
      }
      case "revoke": {
        const target = live.shift();
        if (target === undefined) return perform("issue");
        await connectionAt(target.connection).keys.revokeKey(
          { keyId: target.keyId, reason: "soak" },
          { timeoutMs: CALL_TIMEOUT_MS },
        );
        return expectReason(connectionAt(target.connection + 1), target.secret, Reason.KEY_REVOKED);
      }
    }
  };

  const launch = (op: Operation) => {
    const chosen = op === "issue" && live.length >= MAX_LIVE ? "revoke" : op;
    stats[chosen].sent++;
    inFlight++;
    const started = performance.now();
    return perform(chosen)
      .then(
        (wrong) => {
          if (wrong === undefined) recordUs(stats[chosen].latencyUs, (performance.now() - started) * 1000);
          else {
            stats[chosen].unexpected++;
            problem(chosen, wrong);
          }
        },
        (error: unknown) => {
          stats[chosen].unexpected++;
          const failure = ConnectError.from(error);
          problem(chosen, `call failed: ${failure.code} ${failure.rawMessage}`);
        },
      )
      .finally(() => inFlight--);
  };

  return {
    stats,
    problems,
    dropped: () => dropped,
    async prime() {
      const checks = [
        ...pools.hot.flatMap((key) =>
          connections.map((connection) => () => expectReason(connection, key, Reason.ALLOWED)),
        ),
        ...pools.miss.map((key, i) => () => expectReason(connectionAt(i), key, Reason.ALLOWED)),
        ...pools.bogus.map((key, i) => () => expectReason(connectionAt(i), key, Reason.KEY_NOT_FOUND)),
      ];
      let next = 0;
      const lanes = Array.from({ length: 32 }, async () => {
        while (next < checks.length) {
          const wrong = await (checks[next++] as () => Promise<string | undefined>)();
          if (wrong !== undefined) problem("prime", wrong);
        }
      });
      await Promise.all(lanes);
    },
    async run(rate, seconds, stop) {
      const pending = new Set<Promise<void>>();
      const started = performance.now();
      let sent = 0;
      for (;;) {
        const elapsed = (performance.now() - started) / 1000;
        if (elapsed >= seconds || stop()) break;
        for (const due = Math.floor(elapsed * rate); sent < due; sent++) {
          if (inFlight >= MAX_IN_FLIGHT) {
            dropped++;
            continue;
          }
          const call = launch(pick());
          pending.add(call);
          void call.then(() => pending.delete(call));
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await Promise.all(pending);
    },
  } satisfies MixedLoad;
}

/** An operation drawn at random by MIX. */
function pick(): Operation {
  let r = Math.random();
  for (const [op, share] of Object.entries(MIX) as [Operation, number][]) {
    r -= share;
    if (r < 0) return op;
  }
  return "hit";
}

/** A key with one checksum character changed, a truncated key, or text with no key shape. */
function malformedKey(): string {
  const key = generateKey("kw", "live");
  switch (Math.floor(Math.random() * 3)) {
    case 0: {
      const last = key.at(-1) === "A" ? "B" : "A";
      return key.slice(0, -1) + last;
    }
    case 1:
      return key.slice(0, 20);
    default:
      return "not-a-keyward-key";
  }
}
