import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useServer } from "../support/use-server.js";

// Issue 15: examples/go and examples/python generate their stubs from proto/ with their own
// buf.gen.yaml, as the README says, and their clients call Authorize on a real server. The plugins and
// runtimes are Debian's (protoc 3.21, grpc_python_plugin, python3-grpcio; Go 1.19, protoc-gen-go,
// protoc-gen-go-grpc, grpc-go 1.33 with golang/protobuf 1.5), which .ci/run installs. Go builds in GOPATH mode against
// Debian's library sources, because go.mod's module downloads need the network.

const run = promisify(execFile);

/** A command that answers, or undefined. */
function works(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// The python3 that has Debian's grpcio and protobuf (a pyenv python3 on PATH may not).
const python = ["python3", "/usr/bin/python3"].find((candidate) =>
  works(candidate, ["-c", "import grpc, google.protobuf"]),
);
const DEBIAN_GOPATH = "/usr/share/gocode";
const missing = {
  python: [
    python === undefined ? "python3 with grpc (python3-grpcio python3-protobuf)" : "",
    works("protoc", ["--version"]) ? "" : "protoc (protobuf-compiler)",
    works("which", ["grpc_python_plugin"]) ? "" : "grpc_python_plugin (protobuf-compiler-grpc)",
  ].filter(Boolean),
  go: [
    works("go", ["version"]) ? "" : "go (golang-go)",
    works("which", ["protoc-gen-go"]) ? "" : "protoc-gen-go",
    works("which", ["protoc-gen-go-grpc"]) ? "" : "protoc-gen-go-grpc",
    works("test", ["-d", join(DEBIAN_GOPATH, "src/google.golang.org/grpc")])
      ? ""
      : "golang-google-grpc-dev golang-google-protobuf-dev",
    // grpc-go 1.33 decodes through github.com/golang/protobuf; its 1.3 (registry.go is 1.4 and later)
    // cannot read the stubs protoc-gen-go writes today, and panics.
    works("test", ["-f", join(DEBIAN_GOPATH, "src/github.com/golang/protobuf/proto/registry.go")])
      ? ""
      : "golang-github-golang-protobuf-1-5-dev",
  ].filter(Boolean),
};
for (const [language, tools] of Object.entries(missing)) {
  if (tools.length === 0) continue;
  // CI installs them (.ci/run): there a missing tool is a failure, never a skip.
  if (process.env.CI === "true")
    throw new Error(`not installed: ${tools.join(", ")} (.ci/run installs them)`);
  console.warn(`skipped: examples/${language} (not installed: ${tools.join(", ")})`);
}

const server = useServer();
let work: string;
let reader: { secret: string; keyId: string };
let writer: { secret: string };
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "keyward-examples-"));
  const { keys } = server.clients(server.admin);
  const issued = await keys.issueKey({ name: "orders reader", scopes: ["orders:read"] });
  reader = { secret: issued.secret, keyId: issued.key?.keyId ?? "" };
  writer = { secret: (await keys.issueKey({ name: "orders writer", scopes: ["orders:write"] })).secret };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `npx buf generate` in examples/<language>, as the README runs it, with its output under `out`. */
async function generate(language: string, out: string): Promise<void> {
  await run("npx", ["buf", "generate", "--output", out], { cwd: join("examples", language) });
}

/** Runs a built client with KEYWARD_API_KEY=secret against the server; its exit code and output. */
async function ask(command: string, args: string[], secret: string, env: Record<string, string> = {}) {
  try {
    const { stdout } = await run(command, [...args, server.grpcAddress], {
      env: { ...process.env, ...env, KEYWARD_API_KEY: secret },
      timeout: 20_000,
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

function expectAnswers(
  answers: { allowed: { stdout: string }; denied: { stdout: string }; missing: { stdout: string } },
  yes: string,
  no: string,
) {
  expect(answers.allowed.stdout.trim(), JSON.stringify(answers.allowed)).toBe(
    `allowed=${yes} reason=REASON_ALLOWED http_status=200 key_id=${reader.keyId}`,
  );
  expect(answers.denied.stdout.trim()).toMatch(
    new RegExp(`^allowed=${no} reason=REASON_INSUFFICIENT_SCOPE http_status=403 key_id=\\S+$`),
  );
  expect(answers.missing.stdout.trim()).toBe(
    `allowed=${no} reason=REASON_MISSING_CREDENTIAL http_status=401 key_id=`,
  );
}

describe.skipIf(missing.python.length > 0)("examples/python", () => {
  const client = resolve("examples/python/client.py");
  let env: Record<string, string>;
  beforeAll(async () => {
    const out = join(work, "python");
    await generate("python", out);
    env = { PYTHONPATH: join(out, "gen"), PYTHONDONTWRITEBYTECODE: "1" };
  }, 60_000);

  it("generates its stubs with buf and asks Authorize: allowed, denied, no key", async () => {
    const answers = {
      allowed: await ask(python ?? "python3", [client], reader.secret, env),
      denied: await ask(python ?? "python3", [client], writer.secret, env),
      missing: await ask(python ?? "python3", [client], "", env),
    };
    expectAnswers(answers, "True", "False");
  }, 60_000);

  it("fails closed when Keyward is unreachable: exit 1, UNAVAILABLE", async () => {
    const failed = await run(python ?? "python3", [client, "127.0.0.1:1"], {
      env: { ...process.env, ...env, KEYWARD_API_KEY: reader.secret },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^keyward: UNAVAILABLE: /);
  }, 30_000);
});

describe.skipIf(missing.go.length > 0)("examples/go", () => {
  let binary: string;
  beforeAll(async () => {
    // GOPATH mode: the example's import path, example.com/keyward-client, under a GOPATH of its own.
    const gopath = join(work, "gopath");
    const module = join(gopath, "src/example.com/keyward-client");
    mkdirSync(module, { recursive: true });
    copyFileSync("examples/go/main.go", join(module, "main.go"));
    await generate("go", module);
    binary = join(work, "keyward-go-client");
    await run("go", ["build", "-o", binary, "."], {
      cwd: module,
      env: {
        ...process.env,
        GO111MODULE: "off",
        GOPATH: `${gopath}:${DEBIAN_GOPATH}`,
        GOCACHE: join(tmpdir(), "keyward-go-build-cache"),
        GOFLAGS: "",
      },
    });
  }, 120_000);

  it("generates its stubs with buf, builds, and asks Authorize: allowed, denied, no key", async () => {
    const answers = {
      allowed: await ask(binary, [], reader.secret),
      denied: await ask(binary, [], writer.secret),
      missing: await ask(binary, [], ""),
    };
    expectAnswers(answers, "true", "false");
  }, 60_000);

  it("fails closed when Keyward is unreachable: exit 1, Unavailable", async () => {
    const failed = await run(binary, ["127.0.0.1:1"], {
      env: { ...process.env, KEYWARD_API_KEY: reader.secret },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^keyward: rpc error: code = Unavailable/);
  }, 30_000);
});
