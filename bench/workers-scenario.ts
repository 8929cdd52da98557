import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { AuthorizeResponseSchema } from "../src/gen/keyward/v1/authorize_service_pb.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { type BenchContext, checkAndCapture, h2Request, type ScenarioResult } from "./context.js";
import { authorizeCachedRequest } from "./h2load-scenarios.js";
import { alternate, describe, measureH2, type RunResult, summarize } from "./measure.js";
import { median } from "./median.js";
import { childTicks, cpuList, type PinnedServer } from "./processes.js";
import { SHARED_CPUS, startKeyward } from "./servers.js";

// Scenario 1w: scenario 1's load (Authorize, cached key, h2load 8 connections × 16 streams)
// against KEYWARD_WORKERS=1 and KEYWARD_WORKERS=2 (node:cluster, one worker per CPU of this
// machine), in alternating rounds. Honest on 2 CPUs only if both configurations get the same
// CPUs: the server (primary and workers) and h2load all run on CPUs 0 and 1 (taskset -c 0,1),
// for one worker as for two. h2load needs CPU too, so two workers never get two whole CPUs;
// each run reports h2load's CPU use, and the ratio is 2 workers' calls/s over 1 worker's.

const CLIENTS = 8;
const STREAMS = 16;
const SIDES = ["workers1", "workers2"] as const;
type WorkersSide = (typeof SIDES)[number];
const WORKERS: Record<WorkersSide, number> = { workers1: 1, workers2: cpuList(SHARED_CPUS).length };

/**
 * A worker with less than half of an even share of the workers' CPU time did not get its share
 * of connections (node:cluster hands them out round-robin): the run measured fewer workers.
 */
const MIN_SHARE_OF_EVEN = 0.5;

export async function workersScenario(context: BenchContext): Promise<ScenarioResult> {
  const request = authorizeCachedRequest(context);
  const servers: Partial<Record<WorkersSide, PinnedServer>> = {};
  try {
    for (const side of SIDES) {
      servers[side] = await startKeyward({
        tempDir: context.tempDir,
        database: context.database,
        name: `workers-${WORKERS[side]}`,
        workers: WORKERS[side],
        cpus: SHARED_CPUS,
      });
    }
    const started = servers as Record<WorkersSide, PinnedServer>;
    const answers = await Promise.all(SIDES.map((side) => checkAndCapture(started[side], request)));
    const [answer, other] = answers as [Buffer, Buffer];
    const reason = fromBinary(AuthorizeResponseSchema, answer).reason;
    if (reason !== Reason.ALLOWED || !other.equals(answer))
      throw new Error(`scenario 1w: Keyward answered ${Reason[reason]}, or differently per worker count`);
    const frame = { min: 5 + answer.length, max: 5 + answer.length };

    const run = async (side: WorkersSide, requests: number, label: string): Promise<RunResult> => {
      const server = started[side];
      const workersBefore = childTicks(server.pid);
      const options = {
        requests,
        clients: CLIENTS,
        streams: STREAMS,
        cpus: SHARED_CPUS,
        logFile: join(context.tempDir, "h2load-1w.tsv"),
        timeoutSeconds: 180,
      };
      const result = await measureH2(server, h2Request(server, request), options, frame);
      const checked =
        WORKERS[side] > 1 ? checkWorkers(result, workersBefore, childTicks(server.pid)) : result;
      const shares = checked.workerSharesPercent?.map((share) => `${Math.round(share)} %`).join(" / ");
      context.progress(
        `${describe("1w", `${WORKERS[side]} worker${WORKERS[side] > 1 ? "s" : ""}`, label, checked)}` +
          `  h2load ${Math.round(checked.generatorCpuPercent ?? 0)} % CPU${shares ? `  workers' CPU ${shares}` : ""}`,
      );
      return checked;
    };
    const { config } = context;
    const sized = (warm: RunResult) =>
      Math.round(
        Math.min(config.maxRequests, Math.max(config.minRequests, warm.callsPerSecond * config.runSeconds)),
      );
    // Every worker is a process of its own that needs its own warm-up (JIT, caches).
    const n = {
      workers1: sized(await run("workers1", config.warmRequests * WORKERS.workers1, "warm-up")),
      workers2: sized(await run("workers2", config.warmRequests * WORKERS.workers2, "warm-up")),
    };
    const runs = await alternate(
      config.rounds,
      (side, round) => run(side, n[side], `round ${round + 1}`),
      SIDES,
    );
    return result(runs);
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
  }
}

/** Each worker's share of the workers' CPU time during the run; a problem if one did too little. */
function checkWorkers(result: RunResult, before: Map<number, number>, after: Map<number, number>): RunResult {
  const used = [...after].map(([pid, ticks]) => ticks - (before.get(pid) ?? 0));
  const total = used.reduce((sum, ticks) => sum + ticks, 0);
  const shares = used.map((ticks) => (ticks / Math.max(1, total)) * 100);
  const problems = [...result.problems];
  if (used.length !== WORKERS.workers2) problems.push(`${used.length} workers, not ${WORKERS.workers2}`);
  const least = (100 / Math.max(1, used.length)) * MIN_SHARE_OF_EVEN;
  if (shares.some((share) => share < least))
    problems.push(`a worker did less than ${Math.round(least)} % of the work: connections not spread`);
  return { ...result, workerSharesPercent: shares, problems };
}

function result(runs: Record<WorkersSide, RunResult[]>): ScenarioResult {
  const one = summarize(runs.workers1);
  const two = summarize(runs.workers2);
  const rate = (value: number) => Math.round(value).toLocaleString("en-US");
  const valid = one.valid && two.valid;
  const generator = (list: readonly RunResult[]) =>
    Math.round(median(list.map((r) => r.generatorCpuPercent ?? 0)));
  return {
    id: "1w",
    name: `Authorize, cached key: KEYWARD_WORKERS=${WORKERS.workers2} vs 1, server and h2load all on CPUs ${SHARED_CPUS}`,
    tool: `h2load -t 1 -c ${CLIENTS} -m ${STREAMS}, taskset -c ${SHARED_CPUS} like the server`,
    ratio: two.callsPerSecond / one.callsPerSecond,
    roundRatios: runs.workers2.map(
      (run, i) => run.callsPerSecond / (runs.workers1[i]?.callsPerSecond ?? Number.NaN),
    ),
    target: `none: ${WORKERS.workers2} workers ÷ 1`,
    met: undefined,
    margin: valid ? "—" : "INVALID",
    cells: {
      keyward: `1 worker ${rate(one.callsPerSecond)}; ${WORKERS.workers2} workers ${rate(two.callsPerSecond)}${valid ? "" : " (INVALID)"}`,
      echo: "—",
      cpu: `${Math.round(one.cpuUsPerCall)} (1) / ${Math.round(two.cpuUsPerCall)} (${WORKERS.workers2})`,
    },
    details: {
      pinning: `server (primary and workers) and h2load all on CPUs ${SHARED_CPUS} (taskset -c ${SHARED_CPUS}), for both configurations`,
      workers: { workers1: one, workers2: two },
      h2loadCpuPercent: { workers1: generator(runs.workers1), workers2: generator(runs.workers2) },
      workerSharesPercent: runs.workers2.map((run) => run.workerSharesPercent),
      runs,
    },
  };
}
