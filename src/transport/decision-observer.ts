import type { IncomingMessage } from "node:http";
import type { Decision } from "../domain/authorize.js";
import type { Logger } from "../log.js";
import type { EntryPoint, RecordDecision } from "../metrics/decision-metrics.js";
import type { CallContext } from "./handler.js";

/**
 * Where a decision's request headers can be read, only for a line that is logged: a call's context, a
 * header lookup, or a node:http request (whose `headers` node parses on first access, so not per call).
 */
export type RequestHeaders =
  | Pick<CallContext, "header">
  | ((name: string) => string | undefined)
  | Pick<IncomingMessage, "headers">;

/** Told of every decision a handler makes, with the performance.now() its handler started at. */
export type ObserveDecision = (decision: Decision, startedAt: number, headers: RequestHeaders) => void;

/**
 * Counts every decision in the metrics and logs a `decision` line for a `sample` share of them
 * (KEYWARD_DECISION_LOG_SAMPLE; 0, the default, logs none and costs nothing more): entry point, reason,
 * key id (never the key), time taken and the request's `x-request-id`. The headers are read only for
 * a line that is logged.
 */
export function decisionObserver(
  entry: EntryPoint,
  record: RecordDecision,
  log: Logger,
  sample: number,
  random: () => number = Math.random,
): ObserveDecision {
  if (!(sample > 0)) return (decision, startedAt) => record(decision.reason, startedAt);
  return (decision, startedAt, headers) => {
    record(decision.reason, startedAt);
    if (sample < 1 && !(random() < sample)) return;
    log.info("decision", {
      entry,
      reason: decision.reason,
      key_id: decision.key?.keyId,
      duration_ms: Math.round((performance.now() - startedAt) * 1000) / 1000,
      request_id: requestId(headers),
    });
  };
}

function requestId(headers: RequestHeaders): string | undefined {
  if (typeof headers === "function") return headers("x-request-id");
  if (typeof (headers as Pick<CallContext, "header">).header === "function")
    return (headers as Pick<CallContext, "header">).header("x-request-id");
  const value = (headers as Pick<IncomingMessage, "headers">).headers["x-request-id"];
  return Array.isArray(value) ? value[0] : value;
}
