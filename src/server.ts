import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "./log.js";
import type { Scrape } from "./metrics/cluster-metrics.js";
import { connectRoutes, peerKey } from "./transport/connect-adapter.js";
import { toRpcError } from "./transport/errors.js";
import { isForwardAuthUrl } from "./transport/forwarded-request.js";
import { shutDownGrpc } from "./transport/grpc-drain.js";
import { addGrpcService } from "./transport/grpc-js-adapter.js";
import type { ServedService } from "./transport/handler.js";
import {
  continueWithinLimits,
  limitedConnectHandler,
  type NodeHandler,
} from "./transport/http-body-limits.js";
import { type MessageLimits, messageLimitOf } from "./transport/message-limits.js";
import { answerScrape, isScrape } from "./transport/metrics-route.js";
import type { ServedTls } from "./transport/tls.js";

export interface ServerOptions {
  readonly services: readonly ServedService[];
  /** grpc-js listener, `host:port` (port 0 picks a free one). */
  readonly grpcAddress: string;
  /** Connect listener, `host:port`; undefined for none. */
  readonly httpAddress: string | undefined;
  /** Answers `GET /healthz`: true while serving. */
  readonly isServing: () => boolean;
  /**
   * Whether this process's cache has stopped hearing other replicas' changes (cache/replica-listener.ts):
   * `GET /healthz` still answers 200 SERVING, since decisions stay correct (read more often), and adds
   * the line `invalidation: degraded`.
   */
  readonly invalidationDegraded?: (() => boolean) | undefined;
  /**
   * Whether rate limits are enforced per replica because Redis cannot be reached (LimitGate.local): `GET
   * /healthz` then adds the line `rate_limits: local`.
   */
  readonly rateLimitsLocal?: (() => boolean) | undefined;
  /**
   * Answers `GET /readyz`: the parts that keep this process from being ready (transport/readiness.ts),
   * 200 `ready` when none, 503 with one line each otherwise; 404 when undefined.
   */
  readonly readiness?: (() => Promise<readonly string[]>) | undefined;
  readonly log: Logger;
  /** TLS (and client certificates) on both listeners; plaintext when undefined. */
  readonly tls?: ServedTls | undefined;
  /** Largest request message per kind of call, on both listeners. */
  readonly messageLimits: MessageLimits;
  /**
   * Answers `GET /metrics` (Prometheus): on `metricsAddress`, a listener of its own, when set, else on
   * the HTTP listener; undefined serves no metrics.
   */
  readonly metrics?: (() => Promise<Scrape>) | undefined;
  /** The metrics listener, `host:port`; undefined: metrics on the HTTP listener. */
  readonly metricsAddress?: string | undefined;
  /** Answers `/authz/*` on the HTTP listener (forward auth), ahead of connect-node; 404 there when undefined. */
  readonly forwardAuth?: NodeHandler | undefined;
}

export interface RunningServer {
  readonly grpcPort: number;
  readonly httpPort: number | undefined;
  readonly metricsPort: number | undefined;
  /** Stops accepting calls, lets in-flight ones finish for up to timeoutMs, then cuts the rest. */
  drain(timeoutMs: number): Promise<void>;
}

/** Serves the same handlers on grpc-js (the hot path) and on connect-node (Connect, JSON, gRPC-Web). */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const toError = (error: unknown, method: string) => toRpcError(error, options.log, method);
  const limits = options.messageLimits;
  // grpc-js refuses a message beyond this from its length prefix, before buffering it; the
  // adapter then holds each method to its own, smaller limit.
  const grpcServer = new grpc.Server({
    "grpc.max_receive_message_length": Math.max(limits.maxBytes, limits.maxCheckBytes),
  });
  for (const service of options.services) {
    addGrpcService(grpcServer, service, toError, messageLimitOf(limits, service.service.typeName));
  }
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(
      options.grpcAddress,
      options.tls?.grpcCredentials ?? grpc.ServerCredentials.createInsecure(),
      (error, port) => (error ? reject(error) : resolve(port)),
    ),
  );

  let httpServer: ReturnType<typeof createHttpServer> | undefined;
  if (options.httpAddress !== undefined) {
    const connect = limitedConnectHandler(options.services, limits, (services, readMaxBytes) =>
      connectNodeAdapter({
        routes: connectRoutes(services, toError),
        readMaxBytes,
        // Reject unknown JSON fields: a misspelt field would otherwise be silently ignored.
        jsonOptions: { ignoreUnknownFields: false },
        contextValues: (request) =>
          createContextValues().set(peerKey, `${request.socket.remoteAddress}:${request.socket.remotePort}`),
      }),
    );
    const handle = (request: IncomingMessage, response: ServerResponse) => {
      if (request.url === "/healthz" && (request.method === "GET" || request.method === "HEAD")) {
        const serving = options.isServing();
        response.writeHead(serving ? 200 : 503, { "content-type": "text/plain" });
        const degraded =
          (options.invalidationDegraded?.() === true ? "invalidation: degraded\n" : "") +
          (options.rateLimitsLocal?.() === true ? "rate_limits: local\n" : "");
        response.end(serving ? `SERVING\n${degraded}` : "NOT_SERVING\n");
        return;
      }
      if (
        options.readiness &&
        request.url === "/readyz" &&
        (request.method === "GET" || request.method === "HEAD")
      ) {
        void options.readiness().then((problems) => {
          response.writeHead(problems.length === 0 ? 200 : 503, { "content-type": "text/plain" });
          response.end(problems.length === 0 ? "ready\n" : problems.map((line) => `${line}\n`).join(""));
        });
        return;
      }
      if (options.metrics !== undefined && options.metricsAddress === undefined && isScrape(request)) {
        answerScrape(response, options.metrics);
        return;
      }
      // Forward auth is the gateways' hot path: a plain handler, with connect-node's cost kept out of it.
      if (options.forwardAuth !== undefined && isForwardAuthUrl(request.url)) {
        options.forwardAuth(request, response);
        return;
      }
      connect(request, response);
    };
    const server = options.tls ? options.tls.createHttpsServer(handle) : createHttpServer(handle);
    server.on("checkContinue", continueWithinLimits(limits, handle));
    httpServer = server;
    await listen(server, options.httpAddress);
  }
  const httpPort = httpServer && (httpServer.address() as AddressInfo).port;
  // Metrics on a port of their own (KEYWARD_METRICS_LISTEN), which callers need not reach: nothing else
  // is served there. Plain HTTP even with TLS on the other listeners: Prometheus scrapes it in-cluster.
  let metricsServer: ReturnType<typeof createHttpServer> | undefined;
  const scrape = options.metrics;
  if (scrape !== undefined && options.metricsAddress !== undefined) {
    metricsServer = createHttpServer((request, response) => {
      if (isScrape(request)) answerScrape(response, scrape);
      else {
        response.writeHead(404, { "content-type": "text/plain" });
        response.end("not found: this listener serves GET /metrics only\n");
      }
    });
    try {
      await listen(metricsServer, options.metricsAddress);
    } catch (error) {
      httpServer?.close();
      grpcServer.forceShutdown();
      throw error;
    }
  }
  const metricsPort = metricsServer && (metricsServer.address() as AddressInfo).port;

  return {
    grpcPort,
    httpPort,
    metricsPort,
    async drain(timeoutMs) {
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      let timer: NodeJS.Timeout | undefined;
      // After forceShutdown nothing is left to wait for, even if grpc-js never calls back.
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          options.log.warn("drain timed out; cutting remaining calls", { timeout_ms: timeoutMs });
          grpcServer.forceShutdown();
          httpServer?.closeAllConnections();
          resolve();
        }, timeoutMs);
      });
      await Promise.race([
        timedOut,
        Promise.all([
          shutDownGrpc(grpcServer),
          httpServer &&
            new Promise<void>((resolve) => {
              httpServer.close(() => resolve());
              httpServer.closeIdleConnections();
            }),
        ]),
      ]);
      clearTimeout(timer);
    },
  };
}

function listen(server: ReturnType<typeof createHttpServer>, address: string): Promise<void> {
  const split = address.lastIndexOf(":");
  const host = address.slice(0, split).replace(/^\[(.*)\]$/, "$1");
  const port = Number(address.slice(split + 1));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
