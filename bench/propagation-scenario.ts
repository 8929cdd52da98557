import type { Histogram } from "hdr-histogram-js";
import { DEFAULT_WORKSPACE } from "../src/domain/workspace.js";
import { Reason } from "../src/gen/keyward/v1/key_pb.js";
import { type GrpcClients, grpcClients } from "../test/support/clients.js";
import type { BenchContext, ScenarioResult } from "./context.js";
import { signed } from "./context.js";
import { histogramPercentiles, newHistogram, recordUs } from "./histogram.js";
import { seedPostgresSchema } from "./postgres-seed.js";
import { childTicks } from "./processes.js";
import { type KeywardServer, SHARED_CPUS, startKeyward } from "./servers.js";

// Scenario 10 (issue 14): how long after RevokeKey returns on replica A every worker of replica B
// denies the key, B having it cached. Two servers of two workers each on one fresh PostgreSQL
// schema, as test/process/replicas.test.ts runs them; the notice travels by NOTIFY/LISTEN (B's
// primary listens and relays to its workers).

/** node:cluster hands B's connections to its two workers in turn: two each. */
const B_CONNECTIONS = 4;
/** A wait on B that has not seen what it waits for by then is a failure. */
const GIVE_UP_MS = 2_000;
/** Calls per connection per wait, whatever the clock says. */
const MAX_CALLS = 50_000;
const TARGET_MS = 100;

/** How a revocation ended: measured, or a wait on B that gave up (a failure). */
type Outcome = "denied" | "never allowed" | "never denied";

/**
 * Calls Authorize on `connection` until it answers `wanted` (ALLOWED or KEY_REVOKED), for
 * GIVE_UP_MS or MAX_CALLS at most; returns when it did, or undefined when it gave up.
 */
async function until(connection: GrpcClients, secret: string, wanted: Reason): Promise<number | undefined> {
  const deadline = performance.now() + GIVE_UP_MS;
  for (let call = 0; call < MAX_CALLS; call++) {
    const { reason } = await connection.authorize.authorize({ apiKey: secret });
    const at = performance.now();
    if (reason === wanted) return at;
    // KEY_NOT_FOUND would be B not seeing A's committed key yet: waited for, a failure if it lasts.
    if (reason !== Reason.ALLOWED && reason !== Reason.KEY_REVOKED && reason !== Reason.KEY_NOT_FOUND)
      throw new Error(`scenario 10: B answered ${Reason[reason]}`);
    if (at > deadline) return undefined;
  }
  return undefined;
}

/** One revocation: issue on A, cache on every B connection, revoke on A, poll B until denied. */
async function revokeOnce(
  onA: GrpcClients,
  onB: readonly GrpcClients[],
  name: string,
): Promise<{ outcome: Outcome; firstMs?: number; allMs?: number }> {
  const issued = await onA.keys.issueKey({ name, workspace: DEFAULT_WORKSPACE });
  // Twice on every connection, so both workers of B hold the key in their caches.
  for (let round = 0; round < 2; round++) {
    const allowed = await Promise.all(onB.map((b) => until(b, issued.secret, Reason.ALLOWED)));
    if (allowed.includes(undefined)) return { outcome: "never allowed" };
  }
  await onA.keys.revokeKey({ keyId: issued.key?.keyId ?? "", reason: "bench" });
  const returned = performance.now();
  const denied = await Promise.all(onB.map((b) => until(b, issued.secret, Reason.KEY_REVOKED)));
  if (denied.includes(undefined)) return { outcome: "never denied" };
  const times = denied as number[];
  return { outcome: "denied", firstMs: Math.min(...times) - returned, allMs: Math.max(...times) - returned };
}

/** Each of B's workers' share of the workers' CPU time during the run, %: did both serve? */
function workerShares(before: Map<number, number>, after: Map<number, number>): number[] {
  const used = [...after].map(([pid, ticks]) => ticks - (before.get(pid) ?? 0));
  const total = used.reduce((sum, ticks) => sum + ticks, 0);
  return used.map((ticks) => (total === 0 ? 0 : (ticks / total) * 100));
}

const ms = (us: number) => us / 1000;
const percentilesMs = (histogram: Histogram) => {
  const { p50, p99, max } = histogramPercentiles(histogram);
  return { p50: ms(p50), p99: ms(p99), max: ms(max) };
};

/**
 * Scenario 10: `revocations` times (bounded by `revocationSeconds` in all), a key issued on A and
 * cached by both workers of B is revoked on A; the delay is from RevokeKey's answer until every
 * connection of B (both workers) answers KEY_REVOKED. Judged on its p99; any wait that gave up
 * misses the target.
 */
export async function propagationScenario(context: BenchContext): Promise<ScenarioResult> {
  const { config, progress } = context;
  const { schema, context: onPostgres } = await seedPostgresSchema(context, "scenario 10", 1);
  const servers: KeywardServer[] = [];
  const clients: GrpcClients[] = [];
  try {
    for (const name of ["replica-a", "replica-b"]) {
      const options = { tempDir: context.tempDir, database: onPostgres.database, name, workers: 2 };
      servers.push(await startKeyward({ ...options, cpus: SHARED_CPUS }));
    }
    const [a, b] = servers as [KeywardServer, KeywardServer];
    const onA = grpcClients(a.address, onPostgres.adminSecret);
    const onB = Array.from({ length: B_CONNECTIONS }, () => grpcClients(b.address));
    clients.push(onA, ...onB);
    const all = newHistogram();
    const first = newHistogram();
    const failures: Record<Exclude<Outcome, "denied">, number> = { "never allowed": 0, "never denied": 0 };
    const ticks = childTicks(b.pid);
    const deadline = performance.now() + config.revocationSeconds * 1000;
    let attempted = 0;
    while (attempted < config.revocations && performance.now() < deadline) {
      const result = await revokeOnce(onA, onB, `bench revocation ${attempted}`);
      attempted++;
      if (result.outcome !== "denied") failures[result.outcome]++;
      else {
        recordUs(all, (result.allMs as number) * 1000);
        recordUs(first, (result.firstMs as number) * 1000);
      }
    }
    const shares = workerShares(ticks, childTicks(b.pid));
    const delay = percentilesMs(all);
    const failed = failures["never allowed"] + failures["never denied"];
    const count = attempted - failed;
    progress(
      `scenario 10 ${count} of ${attempted} revocations denied by B: p50 ${delay.p50.toFixed(1)} ms, ` +
        `p99 ${delay.p99.toFixed(1)} ms, max ${delay.max.toFixed(1)} ms; B's workers ` +
        shares.map((share) => `${Math.round(share)} %`).join(" / "),
    );
    const cell = `p50 ${delay.p50.toFixed(1)} / p99 ${delay.p99.toFixed(1)} / max ${delay.max.toFixed(1)} ms`;
    return {
      id: "10",
      name: "revoke on replica A → denied by both workers of replica B (PostgreSQL)",
      tool: "bench/propagation-scenario.ts (connect-node gRPC clients)",
      target: `p99 < ${TARGET_MS} ms`,
      met: count === 0 ? undefined : failed === 0 && delay.p99 < TARGET_MS,
      margin:
        count === 0
          ? "n/a: no revocation measured"
          : `${signed(delay.p99 - TARGET_MS, 1)} ms${failed > 0 ? `; ${failed} of ${attempted} FAILED` : ""}`,
      details: {
        revocations: attempted,
        count,
        failures: { neverAllowedOnB: failures["never allowed"], notDeniedWithin2s: failures["never denied"] },
        delayMs: delay,
        firstDenialMs: percentilesMs(first),
        bConnections: B_CONNECTIONS,
        bWorkerSharesPercent: shares,
        pinning: `both servers (2 workers each) on CPUs ${SHARED_CPUS}, the clients in the bench process`,
      },
      cells: { keyward: `${cell} (n = ${count})`, cpu: "—" },
    };
  } finally {
    for (const client of clients) client.close();
    await Promise.all(servers.map((server) => server.stop()));
    await schema.drop();
  }
}
