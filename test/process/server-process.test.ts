import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { grpcClients } from "../support/clients.js";
import { loggedLines } from "../support/log-lines.js";
import { servingPort, spawnServer } from "../support/spawn-server.js";

// The real process, started as `npm start` starts it: configuration errors, graceful
// SIGTERM, and secrets that never reach the database file or the logs.

const run = promisify(execFile);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-process-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("keyward server process", () => {
  it("refuses an invalid variable with one line naming it, and exit code 2", async () => {
    const tiers = join(dir, "tiers.yaml");
    writeFileSync(tiers, "tiers:\n  free: { limit: 0, window: 1m }\n");
    for (const [name, value] of [
      ["KEYWARD_LISTEN", "not-an-address"],
      ["KEYWARD_CACHE_TTL", "forever"],
      ["KEYWARD_DATABASE", "mysql://nope"],
      ["KEYWARD_TIERS", tiers],
    ] as const) {
      const server = spawnServer({ KEYWARD_DATABASE: `sqlite:${join(dir, "k.db")}`, [name]: value });
      expect(await server.exited).toBe(2);
      const lines = server.output().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(name);
    }
  });

  it("serves, drains on SIGTERM, exits 0, and never writes a secret to its database or logs", async () => {
    const database = `sqlite:${join(dir, "keyward.db")}`;
    const env = { KEYWARD_LISTEN: "127.0.0.1:0", KEYWARD_HTTP_LISTEN: "off", KEYWARD_DATABASE: database };
    // Every decision logged too (KEYWARD_DECISION_LOG_SAMPLE=1), so that the grep covers those lines.
    const server = spawnServer({ ...env, KEYWARD_LOG_LEVEL: "debug", KEYWARD_DECISION_LOG_SAMPLE: "1" });
    const port = await servingPort(server);

    const bootstrapped = await run(process.execPath, ["bin/keyward.js", "bootstrap"], {
      env: { ...process.env, KEYWARD_DATABASE: database },
    });
    const admin = bootstrapped.stdout.trim().split("\n").at(-1) as string;
    const { keys, authorize } = grpcClients(`127.0.0.1:${port}`, admin);
    const secrets = [admin];
    for (let i = 0; i < 5; i++) {
      const issued = await keys.issueKey({
        name: `key ${i}`,
        scopes: ["models:read"],
        metadata: { n: `${i}` },
      });
      secrets.push(issued.secret);
      expect((await authorize.authorize({ apiKey: issued.secret })).allowed).toBe(true);
      await authorize.authorize({ apiKey: `${issued.secret}x` }); // a denial, logged or not
    }
    await keys.revokeKey({ keyId: "key_unknown" }).catch(() => undefined);

    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const output = server.output();
    expect(output).toContain('"msg":"draining"');
    expect(output).toContain('"msg":"keyward stopped"');
    // The lines the grep covers: 10 decisions and 5 management actions, each naming its key by id.
    expect(loggedLines(output, "decision")).toHaveLength(10);
    expect(loggedLines(output, "key issued")).toHaveLength(5);

    const files = readdirSync(dir).map((name) => readFileSync(join(dir, name)).toString("latin1"));
    expect(files.join("").length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(output).not.toContain(secret);
      for (const file of files) expect(file).not.toContain(secret);
      // Not even the random part alone.
      expect(output).not.toContain(secret.slice(8, 40));
      for (const file of files) expect(file).not.toContain(secret.slice(8, 40));
    }
  });
});
