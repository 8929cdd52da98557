import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { KeyService } from "../../src/gen/keyward/v1/key_service_pb.js";
import { type GrpcClients, grpcClients } from "../support/clients.js";
import { freePort } from "../support/free-port.js";
import { loggedLines } from "../support/log-lines.js";
import {
  createTestSchema,
  postgresReachableOnce,
  TEST_POSTGRES_URL,
  type TestSchema,
} from "../support/postgres-server.js";
import { killGroup, spawnScript, stopGroup, waitForServing } from "../support/spawn-server.js";
import { bootstrap, startTestServer, type TestServer } from "../support/start-server.js";
import { type ServerFixture, useServer } from "../support/use-server.js";

// Runs the shell examples of docs/ as written (issue 15), as the README's walkthrough is run
// (test/process/readme-walkthrough.test.ts): the bash blocks marked `<!-- run -->` of one file,
// concatenated in order, in `bash -euo pipefail` with test/support/grpcurl (a stand-in translating to
// buf curl) first on PATH, against this test's server. A block marked `<!-- run instead of the
// previous block -->` is an alternative to the marked block before it, run in a scenario of its own
// with it in that block's place; one marked `<!-- run from the server's directory -->` runs after
// the scenario, from a directory whose data/ is the one holding the server's SQLite database (the
// default KEYWARD_DATABASE, sqlite:./data/keyward.db, names it from the server's directory); one
// marked `<!-- run until its first message -->` is a stream that ends only when the server drains,
// stopped once it has printed its first message; one marked `<!-- run until it serves -->` starts a
// server, with the listeners the block does not name on free ports and its metrics port moved to a free
// one, and is stopped with SIGTERM once it serves and has been checked; those marked `<!-- run against
// the test's PostgreSQL -->` (the runbook's PostgreSQL backup and restore) run in a test of their own,
// on a schema of the test's PostgreSQL: the first sets the variables the others use, and runs as
// written before each of them, followed by the test's values of the variables. Every other bash block
// must be in UNMARKED with the reason it cannot
// run here, so that a new example cannot silently escape.

const run = promisify(execFile);

const RUN = "<!-- run -->";
const INSTEAD = "<!-- run instead of the previous block -->";
const SERVER_DIRECTORY = "<!-- run from the server's directory -->";
const FIRST_MESSAGE = "<!-- run until its first message -->";
const UNTIL_SERVING = "<!-- run until it serves -->";
const POSTGRES = "<!-- run against the test's PostgreSQL -->";

interface Block {
  readonly mark:
    | "run"
    | "instead"
    | "server-directory"
    | "first-message"
    | "until-serving"
    | "postgres"
    | undefined;
  readonly text: string;
}

/** Every shell (```bash, ```sh, ```shell) block of a docs file, with the marker on the line before its fence. */
function bashBlocks(path: string): Block[] {
  const markdown = readFileSync(path, "utf8");
  return [...markdown.matchAll(/^(?:(.*)\n)?```(?:bash|sh|shell)\n([\s\S]*?)^```$/gm)].map((match) => {
    const before = match[1]?.trim();
    const marks = {
      [RUN]: "run",
      [INSTEAD]: "instead",
      [SERVER_DIRECTORY]: "server-directory",
      [FIRST_MESSAGE]: "first-message",
      [UNTIL_SERVING]: "until-serving",
      [POSTGRES]: "postgres",
    } as const;
    return {
      mark: before === undefined ? undefined : marks[before as keyof typeof marks],
      text: match[2] as string,
    };
  });
}

/** The first line of a block, which names it in UNMARKED. */
const firstLine = (block: Block) => block.text.split("\n")[0] as string;

/** The bash blocks that stay unmarked, by file and first line, each with the reason. */
const UNMARKED: Record<string, Record<string, string>> = {
  "docs/rpc-reference.md": {},
  "docs/runbook.md": {},
  "docs/configuration.md": {
    "KEYWARD_DATABASE='postgres://keyward@db.internal:5432/keyward?sslmode=require' \\":
      "starts a replica against a remote PostgreSQL and Redis (db.internal, redis.internal)",
  },
};

/** The marked blocks in order; with `instead`, the alternative block in place of the one before it. */
function scenario(blocks: readonly Block[], instead?: Block): string {
  const chosen: Block[] = [];
  for (const block of blocks) {
    if (block === instead) chosen[chosen.length - 1] = block;
    else if (block.mark === "run") chosen.push(block);
  }
  return chosen.map((block) => block.text).join("\n");
}

/** What a script needs of the server it runs against: a useServer fixture, or a startTestServer server. */
type ScriptServer = Pick<TestServer, "grpcAddress" | "database">;

/** Environment of the scripts: the grpcurl stand-in first on PATH, the CLI pointed at the server. */
function scriptEnv(server: ScriptServer): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: [resolve("test/support"), resolve("node_modules/.bin"), process.env.PATH].join(":"),
    KEYWARD_DATABASE: server.database,
    KEYWARD_SERVER: server.grpcAddress,
  };
}

/** Runs a script that does not end by itself until its stdout has `until`, then stops it; returns the stdout. */
function runUntil(server: ServerFixture, script: string, until: string): Promise<string> {
  const child = spawn(
    "bash",
    ["-euo", "pipefail", "-c", script.replaceAll("localhost:50051", server.grpcAddress)],
    {
      env: scriptEnv(server),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const stop = () => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
  };
  return new Promise<string>((resolveOutput, reject) => {
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${until} within 30 s: ${stdout}${stderr}`));
    }, 30_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes(until)) {
        clearTimeout(timer);
        stop();
        resolveOutput(stdout);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!stdout.includes(until)) reject(new Error(`exited ${code} before ${until}: ${stdout}${stderr}`));
    });
  });
}

/** Runs a script in bash with the grpcurl stand-in first on PATH, against a test's server. */
async function runScript(
  server: ScriptServer,
  script: string,
  cwd?: string,
  timeout = 150_000,
): Promise<string> {
  const { stdout } = await run(
    "bash",
    ["-euo", "pipefail", "-c", script.replaceAll("localhost:50051", server.grpcAddress)],
    {
      env: scriptEnv(server),
      timeout,
      ...(cwd !== undefined && { cwd }),
    },
  );
  return stdout;
}

const WHOLE_KEY = /kw_live_[0-9A-Za-z]{49}/;
const reasons = (stdout: string) =>
  [...stdout.matchAll(/"reason": "(REASON_[A-Z_]+)"/g)].map((match) => match[1]);

describe("docs examples", () => {
  it.each(Object.keys(UNMARKED))(
    "%s: every bash block is marked to run, or unmarked with a reason",
    (path) => {
      const unmarked = bashBlocks(path)
        .filter((block) => block.mark === undefined)
        .map(firstLine);
      expect(unmarked).toEqual(Object.keys(UNMARKED[path] ?? {}));
    },
  );

  it("no other docs file has a shell block", () => {
    const others = readdirSync("docs")
      .filter((name) => name.endsWith(".md"))
      .map((name) => `docs/${name}`)
      .filter((path) => !(path in UNMARKED));
    expect(others).toContain("docs/metrics.md");
    for (const path of others) expect(bashBlocks(path), path).toEqual([]);
  });
});

describe("docs/rpc-reference.md", () => {
  const server = useServer();

  it("runs every marked example in order, as one scenario", { timeout: 150_000 }, async () => {
    const blocks = bashBlocks("docs/rpc-reference.md");
    expect(blocks.filter((block) => block.mark === "run")).toHaveLength(21);
    const stdout = await runScript(server, scenario(blocks));
    // Authorize allowed the key; after UpdateKey, SuspendKey, ResumeKey, RotateKey and RevokeKey
    // (audit: the revocation), Envoy's Check denies it as revoked.
    expect(reasons(stdout)).toEqual(["REASON_ALLOWED"]);
    expect(stdout).toContain('"message": "API key has been revoked"'); // Check's denial
    expect(stdout).toContain('\\"code\\":\\"key_revoked\\"'); // in the JSON body it sets
    expect(stdout).toContain('"keyId": ');
    expect(stdout).toContain('"status": "KEY_STATUS_SUSPENDED"');
    expect(stdout).toContain('"rotatedToKeyId": "key_');
    expect(stdout).toContain('"status": "KEY_STATUS_REVOKED"');
    expect(stdout).toContain('"action": "key.revoked"');
    expect(stdout).toContain('"workspaceId": "acme"');
    expect(stdout).toContain('"maxKeys": 500');
    expect(stdout).toContain('"status": "WORKSPACE_STATUS_SUSPENDED"');
    expect(stdout).toContain('"status": "SERVING"');
    expect(stdout).toContain("keyward.v1.KeyService");
    // describe, through reflection (the stand-in's grpcurl-describe.ts): the service and its methods.
    expect(stdout).toContain("keyward.v1.KeyService is a service:\nservice KeyService {\n");
    for (const method of KeyService.methods)
      expect(stdout).toContain(
        `  rpc ${method.name} ( .${method.input.typeName} ) returns ( .${method.output.typeName} );\n`,
      );
    // The secrets IssueKey and RotateKey print, each once; the set-up's is never printed.
    const secrets = stdout.match(new RegExp(WHOLE_KEY, "g")) ?? [];
    expect(secrets).toHaveLength(2);
    for (const secret of secrets) expect(stdout.split(secret)).toHaveLength(2);
  });

  it("runs the health Watch until its first message: SERVING", async () => {
    const watch = bashBlocks("docs/rpc-reference.md").filter((block) => block.mark === "first-message");
    expect(watch).toHaveLength(1);
    const stdout = await runUntil(server, (watch[0] as Block).text, "}");
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });
});

describe("docs/runbook.md", () => {
  const server = useServer({ each: true });
  const blocks = bashBlocks("docs/runbook.md");
  const rotation = blocks.find((block) => block.mark === "run" && block.text.includes("keys rotate"));

  /** Runs a runbook scenario; the rotation writes rotated.txt into the checkout and deletes it. */
  async function runRunbook(script: string): Promise<string> {
    try {
      return await runScript(server, script);
    } finally {
      rmSync("rotated.txt", { force: true });
    }
  }

  it("rotates a leaked key with the CLI, revokes it again (a no-op) and verifies it is denied", {
    timeout: 150_000,
  }, async () => {
    const stdout = await runRunbook(scenario(blocks));
    // The new secret went to rotated.txt, deleted; no whole key is printed.
    expect(stdout).not.toMatch(WHOLE_KEY);
    expect(stdout).toMatch(/^status: +REVOKED$/m);
    expect(stdout).toMatch(/^rotated_to_key_id: +key_/m);
    expect(stdout).toContain('"status": "KEY_STATUS_REVOKED"'); // RevokeKey by grpcurl: unchanged
    expect(reasons(stdout)).toEqual(["REASON_KEY_REVOKED"]);
    expect(stdout).toContain('"httpStatus": 401');
  });

  it("backs up the SQLite database while the server serves: the copy passes the integrity check", {
    timeout: 150_000,
  }, async () => {
    await runRunbook(scenario(blocks));
    const database = server.database.replace(/^sqlite:/, "");
    const serverDirectory = mkdtempSync(join(tmpdir(), "keyward-runbook-"));
    try {
      symlinkSync(dirname(database), join(serverDirectory, "data"));
      const backup = blocks.filter((block) => block.mark === "server-directory");
      expect(backup).toHaveLength(1);
      const stdout = await runScript(server, backup.map((block) => block.text).join("\n"), serverDirectory);
      expect(stdout).toBe("ok\n");
      const copy = readdirSync(dirname(database)).find((name) => /^keyward-\d{8}T\d{6}Z\.db$/.test(name));
      expect(copy).toBeDefined();
      // The copy has the revocation made just before it, whether or not a checkpoint has moved it
      // out of the WAL yet.
      const revoked = await run("sqlite3", [
        join(dirname(database), copy as string),
        "SELECT name FROM api_keys WHERE revoke_time IS NOT NULL",
      ]);
      expect(revoked.stdout).toBe("practice key\n");
    } finally {
      rmSync(serverDirectory, { recursive: true, force: true });
    }
  });

  it.each(
    blocks.filter((block) => block.mark === "instead").map((block) => [firstLine(block), block] as const),
  )("runs the alternative %s in place of the block before it", { timeout: 150_000 }, async (_name, block) => {
    const stdout = await runRunbook(scenario(blocks, block));
    expect(stdout).toMatch(/"rotatedFromKeyId": "key_/);
    const secrets = stdout.match(new RegExp(WHOLE_KEY, "g")) ?? [];
    expect(secrets).toHaveLength(1); // the new key's, in the RotateKey response only
    expect(stdout.split(secrets[0] as string)).toHaveLength(2);
    expect(reasons(stdout)).toEqual(["REASON_KEY_REVOKED"]);
  });

  it("revokes a key without rotating it: the audit trail has the revocation", {
    timeout: 150_000,
  }, async () => {
    expect(rotation).toBeDefined();
    const stdout = await runRunbook(scenario(blocks.filter((block) => block !== rotation)));
    expect(stdout).not.toMatch(WHOLE_KEY);
    expect(stdout).toMatch(/^revoke_reason: +leaked in CI log$/m);
    expect(stdout).toMatch(/key\.revoked +key_\w+ +key_\w+ +reason: leaked in CI log/);
    expect(reasons(stdout)).toEqual(["REASON_KEY_REVOKED"]);
  });
});

describe("docs/configuration.md", () => {
  it("starts a single process on SQLite with metrics on their own port and 1 % of decisions logged", {
    timeout: 120_000,
  }, async () => {
    const [block, ...others] = bashBlocks("docs/configuration.md").filter(
      (candidate) => candidate.mark === "until-serving",
    );
    expect(others).toEqual([]);
    const text = block?.text ?? "";
    expect(text).toContain("127.0.0.1:9464");
    const metricsPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "keyward-configuration-"));
    // The listeners and database the block leaves to their defaults go to free ports and a temp dir.
    const server = spawnScript(
      text.replaceAll(":9464", `:${metricsPort}`),
      {
        KEYWARD_LISTEN: "127.0.0.1:0",
        KEYWARD_HTTP_LISTEN: "127.0.0.1:0",
        KEYWARD_DATABASE: `sqlite:${join(dir, "keyward.db")}`,
      },
      { processGroup: true },
    );
    try {
      await waitForServing(server, 1, 90_000);
      const [serving, ...more] = loggedLines(server.output(), "keyward serving");
      expect(more).toEqual([]); // KEYWARD_WORKERS=1: one process
      expect(serving).toMatchObject({
        metrics: `127.0.0.1:${metricsPort}`,
        decision_log_sample: 0.01,
        database: `sqlite:${join(dir, "keyward.db")}`,
      });
      const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/^keyward_build_info\{.*\} 1$/m);
      // Metrics are on their own listener only, not on the HTTP listener.
      const httpPort = String(serving?.http).split(":").at(-1);
      expect((await fetch(`http://127.0.0.1:${httpPort}/metrics`)).status).toBe(404);
      await stopGroup(server);
      expect(loggedLines(server.output(), "keyward stopped")).toHaveLength(1);
    } finally {
      await killGroup(server);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const postgres = await postgresReachableOnce();
/** Bounds each RPC of the PostgreSQL backup test. */
const CALL = { timeoutMs: 10_000 };

describe.skipIf(!postgres)("docs/runbook.md: PostgreSQL backup and restore", () => {
  const [values, backup, restore, ...others] = bashBlocks("docs/runbook.md").filter(
    (block) => block.mark === "postgres",
  );
  let schema: TestSchema | undefined;
  let directory: string | undefined;
  let server: TestServer | undefined;
  const clients: GrpcClients[] = [];

  beforeAll(async () => {
    schema = await createTestSchema();
    directory = mkdtempSync(join(tmpdir(), "keyward-runbook-pg-"));
  });

  afterAll(async () => {
    for (const client of clients.splice(0)) client.close();
    await server?.stop();
    await schema?.drop();
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  /** Starts a server on the test's schema; its clients (an admin's, a caller's) are closed by stopServer or afterAll. */
  async function startServer(): Promise<{ admin: GrpcClients; caller: GrpcClients }> {
    server = await startTestServer({ database: (schema as TestSchema).url });
    const admin = grpcClients(server.grpcAddress, await bootstrap(server));
    const caller = grpcClients(server.grpcAddress);
    clients.push(admin, caller);
    return { admin, caller };
  }

  /** Stops the server as the runbook's restore requires of every replica. */
  async function stopServer(): Promise<void> {
    for (const client of clients.splice(0)) client.close();
    await server?.stop();
    server = undefined;
  }

  /**
   * The variables block as written, then the test's values (its PostgreSQL's URL without a search_path,
   * its schema, and `extra`: the dump to restore), then `block`; run in the test's directory, where the
   * dump is written. libpq's PGCONNECT_TIMEOUT bounds each connection attempt.
   */
  function runWithTestValues(block: Block, extra: Record<string, string> = {}): Promise<string> {
    const assignments = Object.entries({
      DATABASE: TEST_POSTGRES_URL,
      SCHEMA: (schema as TestSchema).schema,
      ...extra,
    }).map(([name, value]) => `${name}='${value}'`);
    const script = [values?.text, ...assignments, "export PGCONNECT_TIMEOUT=10", block.text].join("\n");
    // The scripts reach the database only, with or without a server running on it.
    const database = { grpcAddress: "", database: (schema as TestSchema).url };
    return runScript(database, script, directory, 60_000);
  }

  it("restores the backup with every server stopped: a key revoked since is allowed again, one issued since is gone", {
    timeout: 180_000,
  }, async () => {
    expect(values?.text.match(/^[A-Z_]+(?==)/gm)).toEqual(["DATABASE", "SCHEMA", "DUMP"]);
    expect(backup?.text).toMatch(/^pg_dump /);
    expect(restore?.text).toMatch(/^pg_restore /);
    expect(others).toEqual([]);

    const before = await startServer();
    const a = await before.admin.keys.issueKey({ name: "A" }, CALL);
    expect(await before.caller.authorize.authorize({ apiKey: a.secret }, CALL)).toMatchObject({
      allowed: true,
    });

    // The backup, while the server serves; its file is named by the block's date.
    await runWithTestValues(backup as Block);
    const dump = readdirSync(directory as string).find((name) => /^keyward-\d{8}T\d{6}Z\.dump$/.test(name));
    expect(dump).toBeDefined();

    const b = await before.admin.keys.issueKey({ name: "B" }, CALL);
    await before.admin.keys.revokeKey({ keyId: a.key?.keyId ?? "", reason: "after the backup" }, CALL);
    expect(await before.caller.authorize.authorize({ apiKey: a.secret }, CALL)).toMatchObject({
      allowed: false,
      reason: Reason.KEY_REVOKED,
    });
    expect(await before.caller.authorize.authorize({ apiKey: b.secret }, CALL)).toMatchObject({
      allowed: true,
    });

    await stopServer();
    await runWithTestValues(restore as Block, { DUMP: dump as string });
    const after = await startServer();

    // Everything after the backup is gone, the revocation of A included: the runbook's "After any
    // restore" says to revoke such keys again.
    expect(await after.caller.authorize.authorize({ apiKey: a.secret }, CALL)).toMatchObject({
      allowed: true,
      keyId: a.key?.keyId,
    });
    expect(await after.caller.authorize.authorize({ apiKey: b.secret }, CALL)).toMatchObject({
      allowed: false,
      reason: Reason.KEY_NOT_FOUND,
    });
  });
});
