import type { Reason } from "../domain/reason.js";
import { HotCounter, HotHistogram, type ScrapedMetric } from "./hot-metrics.js";

/** Where a decision was asked for. */
export type EntryPoint = "authorize" | "check" | "forward_auth";

/** Records one decision: its reason and the performance.now() at which its handler started. */
export type RecordDecision = (reason: Reason, startedAt: number) => void;

const ENTRY_POINTS: readonly EntryPoint[] = ["authorize", "check", "forward_auth"];

/** Every reason, indexed; the compiler reports one added to Reason but not here. */
const REASON_INDEX: Record<Reason, number> = {
  allowed: 0,
  missing_credential: 1,
  invalid_format: 2,
  key_not_found: 3,
  key_revoked: 4,
  key_expired: 5,
  workspace_suspended: 6,
  key_suspended: 7,
  insufficient_scope: 8,
  class_not_allowed: 9,
  route_not_allowed: 10,
  credential_in_query: 11,
  ip_not_allowed: 12,
  rate_limited: 13,
  quota_exceeded: 14,
  credits_exhausted: 15,
};
const REASONS = Object.keys(REASON_INDEX) as Reason[];

/** Seconds: from 25 µs (a cached decision) to 1 s (a store in trouble). */
export const DECISION_SECONDS = [
  0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

/** The decision metrics of one process; `recorder` is bound once per entry point, at start-up. */
export interface DecisionMetrics {
  readonly metrics: readonly ScrapedMetric[];
  recorder(entry: EntryPoint): RecordDecision;
}

/**
 * `keyward_decisions_total{entry,reason}` and `keyward_decision_duration_seconds{entry}`: every
 * decision, by where it was asked and its reason (rate-limit, quota and credit denials among them), and
 * the time its handler took from the decoded request to the answer (the transport's decoding, encoding
 * and queueing are not in it). Recording costs an array increment and a bucket search.
 */
export function createDecisionMetrics(): DecisionMetrics {
  const decisions = new HotCounter(
    "keyward_decisions_total",
    "Decisions, by entry point and reason.",
    ENTRY_POINTS.flatMap((entry) => REASONS.map((reason) => ({ entry, reason }))),
  );
  const duration = new HotHistogram(
    "keyward_decision_duration_seconds",
    "Time a handler took to decide, from the decoded request to the answer.",
    DECISION_SECONDS,
  );
  const recorders = new Map<EntryPoint, RecordDecision>();
  return {
    metrics: [decisions, duration],
    recorder(entry) {
      const made = recorders.get(entry);
      if (made !== undefined) return made;
      const base = ENTRY_POINTS.indexOf(entry) * REASONS.length;
      const counts = decisions.counts;
      const series = duration.series({ entry });
      const record: RecordDecision = (reason, startedAt) => {
        const at = base + REASON_INDEX[reason];
        counts[at] = (counts[at] as number) + 1;
        series.observe((performance.now() - startedAt) / 1000);
      };
      recorders.set(entry, record);
      return record;
    },
  };
}
