import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseKey } from "../../src/domain/key-format.js";
import { grpcClients } from "../support/clients.js";
import { startTestServer } from "../support/start-server.js";

// The real `keyward` binary (bin/keyward.js), as `npx keyward …` runs it.

const run = promisify(execFile);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-cli-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function keyward(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ["bin/keyward.js", ...args], {
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
}

describe("keyward CLI", () => {
  it("migrate creates the schema once", async () => {
    const env = { KEYWARD_DATABASE: `sqlite:${join(dir, "keyward.db")}` };
    expect((await keyward(["migrate"], env)).stdout).toContain("applied: 0001-create-api-keys");
    expect((await keyward(["migrate"], env)).stdout).toContain("already up to date");
  });

  it("bootstrap prints the secret alone on the last line, and it manages the workspace", async () => {
    const database = `sqlite:${join(dir, "keyward.db")}`;
    const { stdout } = await keyward(["bootstrap", "--workspace", "acme", "--name", "ops"], {
      KEYWARD_DATABASE: database,
    });
    const lines = stdout.trimEnd().split("\n");
    const secret = lines.at(-1) as string;
    expect(parseKey(secret)).toEqual({ prefix: "kw", environment: "live" });
    expect(lines.slice(0, -1).join("\n")).not.toContain(secret);
    expect(stdout).toContain("acme");

    const server = await startTestServer({ database });
    const { keys, close } = grpcClients(server.grpcAddress, secret);
    try {
      const issued = await keys.issueKey({ name: "from bootstrap admin", workspace: "acme" });
      expect(issued.key?.workspace).toBe("acme");
    } finally {
      close();
      await server.stop();
    }
  });

  it("accepts --database instead of the environment variable", async () => {
    const database = `sqlite:${join(dir, "other.db")}`;
    const { stdout } = await keyward(["bootstrap", "--database", database]);
    expect(parseKey(stdout.trimEnd().split("\n").at(-1) as string)).toEqual({
      prefix: "kw",
      environment: "live",
    });
    expect(existsSync(join(dir, "other.db"))).toBe(true);
  });

  it("exits 2 naming the variable when KEYWARD_DATABASE is invalid, and shows help", async () => {
    const failed = await keyward(["migrate"], { KEYWARD_DATABASE: "oracle://x" }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 2 });
    expect((failed as { stderr: string }).stderr).toContain("KEYWARD_DATABASE");
    const help = await keyward(["--help"]);
    for (const command of ["serve", "migrate", "bootstrap"]) expect(help.stdout).toContain(command);
    expect((await keyward(["bootstrap", "--help"])).stdout).toContain("--workspace");
  });
});
