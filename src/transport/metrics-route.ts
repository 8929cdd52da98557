import type { IncomingMessage, ServerResponse } from "node:http";
import type { Scrape } from "../metrics/cluster-metrics.js";

/** Prometheus's text exposition format, version 0.0.4 (what prom-client writes). */
const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Whether the request is a scrape: GET or HEAD of /metrics. */
export function isScrape(request: IncomingMessage): boolean {
  return request.url === "/metrics" && (request.method === "GET" || request.method === "HEAD");
}

/** Answers a scrape: 200 with the metrics, or 503 with one line when they cannot be gathered. */
export function answerScrape(response: ServerResponse, scrape: () => Promise<Scrape>): void {
  void scrape().then(
    (result) => {
      if ("text" in result) {
        response.writeHead(200, { "content-type": CONTENT_TYPE });
        response.end(result.text);
      } else {
        response.writeHead(503, { "content-type": "text/plain" });
        response.end(`metrics unavailable: ${result.error}\n`);
      }
    },
    (error: unknown) => {
      response.writeHead(503, { "content-type": "text/plain" });
      response.end(`metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`);
    },
  );
}
