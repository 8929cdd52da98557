import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { REQUEST_LIMITS } from "../domain/request-limits.js";
import { quoted } from "../domain/secret-input.js";
import {
  Health,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from "../gen/grpc/health/v1/health_pb.js";
import { type ServedService, served } from "./handler.js";

/** grpc.health.v1.Health for the whole server ("") and each named service. */
export interface HealthService {
  readonly served: ServedService;
  /** SERVING, or NOT_SERVING while draining; Watch streams hear of every change. */
  setServing(serving: boolean): void;
  /** Ends every Watch stream, so that a graceful shutdown is not held open by them. */
  close(): void;
}

export function healthService(serviceNames: readonly string[]): HealthService {
  const known = new Set(["", ...serviceNames]);
  let status = Status.SERVING;
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
    waiters.clear();
  };
  const response = (service: string): HealthCheckResponse =>
    create(HealthCheckResponseSchema, { status: known.has(service) ? status : Status.SERVICE_UNKNOWN });

  return {
    served: served(Health, {
      check(request) {
        if (!known.has(request.service))
          throw new ConnectError(
            `unknown service ${quoted(request.service, REQUEST_LIMITS.echoedChars)}`,
            Code.NotFound,
          );
        return response(request.service);
      },
      async *watch(request, context) {
        let last: Status | undefined;
        for (;;) {
          const current = response(request.service);
          if (current.status !== last) {
            last = current.status;
            yield current;
          }
          if (closed || context.signal.aborted) return;
          await new Promise<void>((resolve) => {
            waiters.add(resolve);
            context.signal.addEventListener("abort", () => resolve(), { once: true });
          });
        }
      },
    }),
    setServing(serving) {
      status = serving ? Status.SERVING : Status.NOT_SERVING;
      wake();
    },
    close() {
      closed = true;
      wake();
    },
  };
}
