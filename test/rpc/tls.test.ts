import { execFile } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet, type RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { type Issued, type TestCa, testCa } from "../support/certificates.js";
import { rawGrpcClient } from "../support/clients.js";
import { servingPort, spawnServer } from "../support/spawn-server.js";
import { useServer } from "../support/use-server.js";

// KEYWARD_TLS_CERT / KEYWARD_TLS_KEY serve TLS on both listeners, KEYWARD_TLS_CLIENT_CA requires client
// certificates on both, and replaced files are picked up without a restart; with real clients and
// certificates made by openssl for this run.

let dir: string;
let ca: TestCa;
let stranger: Issued; // a client certificate from a CA the server does not trust
let client: Issued;
const live = { cert: "", key: "" }; // the paths the server is given; the tests replace their contents

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-tls-"));
  ca = testCa(dir, "ca");
  client = ca.client("client");
  stranger = testCa(dir, "other-ca").client("stranger");
  live.cert = join(dir, "live.crt");
  live.key = join(dir, "live.key");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Puts a certificate and key in place of the live files, each in one step (a rename), as a Secret update does. */
function install(issued: { cert: Buffer | string; key: Buffer | string }) {
  for (const [path, content] of [
    [live.cert, issued.cert],
    [live.key, issued.key],
  ] as const) {
    writeFileSync(`${path}.next`, content);
    renameSync(`${path}.next`, path);
  }
}

/** Polls until the condition holds; the files are polled every 50 ms, so seconds are plenty even on a busy machine. */
function until(what: string, condition: () => boolean | Promise<boolean>) {
  return expect
    .poll(condition, { message: `waiting until ${what}`, timeout: 10_000, interval: 50 })
    .toBe(true);
}

/** grpc.health.v1.Health/Check over a new grpc-js channel: the serving status, or the failure's code. */
async function grpcHealth(port: number, credentials: grpc.ChannelCredentials): Promise<string> {
  const raw = rawGrpcClient(`127.0.0.1:${port}`, credentials);
  try {
    const result = await raw.call(
      "/grpc.health.v1.Health/Check",
      HealthCheckRequestSchema,
      HealthCheckResponseSchema,
      {},
    );
    return result.ok ? HealthCheckResponse_ServingStatus[result.response.status] : grpc.status[result.code];
  } finally {
    raw.close();
  }
}

/** The same over the Connect protocol (HTTP/1.1) to the HTTP listener. */
async function connectHealth(url: string, nodeOptions: RequestOptions = {}): Promise<string> {
  const health = createClient(
    Health,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", nodeOptions }),
  );
  try {
    return HealthCheckResponse_ServingStatus[(await health.check({})).status];
  } catch (error) {
    return `failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The serial of the certificate a new TLS connection to the port is shown. */
function peerSerial(port: number, identity: { cert?: Buffer; key?: Buffer } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      {
        host: "127.0.0.1",
        servername: "localhost",
        port,
        ca: ca.cert,
        ALPNProtocols: ["h2", "http/1.1"],
        ...identity,
      },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      },
    );
    socket.on("error", reject);
  });
}

const run = promisify(execFile);
const trusting = () => grpc.credentials.createSsl(ca.cert);

describe("TLS (KEYWARD_TLS_CERT, KEYWARD_TLS_KEY)", () => {
  let first: Issued;
  const server = useServer({
    env: () => {
      first = ca.server("server-1");
      install(first);
      return { KEYWARD_TLS_CERT: live.cert, KEYWARD_TLS_KEY: live.key, KEYWARD_TLS_RELOAD: "50ms" };
    },
  });
  const httpsUrl = () => `https://127.0.0.1:${server.keyward.httpPort}`;

  it("serves gRPC to a grpc-js client that trusts the CA, and nothing in plaintext", async () => {
    expect(await grpcHealth(server.keyward.grpcPort, trusting())).toBe("SERVING");
    expect(await grpcHealth(server.keyward.grpcPort, grpc.credentials.createInsecure())).toBe("UNAVAILABLE");
    // A client that does not trust the issuer refuses the server.
    expect(await grpcHealth(server.keyward.grpcPort, grpc.credentials.createSsl(stranger.cert))).toBe(
      "UNAVAILABLE",
    );
  });

  it("serves the Connect protocol and /healthz over HTTPS, and nothing over plain HTTP", async () => {
    expect(await connectHealth(httpsUrl(), { ca: ca.cert })).toBe("SERVING");
    expect(await connectHealth(`http://127.0.0.1:${server.keyward.httpPort}`)).toMatch(/^failed/);
    const healthz = await new Promise<number | undefined>((resolve, reject) =>
      httpsGet(`${httpsUrl()}/healthz`, { ca: ca.cert }, (response) => {
        response.resume();
        resolve(response.statusCode);
      }).on("error", reject),
    );
    expect(healthz).toBe(200);
    const plain = await new Promise<string>((resolve) =>
      httpGet(`http://127.0.0.1:${server.keyward.httpPort}/healthz`, (response) => {
        response.resume();
        resolve(`answered ${response.statusCode}`);
      }).on("error", (error) => resolve(`refused: ${error.message}`)),
    );
    expect(plain).toMatch(/^refused/);
  });

  it("moves new connections to a replaced certificate, and keeps the last good one over a broken file", async () => {
    const ports = [server.keyward.grpcPort, server.keyward.httpPort as number];
    for (const port of ports) expect(await peerSerial(port)).toBe(first.serial);

    const second = ca.server("server-2");
    install(second);
    await until("both listeners show the new certificate", async () => {
      const serials = await Promise.all(ports.map((port) => peerSerial(port)));
      return serials.every((serial) => serial === second.serial);
    });
    expect(server.logs.some((line) => line.includes("tls certificate reloaded"))).toBe(true);
    expect(await grpcHealth(server.keyward.grpcPort, trusting())).toBe("SERVING");
    expect(await connectHealth(httpsUrl(), { ca: ca.cert })).toBe("SERVING");

    install({
      cert: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
      key: second.key,
    });
    const refusal = () =>
      server.logs.find(
        (line) => line.includes("tls certificate refused") && line.includes('"variable":"KEYWARD_TLS_CERT"'),
      );
    await until("the broken certificate is refused", () => refusal() !== undefined);
    expect(refusal()).toContain("the last good one stays in force");
    for (const port of ports) expect(await peerSerial(port)).toBe(second.serial);
    expect(await grpcHealth(server.keyward.grpcPort, trusting())).toBe("SERVING");
    expect(await connectHealth(httpsUrl(), { ca: ca.cert })).toBe("SERVING");
    // Refused once, not at every poll.
    await sleep(200);
    expect(server.logs.filter((line) => line.includes("tls certificate refused"))).toHaveLength(1);
  });
});

describe("mutual TLS (KEYWARD_TLS_CLIENT_CA)", () => {
  const server = useServer({
    env: () => {
      const issued = ca.server("server-mtls");
      return {
        KEYWARD_TLS_CERT: issued.certPath,
        KEYWARD_TLS_KEY: issued.keyPath,
        KEYWARD_TLS_CLIENT_CA: ca.certPath,
      };
    },
  });
  const httpsUrl = () => `https://127.0.0.1:${server.keyward.httpPort}`;

  it("serves grpc-js clients with a certificate from the client CA, and no others", async () => {
    const port = server.keyward.grpcPort;
    expect(await grpcHealth(port, grpc.credentials.createSsl(ca.cert, client.key, client.cert))).toBe(
      "SERVING",
    );
    expect(await grpcHealth(port, trusting())).toBe("UNAVAILABLE");
    expect(await grpcHealth(port, grpc.credentials.createSsl(ca.cert, stranger.key, stranger.cert))).toBe(
      "UNAVAILABLE",
    );
  });

  it("serves Connect clients with a certificate from the client CA, and no others", async () => {
    expect(await connectHealth(httpsUrl(), { ca: ca.cert, cert: client.cert, key: client.key })).toBe(
      "SERVING",
    );
    expect(await connectHealth(httpsUrl(), { ca: ca.cert })).toMatch(/^failed/);
    expect(await connectHealth(httpsUrl(), { ca: ca.cert, cert: stranger.cert, key: stranger.key })).toMatch(
      /^failed/,
    );
  });
});

describe("the keyward command against a server that requires client certificates", () => {
  const server = useServer({
    env: () => {
      const issued = ca.server("server-cli");
      return {
        KEYWARD_TLS_CERT: issued.certPath,
        KEYWARD_TLS_KEY: issued.keyPath,
        KEYWARD_TLS_CLIENT_CA: ca.certPath,
        KEYWARD_HTTP_LISTEN: "off",
      };
    },
  });

  it("connects with KEYWARD_SERVER_CA, KEYWARD_CLIENT_CERT and KEYWARD_CLIENT_KEY, and fails in one line without", async () => {
    const env = {
      ...process.env,
      KEYWARD_SERVER: `127.0.0.1:${server.keyward.grpcPort}`,
      KEYWARD_ADMIN_KEY: server.admin,
      KEYWARD_SERVER_CA: ca.certPath,
    };
    const keyward = (extra: Record<string, string>) =>
      run(process.execPath, ["bin/keyward.js", "keys", "issue", "--name", "over mTLS", "--json"], {
        env: { ...env, ...extra },
        timeout: 120_000,
      });
    const issued = await keyward({
      KEYWARD_CLIENT_CERT: client.certPath,
      KEYWARD_CLIENT_KEY: client.keyPath,
    });
    expect(JSON.parse(issued.stdout)).toMatchObject({ key: { name: "over mTLS" } });
    const refused = await keyward({}).then(
      () => "succeeded",
      (error: { code: number; stderr: string }) => `${error.code} ${error.stderr.trim()}`,
    );
    expect(refused).toMatch(/^1 keyward: \w+: .*certificate required/);
    expect(refused.split("\n")).toHaveLength(1);
  });
});

describe("TLS configuration at start-up", () => {
  it("exits 2 naming the variable when a file is missing or the key belongs to another certificate", async () => {
    const database = `sqlite:${join(dir, "start.db")}`;
    const one = ca.server("start-1");
    const other = ca.server("start-2");
    for (const [env, name] of [
      [{ KEYWARD_TLS_CERT: join(dir, "missing.crt"), KEYWARD_TLS_KEY: one.keyPath }, "KEYWARD_TLS_CERT"],
      [{ KEYWARD_TLS_CERT: one.certPath, KEYWARD_TLS_KEY: other.keyPath }, "KEYWARD_TLS_KEY"],
    ] as const) {
      const process = spawnServer({ KEYWARD_DATABASE: database, ...env });
      expect(await process.exited).toBe(2);
      const lines = process.output().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^keyward: ${name}=`));
    }
    // And a good pair starts.
    const good = spawnServer({
      KEYWARD_DATABASE: database,
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "off",
      KEYWARD_TLS_CERT: one.certPath,
      KEYWARD_TLS_KEY: one.keyPath,
    });
    const port = await servingPort(good);
    expect(await grpcHealth(port, trusting())).toBe("SERVING");
    good.child.kill("SIGTERM");
    expect(await good.exited).toBe(0);
  });
});
