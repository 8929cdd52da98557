import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { useServer } from "../support/use-server.js";

// Operators debug an ext_authz setup with grpcurl or buf curl: the Envoy service must be listed by
// reflection, and its descriptors must link (buf curl refuses unresolved dependencies).

const run = promisify(execFile);

const server = useServer();

describe("reflection", () => {
  it("lists envoy.service.auth.v3.Authorization/Check with buf curl", async () => {
    const { stdout } = await run(
      "node_modules/.bin/buf",
      [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--list-methods",
        `http://${server.grpcAddress}`,
      ],
      { timeout: 20_000 },
    );
    expect(stdout.trim().split("\n")).toContain("envoy.service.auth.v3.Authorization/Check");
  });

  it("calls Check through buf curl, from the reflected schema and JSON", async () => {
    const body = JSON.stringify({
      attributes: {
        request: { http: { method: "GET", path: "/healthz", headers: { ":path": "/healthz" } } },
        contextExtensions: { "keyward.public": "true" },
      },
    });
    const { stdout } = await run(
      "node_modules/.bin/buf",
      [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "-d",
        body,
        `http://${server.grpcAddress}/envoy.service.auth.v3.Authorization/Check`,
      ],
      { timeout: 20_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ status: {}, okResponse: {} });
  });
});
