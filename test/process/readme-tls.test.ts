import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCa } from "../support/certificates.js";
import { freePort } from "../support/free-port.js";
import { loggedLines } from "../support/log-lines.js";
import { readmeBlock } from "../support/readme-blocks.js";
import {
  killGroup,
  type ServerProcess,
  spawnScript,
  stopGroup,
  waitForServing,
} from "../support/spawn-server.js";
import { bootstrap } from "../support/start-server.js";

// The README's TLS block (between `<!-- tls:start -->` and `<!-- tls:end -->`) as an operator runs it:
// its first command in one terminal (`npm start` with the certificate variables), the rest in another.
// The test makes the files it names with openssl (test/support/certificates.ts) in a folder of its
// own, and points the block at them and at free ports: /etc/keyward/tls/ becomes that folder, the
// relative ca.crt, client.crt and client.key its files, localhost:50051 and :8080 the server's ports.
// grpcurl is the stand-in (test/support/grpcurl), which speaks TLS through buf curl.

const run = promisify(execFile);
const [serverPart = "", clientPart = ""] = readmeBlock("tls").split("\n\n");

let dir: string;
let ports: { grpc: number; http: number };
let database: string;
let server: ServerProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-readme-tls-"));
  // ca.crt signs the server's tls.crt (for localhost); clients-ca.crt signs client.crt.
  const serverCa = testCa(dir, "ca");
  serverCa.server("tls");
  testCa(dir, "clients-ca").client("client");
  ports = { grpc: await freePort(), http: await freePort() };
  database = `sqlite:${join(dir, "keyward.db")}`;
  server = spawnScript(
    serverPart.replaceAll("/etc/keyward/tls/", `${dir}/`),
    {
      KEYWARD_LISTEN: `127.0.0.1:${ports.grpc}`,
      KEYWARD_HTTP_LISTEN: `127.0.0.1:${ports.http}`,
      KEYWARD_DATABASE: database,
      KEYWARD_WORKERS: "1",
    },
    { processGroup: true }, // stopped as from its terminal: npm and the server alike
  );
  await waitForServing(server, 1, 60_000);
}, 90_000);

afterAll(async () => {
  if (server !== undefined) {
    await stopGroup(server);
    await killGroup(server);
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The client commands as written, pointed at the test's files and ports, from the checkout (npx). */
function clientScript(): string {
  return clientPart
    .replace(/(?<=[ =])(ca\.crt|client\.crt|client\.key)\b/g, `${dir}/$1`)
    .replaceAll("localhost:50051", `localhost:${ports.grpc}`)
    .replaceAll("localhost:8080", `localhost:${ports.http}`);
}

describe("README: TLS with client certificates", () => {
  it("starts with the certificate files and says TLS requires client certificates", () => {
    const [serving] = loggedLines(server.output(), "keyward serving");
    expect(serving).toMatchObject({ tls: "client certificates required" });
  });

  it("answers grpcurl, curl and the keyward command that present a client certificate", async () => {
    const admin = await bootstrap({ database });
    const { stdout } = await run("bash", ["-euo", "pipefail", "-c", clientScript()], {
      env: {
        ...process.env,
        PATH: [resolve("test/support"), resolve("node_modules/.bin"), process.env.PATH].join(":"),
        KEYWARD_ADMIN_KEY: admin,
        // The keyward command's default server is localhost:50051; it reads KEYWARD_SERVER otherwise.
        KEYWARD_SERVER: `localhost:${ports.grpc}`,
      },
      timeout: 60_000,
    });
    expect(stdout).toContain('"status": "SERVING"'); // grpcurl's health check
    expect(stdout).toMatch(/^SERVING$/m); // curl's /healthz
    expect(stdout).toContain("test admin"); // keys list: the bootstrap key
    expect(stdout).not.toContain(admin);
  });

  it("refuses the same commands without a client certificate, during the handshake", async () => {
    const withoutCertificate = `curl --silent --show-error --cacert ${dir}/ca.crt https://localhost:${ports.http}/healthz`;
    // curl's exit 56 (receive failure: the server's alert) or 35 (handshake), and why, on stderr.
    await expect(run("bash", ["-c", withoutCertificate], { timeout: 30_000 })).rejects.toMatchObject({
      code: expect.toSatisfy((code: number) => code === 35 || code === 56),
      stderr: expect.stringMatching(/alert|certificate|handshake/i),
    });
  });
});
