import { createServer, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { wantedHeaders } from "../../src/transport/wanted-headers.js";

// The forward-auth handler reads its few headers from rawHeaders: it must see exactly what
// node:http's own request.headers holds for them, duplicates, case and all.

const WANTED = [
  "x-api-key",
  "authorization",
  "cookie",
  "x-forwarded-for",
  "x-forwarded-uri",
  "content-length",
];

/** Sends a raw head to a real node:http server; resolves with its request.headers and what wantedHeaders read. */
async function both(lines: string[]): Promise<{ node: IncomingHttpHeaders; ours: IncomingHttpHeaders }> {
  const read = wantedHeaders(WANTED);
  let seen: { node: IncomingHttpHeaders; ours: IncomingHttpHeaders } | undefined;
  const server = createServer((request, response) => {
    const ours = read(request.rawHeaders);
    const node = Object.fromEntries(
      WANTED.filter((n) => n in request.headers).map((n) => [n, request.headers[n]]),
    );
    seen = { node, ours };
    request.resume();
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(`GET / HTTP/1.1\r\nhost: x\r\n${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`);
    });
    socket.on("data", () => undefined);
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (seen === undefined) throw new Error("no request reached the server");
  return seen;
}

describe("wantedHeaders", () => {
  it("reads what request.headers holds for the wanted names: case, duplicates, cookies", async () => {
    const { node, ours } = await both([
      "X-Api-Key: first",
      "x-api-key: second",
      "Authorization: Bearer one",
      "AUTHORIZATION: Bearer two",
      "Cookie: a=1",
      "cookie: b=2",
      "X-Forwarded-For: 10.0.0.1",
      "x-forwarded-for: 10.0.0.2",
      "X-Forwarded-Url: /same-length-not-wanted",
      "X-Forwarded-Uri: /v1/orders",
      "x-other: 1",
    ]);
    expect(ours).toEqual(node);
    expect(ours).toEqual({
      "x-api-key": "first, second",
      authorization: "Bearer one",
      cookie: "a=1; b=2",
      "x-forwarded-for": "10.0.0.1, 10.0.0.2",
      "x-forwarded-uri": "/v1/orders",
    });
  });

  it("leaves out a wanted header that is absent, and keeps the first content-length of equal ones", async () => {
    const { node, ours } = await both(["content-length: 0", "x-forwarded-method: GET"]);
    expect(ours).toEqual(node);
    expect(ours).toEqual({ "content-length": "0" });
  });
});
