import http from "node:http";
import { parseArgs } from "node:util";

// Scenario 12's collector: a bare node:http server that takes OTLP/HTTP JSON exports (POST
// /v1/traces, as Keyward's exporter sends them), answers 200 with an empty partial-success object,
// and counts the spans received. GET /count answers the totals. It stands in for a collector on
// another host, so it does as little as it can per export: the spans are counted by finding each
// span's `"spanId":` key in the bytes (the parent's is `"parentSpanId":`, which does not match),
// not by parsing; the first export alone is also parsed, to check that count against the JSON.
//
//   node --import tsx bench/otlp-sink.ts --listen 127.0.0.1:PORT

/** Larger exports are refused (413) unread: Keyward's batches of 512 spans are well below this. */
const MAX_BODY_BYTES = 32 * 2 ** 20;
const SPAN_KEY = Buffer.from('"spanId":');

const totals = { exports: 0, spans: 0, bytes: 0, refused: 0, checked: undefined as boolean | undefined };

/** How many spans an OTLP JSON export holds, by its spans' id keys. */
function countSpans(body: Buffer): number {
  let count = 0;
  for (let at = body.indexOf(SPAN_KEY); at !== -1; at = body.indexOf(SPAN_KEY, at + SPAN_KEY.length)) count++;
  return count;
}

/** The same count from the parsed export: resourceSpans[].scopeSpans[].spans[]. */
function parsedSpans(body: Buffer): number {
  const parsed = JSON.parse(body.toString("utf8")) as {
    resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[];
  };
  let count = 0;
  for (const resource of parsed.resourceSpans ?? [])
    for (const scope of resource.scopeSpans ?? []) count += scope.spans?.length ?? 0;
  return count;
}

function handle(request: http.IncomingMessage, response: http.ServerResponse): void {
  if (request.method === "GET" && request.url === "/count") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify(totals));
    return;
  }
  if (request.method !== "POST" || request.url !== "/v1/traces") {
    request.resume();
    response.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  request.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  request.on("end", () => {
    if (size > MAX_BODY_BYTES) {
      totals.refused++;
      response.writeHead(413).end();
      return;
    }
    const body = Buffer.concat(chunks, size);
    const spans = countSpans(body);
    if (totals.checked === undefined) totals.checked = parsedSpans(body) === spans;
    totals.exports++;
    totals.spans += spans;
    totals.bytes += size;
    response.writeHead(200, { "content-type": "application/json" });
    response.end("{}");
  });
}

const { values } = parseArgs({ options: { listen: { type: "string" } } });
if (values.listen === undefined) {
  process.stderr.write("usage: otlp-sink.ts --listen host:port\n");
  process.exit(2);
}
const at = values.listen.lastIndexOf(":");
const server = http.createServer(handle);
server.listen(Number(values.listen.slice(at + 1)), values.listen.slice(0, at), () => {
  process.stdout.write(`${JSON.stringify({ msg: "otlp sink serving", listen: values.listen })}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
