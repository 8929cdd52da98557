import { readFileSync } from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";

// Scenario 9's ceiling: a bare node:http server (Keyward's forward-auth endpoint is a plain
// node:http handler too) that answers every request 200 with a constant head and no body: the
// headers of Keyward's real allowed answer, captured by bench/forward-auth-scenario.ts, so that both
// servers write answers of the same size. node:http adds date, connection and keep-alive itself.
//
//   node --import tsx bench/http-echo-server.ts --listen 127.0.0.1:PORT --headers headers.json
//
// headers.json holds the header pairs in Keyward's order: [["x-keyward-key-id", "key_…"], …]

const { values } = parseArgs({ options: { listen: { type: "string" }, headers: { type: "string" } } });
if (values.listen === undefined || values.headers === undefined) {
  process.stderr.write("usage: http-echo-server.ts --listen host:port --headers headers.json\n");
  process.exit(2);
}
const headers = JSON.parse(readFileSync(values.headers, "utf8")) as [string, string][];
// An object, as Keyward passes to writeHead: node:http writes it the same way.
const head = Object.fromEntries(headers);
const server = http.createServer((request, response) => {
  request.resume();
  response.writeHead(200, head);
  response.end();
});
const [host, port] = [values.listen.slice(0, values.listen.lastIndexOf(":")), values.listen.split(":").pop()];
server.listen(Number(port), host, () => {
  process.stdout.write(`${JSON.stringify({ msg: "http echo serving", listen: values.listen })}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
