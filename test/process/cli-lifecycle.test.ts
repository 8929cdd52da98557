import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { parseKey } from "../../src/domain/key-format.js";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import type { AuthorizeClient } from "../support/clients.js";
import { useServer } from "../support/use-server.js";

// The real `keyward` binary (bin/keyward.js) against a real server: every server command, its output
// for people (tables, field listings, the secret alone on the last line) and for scripts (--json),
// and its exit codes (0 done, 1 the call failed, 2 the command line is wrong).

const run = promisify(execFile);

// Each run starts a node process (up to a second of CPU). The runs go one at a time, so that a test
// asks for no more cores than one run and the server; with the rest of the suite sharing two cores a
// run may still wait its turn for long, so neither a run nor a test of several is held to a tight time.
const SLOW = { timeout: 300_000 };
const RUN_TIMEOUT_MS = 120_000;

const server = useServer();
let globalAdmin: string;
let authorizer: AuthorizeClient;

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `keyward …` with the test server and the workspace admin key unless `env` says otherwise. */
async function keyward(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  // The caller's own KEYWARD_* settings must not leak into the test.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("KEYWARD_")),
  );
  const merged = { ...base, KEYWARD_SERVER: server.grpcAddress, KEYWARD_ADMIN_KEY: server.admin, ...env };
  const defined = Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined));
  try {
    const { stdout, stderr } = await run(process.execPath, ["bin/keyward.js", ...args], {
      env: defined,
      timeout: RUN_TIMEOUT_MS,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout: string; stderr: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Runs a command that must succeed, and parses its --json output. */
async function json(args: string[], env: Record<string, string | undefined> = {}) {
  const result = await keyward([...args, "--json"], env);
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout);
}

/** Issues a key through the CLI and returns its id and secret. */
async function issue(...args: string[]): Promise<{ keyId: string; secret: string }> {
  const body = await json(["keys", "issue", ...args]);
  return { keyId: body.key.keyId, secret: body.secret };
}

function lastLine(stdout: string): string {
  return stdout.trimEnd().split("\n").at(-1) as string;
}

/** What the mesh would be told about a key: the CLI's changes must show here at once. */
function authorize(secret: string, requiredScopes: string[] = []) {
  return authorizer.authorize({ apiKey: secret, requiredScopes });
}

beforeAll(async () => {
  authorizer = server.clients().authorize;
  const global = await keyward(["bootstrap", "--global"], { KEYWARD_DATABASE: server.database });
  expect(global, global.stderr).toMatchObject({ code: 0 });
  globalAdmin = lastLine(global.stdout);
}, SLOW.timeout);

describe("keys", SLOW, () => {
  it("issue prints the key, warns on stderr, and puts the secret alone on the last line", async () => {
    const { code, stdout, stderr } = await keyward([
      "keys",
      "issue",
      "--name",
      "billing service",
      "--scope",
      "invoices:read",
      "invoices:write",
      "--env",
      "test",
      "--ttl",
      "30d",
      "--meta",
      "team=payments",
    ]);
    expect(code).toBe(0);
    const secret = lastLine(stdout);
    expect(parseKey(secret)).toEqual({ prefix: "kw", environment: "test" });
    const listing = stdout.slice(0, stdout.lastIndexOf(secret));
    expect(listing).not.toContain(secret);
    expect(listing).toMatch(/^name: +billing service$/m);
    expect(listing).toMatch(/^scopes: +invoices:read,invoices:write$/m);
    expect(listing).toMatch(/^environment: +test$/m);
    expect(listing).toMatch(/^metadata: +team=payments$/m);
    expect(stderr).toMatch(/shown this once/);
    expect(stderr).not.toContain(secret);
    expect((await authorize(secret, ["invoices:read"])).allowed).toBe(true);
  });

  it("issue --json prints the whole response, secret included, and nothing else on stdout", async () => {
    const { code, stdout, stderr } = await keyward(["keys", "issue", "--name", "json key", "--json"]);
    expect(code).toBe(0);
    const body = JSON.parse(stdout);
    expect(parseKey(body.secret)).toEqual({ prefix: "kw", environment: "live" });
    expect(body.key).toMatchObject({
      name: "json key",
      status: "KEY_STATUS_ACTIVE",
      environment: "ENVIRONMENT_LIVE",
    });
    expect(body.key.createTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    expect(stderr).toMatch(/shown this once/);
  });

  it("list shows keys as a table and as JSON, and pages with --page-size and --all", async () => {
    const listed = await issue("--name", "listed key", "--owner", "team-list");
    await issue("--name", "listed key two", "--owner", "team-list");
    const table = await keyward(["keys", "list"]);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^KEY ID +NAME +PREFIX +STATUS +ENV +SCOPES +TIER +REQ\/MONTH +EXPIRES +CREATED$/);
    expect(rows.find((row) => row.startsWith(listed.keyId))).toMatch(
      /listed key +kw_live_\w{6} +ACTIVE +live/,
    );
    expect(table.stdout).not.toContain(listed.secret);

    const all = await json(["keys", "list", "--owner", "team-list"]);
    expect(all.keys.map((key: { name: string }) => key.name)).toEqual(["listed key two", "listed key"]);
    expect(all.totalSize).toBe(2);

    const firstPage = await keyward(["keys", "list", "--owner", "team-list", "--page-size", "1"]);
    expect(firstPage.stdout.trimEnd().split("\n")).toHaveLength(2);
    expect(firstPage.stderr).toMatch(/--page-token \S+/);
    const everyPage = await json(["keys", "list", "--owner", "team-list", "--page-size", "1", "--all"]);
    expect(everyPage.keys).toHaveLength(2);
    expect(everyPage.nextPageToken).toBeUndefined();
  });

  it("get shows one key, field by field; revoke makes it REVOKED", async () => {
    const { keyId, secret } = await issue("--name", "to revoke", "--scope", "orders:read");
    const got = await keyward(["keys", "get", keyId]);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(new RegExp(`^key_id: +${keyId}$`, "m"));
    expect(got.stdout).toMatch(/^status: +ACTIVE$/m);
    expect(got.stdout).toMatch(/^expire_time: +never$/m);

    const revoked = await keyward(["keys", "revoke", keyId, "--reason", "leaked in a log"]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^status: +REVOKED$/m);
    const after = await keyward(["keys", "get", keyId]);
    expect(after.stdout).toMatch(/^status: +REVOKED$/m);
    expect(after.stdout).toMatch(/^revoke_reason: +leaked in a log$/m);
    expect((await json(["keys", "get", keyId])).key.status).toBe("KEY_STATUS_REVOKED");
    expect((await authorize(secret)).reason).toBe(Reason.KEY_REVOKED);
  });

  it("suspend denies the key until resume", async () => {
    const { keyId, secret } = await issue("--name", "to suspend");
    const suspended = await keyward(["keys", "suspend", keyId, "--reason", "investigating"]);
    expect(suspended.code).toBe(0);
    expect(suspended.stdout).toMatch(/^status: +SUSPENDED$/m);
    expect(suspended.stdout).toMatch(/^suspend_reason: +investigating$/m);
    expect((await authorize(secret)).reason).toBe(Reason.KEY_SUSPENDED);

    const resumed = await keyward(["keys", "resume", keyId]);
    expect(resumed.stdout).toMatch(/^status: +ACTIVE$/m);
    expect((await authorize(secret)).allowed).toBe(true);
  });

  it("update changes only the flags given; narrowed scopes are denied at once", async () => {
    const { keyId, secret } = await issue(
      "--name",
      "to narrow",
      "--scope",
      "a:read",
      "a:write",
      "--owner",
      "ops",
    );
    expect((await authorize(secret, ["a:write"])).allowed).toBe(true);
    const updated = await keyward(["keys", "update", keyId, "--scope", "a:read"]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout).toMatch(/^scopes: +a:read$/m);
    expect(updated.stdout).toMatch(/^owner_id: +ops$/m); // not in the mask, so untouched
    expect(updated.stdout).toMatch(/^name: +to narrow$/m);

    const denied = await authorize(secret, ["a:write"]);
    expect(denied).toMatchObject({
      allowed: false,
      reason: Reason.INSUFFICIENT_SCOPE,
      missingScopes: ["a:write"],
    });
    expect((await authorize(secret, ["a:read"])).allowed).toBe(true);

    const expiring = await json(["keys", "update", keyId, "--expires", "2099-01-01T00:00:00Z"]);
    expect(expiring.key.expireTime).toBe("2099-01-01T00:00:00Z");
    expect((await json(["keys", "update", keyId, "--no-expiry"])).key.expireTime).toBeUndefined();
  });

  it("issue, update and get a key's limits (issue 12), and a workspace's defaults for them", async () => {
    const issued = await keyward([
      "keys",
      "issue",
      "--name",
      "limited",
      "--tier",
      "pro",
      "--rate-limit",
      "100/1m",
      "--monthly-quota",
      "50000",
      "--credits",
      "100",
      "--refill",
      "100/monthly",
      "--allow-cidr",
      "10.0.0.0/8",
      "--allow-cidr",
      "192.0.2.7",
    ]);
    expect(issued.code, issued.stderr).toBe(0);
    expect(issued.stdout).toMatch(/^tier: +pro$/m);
    expect(issued.stdout).toMatch(/^rate_limit: +100\/1m$/m);
    expect(issued.stdout).toMatch(/^monthly_quota: +50000$/m);
    expect(issued.stdout).toMatch(/^credits: +100 left, refilled to 100 monthly$/m);
    expect(issued.stdout).toMatch(/^allowed_cidrs: +10\.0\.0\.0\/8,192\.0\.2\.7\/32$/m);
    const keyId = (/^key_id: +(\S+)$/m.exec(issued.stdout) as RegExpExecArray)[1] as string;

    const updated = await json([
      "keys",
      "update",
      keyId,
      "--tier",
      "basic",
      "--no-rate-limit",
      "--monthly-quota",
      "0",
      "--no-credits",
      "--no-allow-cidr",
    ]);
    expect(updated.key).toMatchObject({ tier: "basic" });
    expect(updated.key.rateLimit).toBeUndefined();
    expect(updated.key.credits).toBeUndefined();
    const got = await keyward(["keys", "get", keyId]);
    expect(got.stdout).toMatch(/^monthly_quota: +unlimited$/m);
    expect(got.stdout).toMatch(/^allowed_cidrs: +any$/m);
    expect(got.stdout).toMatch(/^requests_today: +0$/m);
    expect((await keyward(["keys", "update", keyId, "--rate-limit", "100/1w"])).code).toBe(2);

    const env = { KEYWARD_ADMIN_KEY: globalAdmin };
    const hosted = await keyward(
      ["workspaces", "create", "hosted", "--default-tier", "basic", "--default-monthly-quota", "10000"],
      env,
    );
    expect(hosted.code, hosted.stderr).toBe(0);
    expect(hosted.stdout).toMatch(/^default_tier: +basic$/m);
    expect(hosted.stdout).toMatch(/^default_monthly_quota: +10000$/m);
    const defaulted = await json(["keys", "issue", "--workspace", "hosted", "--name", "customer"], env);
    expect(defaulted.key).toMatchObject({ tier: "basic", monthlyQuota: "10000" });
  });

  it("rotate prints a new secret; the old key names its replacement and works until the grace ends", async () => {
    const old = await issue("--name", "to rotate", "--scope", "x:read");
    const { code, stdout, stderr } = await keyward(["keys", "rotate", old.keyId, "--grace", "1h"]);
    expect(code).toBe(0);
    const secret = lastLine(stdout);
    expect(parseKey(secret)).toEqual({ prefix: "kw", environment: "live" });
    expect(secret).not.toBe(old.secret);
    expect(stdout).toMatch(/^rotated_from_key_id: +key_\w+$/m);
    expect(stdout).toContain(`Previous key ${old.keyId} keeps working until`);
    expect(stderr).toMatch(/shown this once/);

    const newKeyId = (await authorize(secret, ["x:read"])).keyId;
    expect(newKeyId).not.toBe(old.keyId);
    const previous = await keyward(["keys", "get", old.keyId]);
    expect(previous.stdout).toMatch(new RegExp(`^rotated_to_key_id: +${newKeyId}$`, "m"));
    expect((await authorize(old.secret, ["x:read"])).allowed).toBe(true);

    const immediate = await json(["keys", "rotate", newKeyId, "--grace", "0"]);
    expect(parseKey(immediate.secret)).toEqual({ prefix: "kw", environment: "live" });
    expect(immediate.previousKey.status).toBe("KEY_STATUS_REVOKED");
    expect((await authorize(secret)).allowed).toBe(false);
  });
});

describe("workspaces (global admin)", SLOW, () => {
  it("create, list, get, update, suspend, resume", async () => {
    const env = { KEYWARD_ADMIN_KEY: globalAdmin };
    const created = await keyward(
      [
        "workspaces",
        "create",
        "acme",
        "--display-name",
        "Acme Corp",
        "--max-keys",
        "10",
        "--default-env",
        "test",
      ],
      env,
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^workspace_id: +acme$/m);
    expect(created.stdout).toMatch(/^max_keys: +10$/m);

    const list = await keyward(["workspaces", "list"], env);
    expect(list.stdout).toMatch(/^WORKSPACE +DISPLAY NAME +STATUS +KEYS/);
    expect(list.stdout).toMatch(/^acme +Acme Corp +ACTIVE +0\/10 +kw +test/m);
    expect(
      (await json(["workspaces", "list"], env)).workspaces.map((w: { workspaceId: string }) => w.workspaceId),
    ).toContain("acme");

    const updated = await json(["workspaces", "update", "acme", "--max-keys", "20"], env);
    expect(updated.workspace).toMatchObject({ maxKeys: 20, displayName: "Acme Corp" });

    const suspended = await keyward(["workspaces", "suspend", "acme", "--reason", "unpaid invoice"], env);
    expect(suspended.stdout).toMatch(/^status: +SUSPENDED$/m);
    expect(suspended.stdout).toMatch(/^suspend_reason: +unpaid invoice$/m);
    expect((await keyward(["workspaces", "get", "acme"], env)).stdout).toMatch(/^status: +SUSPENDED$/m);
    expect((await keyward(["workspaces", "resume", "acme"], env)).stdout).toMatch(/^status: +ACTIVE$/m);
  });

  it("are refused to a workspace admin key", async () => {
    const refused = await keyward(["workspaces", "create", "other"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^keyward: permission_denied: /);
  });
});

describe("audit", SLOW, () => {
  it("list shows who issued and revoked a key", async () => {
    const { keyId } = await issue("--name", "audited");
    await keyward(["keys", "revoke", keyId, "--reason", "no longer needed"]);
    const table = await keyward(["audit", "list", "--target", keyId]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TIME +ACTION +TARGET +ACTOR +DETAILS$/m);
    expect(table.stdout).toMatch(new RegExp(`key\\.revoked +${keyId} +key_\\w+ +reason: no longer needed`));
    expect(table.stdout).toMatch(new RegExp(`key\\.issued +${keyId}`));
    const events = (await json(["audit", "list", "--target", keyId])).events;
    expect(events.map((event: { action: string }) => event.action)).toEqual(["key.revoked", "key.issued"]);
    const revokes = await json([
      "audit",
      "list",
      "--action",
      "key.revoked",
      "--since",
      "2000-01-01T00:00:00Z",
    ]);
    expect(revokes.events.every((event: { action: string }) => event.action === "key.revoked")).toBe(true);
  });
});

describe("errors", SLOW, () => {
  it("without KEYWARD_ADMIN_KEY: exit 1, unauthenticated, naming the variable", async () => {
    const { code, stderr } = await keyward(["keys", "list"], { KEYWARD_ADMIN_KEY: undefined });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^keyward: unauthenticated: .*KEYWARD_ADMIN_KEY/);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("an unknown key id: exit 1, not_found", async () => {
    for (const command of ["get", "revoke"]) {
      const { code, stderr } = await keyward(["keys", command, "key_doesnotexist"]);
      expect(code).toBe(1);
      expect(stderr.trimEnd()).toMatch(/^keyward: not_found: [^\n]+$/);
    }
  });

  it("no server at the address: exit 1, one line naming the address", async () => {
    const { code, stderr } = await keyward(["keys", "list", "--server", "127.0.0.1:1"]);
    expect(code).toBe(1);
    expect(stderr.trimEnd()).toMatch(
      /^keyward: unavailable: cannot reach the Keyward server at 127\.0\.0\.1:1 /,
    );
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("an address that does not speak gRPC (the HTTP/1.1 listener): exit 1, unavailable, not internal", async () => {
    const http = server.httpUrl.replace("http://", "");
    const { code, stderr } = await keyward(["keys", "list", "--server", http]);
    expect(code).toBe(1);
    expect(stderr.trimEnd()).toMatch(
      /^keyward: unavailable: cannot reach the Keyward server at 127\.0\.0\.1:\d+ /,
    );
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("a bad flag or value: exit 2 before any call", async () => {
    for (const args of [
      ["keys", "list", "--bogus"],
      ["keys", "issue"], // --name is required
      ["keys", "issue", "--name", "x", "--ttl", "soon"],
      ["keys", "issue", "--name", "x", "--ttl", "1d", "--expires", "2099-01-01T00:00:00Z"],
      ["keys", "list", "--status", "expired"],
      ["keys", "update", "key_x"], // nothing to update
      ["audit", "list", "--since", "yesterday"],
      ["workspaces", "create"],
    ]) {
      const { code, stderr } = await keyward(args, { KEYWARD_SERVER: "127.0.0.1:1" });
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(stderr).toMatch(/error: /);
    }
  });

  it("never prints the admin key, whether from the environment or a flag", async () => {
    const { secret: revokedAdmin, keyId } = await issue("--name", "old admin", "--scope", "keyward:admin");
    await keyward(["keys", "revoke", keyId]);
    const viaEnv = await keyward(["keys", "list"], { KEYWARD_ADMIN_KEY: revokedAdmin });
    const viaFlag = await keyward(["keys", "get", "key_x", "--admin-key", revokedAdmin]);
    const down = await keyward(["keys", "list", "--server", "127.0.0.1:1"], {
      KEYWARD_ADMIN_KEY: revokedAdmin,
    });
    for (const result of [viaEnv, viaFlag, down]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^keyward: (unauthenticated|unavailable): /);
      expect(result.stderr + result.stdout).not.toContain(revokedAdmin);
    }
  });
});

describe("help", SLOW, () => {
  const groups = {
    keys: ["issue", "list", "get", "update", "suspend", "resume", "rotate", "revoke"],
    workspaces: ["create", "list", "get", "update", "suspend", "resume"],
    audit: ["list"],
  };

  it.each(Object.entries(groups))(
    "%s and each of its commands: a description and an example",
    async (group, names) => {
      // One run at a time: nine at once starved each other on a two-core machine.
      for (const command of [[group], ...names.map((name) => [group, name])]) {
        const { code, stdout } = await keyward([...command, "--help"]);
        expect({ command, code }).toEqual({ command, code: 0 });
        expect(stdout).toMatch(/Example:\n {2}\$ .*keyward /);
        if (command.length === 2) expect(stdout).toContain("KEYWARD_ADMIN_KEY");
      }
      expect((await keyward(["--help"])).stdout).toContain(group);
    },
  );
});
