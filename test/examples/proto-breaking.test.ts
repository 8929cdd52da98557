import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Issue 15: .ci/proto-breaking (run by .ci/run) compares proto/ with the last v<semver> release tag
// through `buf breaking`. This repository may have no tag yet, so the script runs here in a git
// repository of its own holding a copy of proto/, buf.yaml and the script: without a tag, with a
// compatible change after a release, and with a change that breaks generated code.

const run = promisify(execFile);
const AUTHORIZE = "proto/keyward/v1/authorize_service.proto";

let repo: string;
beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), "keyward-proto-breaking-"));
  cpSync("proto", join(repo, "proto"), { recursive: true });
  cpSync("buf.yaml", join(repo, "buf.yaml"));
  cpSync(".ci/proto-breaking", join(repo, ".ci/proto-breaking"));
  symlinkSync(resolve("node_modules"), join(repo, "node_modules")); // npx buf
  await git("init", "-q");
  await git("add", "-A");
  await git("commit", "-qm", "contract");
});
afterAll(() => rmSync(repo, { recursive: true, force: true }));

function git(...args: string[]) {
  return run("git", ["-c", "user.name=test", "-c", "user.email=test@example.com", ...args], { cwd: repo });
}

/** The script's exit code and output, run in the test's repository. */
async function breaking(): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(join(repo, ".ci/proto-breaking"), [], { cwd: repo });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

async function commitEdit(from: string, to: string, message: string): Promise<void> {
  const path = join(repo, AUTHORIZE);
  const source = readFileSync(path, "utf8");
  expect(source).toContain(from);
  writeFileSync(path, source.replace(from, to));
  await git("commit", "-qam", message);
}

describe(".ci/proto-breaking", () => {
  it("says there is nothing to compare with before the first release", async () => {
    expect(await breaking()).toEqual({
      code: 0,
      output: "no release tag (v*) yet: nothing to compare proto/ with\n",
    });
  });

  it("passes a compatible change after a release (a new field)", async () => {
    await git("tag", "v0.1.0");
    await commitEdit(
      "  string api_key = 1;",
      "  string api_key = 1;\n  string tenant_hint = 99;",
      "a new field",
    );
    const result = await breaking();
    expect(result).toMatchObject({ code: 0 });
    expect(result.output).toContain("no breaking change since v0.1.0");
  }, 60_000);

  it("fails a change that breaks generated code (a renamed field), naming it", async () => {
    await commitEdit("  string api_key = 1;", "  string key = 1;", "a renamed field");
    const result = await breaking();
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/authorize_service\.proto.*api_key/);
    expect(result.output).not.toContain("no breaking change");
  }, 60_000);

  it("compares with the newest release tag: tagging the change releases it", async () => {
    await git("tag", "v1.0.0");
    expect((await breaking()).output).toContain("no breaking change since v1.0.0");
  }, 60_000);
});
