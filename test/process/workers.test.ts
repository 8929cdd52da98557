import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { grpcClients } from "../support/clients.js";
import { servingField } from "../support/log-lines.js";
import { connectionsHeld, servingPort, spawnServer, waitForServing } from "../support/spawn-server.js";

// KEYWARD_WORKERS=2: two server processes share the port (node:cluster), and a change made
// through either one is applied to every worker's cache before the call returns.

const run = promisify(execFile);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-workers-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Clients on a TCP connection each: node:cluster hands new connections to the workers in turn, so
 * eight connections reach both workers.
 */
function connections(address: string, count: number) {
  return Array.from({ length: count }, () => grpcClients(address));
}

describe("KEYWARD_WORKERS=2", () => {
  // Three processes start (a primary and two workers) and run five rounds of calls on eight connections:
  // seconds on an idle machine, far longer when the rest of the suite shares its two cores.
  const SLOW = { timeout: 180_000 };

  it(
    "never answers 'allowed' from another worker's cache after a revoke, suspension or update returned",
    SLOW,
    async () => {
      const database = `sqlite:${join(dir, "keyward.db")}`;
      const server = spawnServer({
        KEYWARD_WORKERS: "2",
        KEYWARD_LISTEN: "127.0.0.1:0",
        KEYWARD_HTTP_LISTEN: "off",
        KEYWARD_DATABASE: database,
      });
      try {
        const port = await servingPort(server);
        // Both workers started (each logs that it serves, with its pid) on the same port.
        const workers = await waitForServing(server, 2);
        expect(new Set(workers).size).toBe(2);
        expect(servingField(server.output(), "grpc")).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`]);
        const address = `127.0.0.1:${port}`;
        const { stdout } = await run(process.execPath, ["bin/keyward.js", "bootstrap"], {
          env: { ...process.env, KEYWARD_DATABASE: database },
        });
        const admin = stdout.trim().split("\n").at(-1) as string;
        const { keys, close } = grpcClients(address, admin);
        const clients = connections(address, 8);
        const everyone = async (apiKey: string, requiredScopes: string[] = []) =>
          Promise.all(clients.map((client) => client.authorize.authorize({ apiKey, requiredScopes })));

        // Each of the eight connections is answered, and held by one of the workers (its socket is among
        // that process's file descriptors); each worker holds some: the checks below reach both caches.
        expect(await everyone("")).toHaveLength(8);
        const held = connectionsHeld(workers, port);
        expect([...held.values()].reduce((sum, n) => sum + n, 0)).toBe(8);
        for (const pid of workers) {
          expect(held.get(pid), `connections answered by worker ${pid}`).toBeGreaterThan(0);
        }

        for (let round = 0; round < 5; round++) {
          const issued = await keys.issueKey({
            name: `round ${round}`,
            scopes: ["models:read", "models:write"],
          });
          const keyId = issued.key?.keyId ?? "";
          // Warm every connection's worker cache.
          for (const decision of await everyone(issued.secret, ["models:write"]))
            expect(decision.allowed).toBe(true);

          await keys.updateKey({
            key: { keyId, scopes: ["models:read"] },
            updateMask: { paths: ["scopes"] },
          });
          for (const decision of await everyone(issued.secret, ["models:write"])) {
            expect(decision.reason).toBe(Reason.INSUFFICIENT_SCOPE);
          }
          await keys.suspendKey({ keyId });
          for (const decision of await everyone(issued.secret))
            expect(decision.reason).toBe(Reason.KEY_SUSPENDED);
          await keys.resumeKey({ keyId });
          for (const decision of await everyone(issued.secret)) expect(decision.allowed).toBe(true);
          await keys.revokeKey({ keyId });
          for (const decision of await everyone(issued.secret))
            expect(decision.reason).toBe(Reason.KEY_REVOKED);
        }
        expect(server.output()).not.toContain("did not confirm");

        close();
        for (const client of clients) client.close();
        server.child.kill("SIGTERM");
        expect(await server.exited).toBe(0);
        expect(server.output()).toContain('"msg":"keyward stopped"');
      } finally {
        if (server.child.exitCode === null) server.child.kill("SIGKILL");
      }
    },
  );
});
