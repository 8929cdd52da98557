import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { systemClock } from "../src/domain/clock.js";
import { prepareKey } from "../src/domain/issue-key.js";
import {
  AuthorizeRequestSchema,
  type AuthorizeResponse,
  AuthorizeResponseSchema,
} from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { openDatabase } from "../src/store/database.js";
import { rowFromKey } from "../src/store/rows.js";
import {
  type BenchContext,
  benchRequest,
  checkAndCapture,
  ratioTarget,
  type ScenarioResult,
} from "./context.js";
import { H2LOAD_SHAPE } from "./h2load.js";
import { exact, h2Rounds, startPair, stopPair } from "./h2load-scenarios.js";
import { summarize } from "./measure.js";
import { REQUIRED_SCOPE, SEED_KEY } from "./seed.js";

const AUTHORIZE = "/keyward.v1.AuthorizeService/Authorize";
// Limits the run never reaches, so every call is counted against all three and allowed.
const RATE_LIMIT = 1e12;
const QUOTA = 1e15;
const CREDITS = 1e15;

/**
 * Scenario 8 (issue 12): scenario 1 with counting on — Authorize with a cached key that has a rate
 * limit, a monthly quota and credits, none of them reached. Every answer carries the three statuses
 * and differs from the last (remaining counts), so Keyward's frames are checked against a range; after
 * the runs, the key's quota must show every call counted. The server runs one process, as scenario 1.
 */
export async function countedScenario(
  context: BenchContext,
  uncountedCallsPerSecond: number,
): Promise<ScenarioResult> {
  const secret = await seedCountedKey(context);
  const message = create(AuthorizeRequestSchema, { apiKey: secret, requiredScopes: [REQUIRED_SCOPE] });
  const request = benchRequest(
    context,
    "authorize-counted",
    AUTHORIZE,
    toBinary(AuthorizeRequestSchema, message),
  );
  const { servers, answer } = await startPair(context, "authorize-counted", request);
  try {
    const first = fromBinary(AuthorizeResponseSchema, answer);
    if (first.reason !== Reason.ALLOWED || first.rateLimit === undefined || first.quota === undefined)
      throw new Error(`scenario 8: Keyward answered ${Reason[first.reason]} without limit statuses`);
    // remaining counts and reset nanos change the size by a few bytes from call to call
    const frames = {
      keyward: { min: 5 + answer.length - 8, max: 5 + answer.length + 8 },
      echo: exact(answer),
    };
    const runs = await h2Rounds(context, "8", servers, request, frames, context.config.warmRequests);
    const last = fromBinary(AuthorizeResponseSchema, await checkAndCapture(servers.keyward, request));
    const measured = runs.keyward.reduce((sum, run) => sum + run.requests, 0);
    const counted = usedQuota(first) === undefined ? 0 : (usedQuota(last) ?? 0) - (usedQuota(first) ?? 0);
    if (last.reason !== Reason.ALLOWED || counted < measured)
      throw new Error(`scenario 8: ${counted} calls counted against the quota for ${measured} measured`);
    const keyward = summarize(runs.keyward);
    const echo = summarize(runs.echo);
    // What counting adds to one call, in server time: the difference of the inverse throughputs.
    const costUs =
      keyward.valid && uncountedCallsPerSecond > 0
        ? (1 / keyward.callsPerSecond - 1 / uncountedCallsPerSecond) * 1e6
        : undefined;
    return {
      id: "8",
      name: "Authorize, cached key counted (rate limit, quota, credits; none reached)",
      tool: `h2load -c ${H2LOAD_SHAPE.clients} -m ${H2LOAD_SHAPE.streams}`,
      keyward,
      echo,
      ...ratioTarget(runs, keyward, echo, 0.85),
      runs,
      details: {
        countedCalls: counted,
        vsScenario1: keyward.callsPerSecond / uncountedCallsPerSecond,
        countingCostMicroseconds: costUs === undefined ? undefined : Math.round(costUs * 100) / 100,
      },
    };
  } finally {
    await stopPair(servers);
  }
}

function usedQuota(answer: AuthorizeResponse): number | undefined {
  return answer.quota === undefined ? undefined : QUOTA - Number(answer.quota.remaining);
}

/** Stores the counted key in the bench database, as IssueKey would, and returns its secret. */
async function seedCountedKey(context: BenchContext): Promise<string> {
  const prepared = prepareKey(
    {
      ...SEED_KEY,
      name: "bench counted key",
      rateLimit: { limit: RATE_LIMIT, windowMs: 60_000 },
      monthlyQuota: QUOTA,
      credits: { remaining: CREDITS, refill: undefined },
    },
    systemClock.now(),
  );
  if (!prepared.ok) throw new Error(`scenario 8: prepareKey refused: ${prepared.error.message}`);
  const { db, close } = await openDatabase(context.database);
  try {
    await db.insertInto("api_keys").values(rowFromKey(prepared.value.key)).execute();
  } finally {
    await close();
  }
  return prepared.value.secret;
}
