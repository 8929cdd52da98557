import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  AuthorizeRequestSchema,
  AuthorizeResponseSchema,
  AuthorizeService,
} from "../../src/gen/keyward/v1/authorize_service_pb.js";

// Issue 15: examples/go and examples/python generate their stubs from proto/ with buf and call
// Authorize. Neither runs here (no Go toolchain, and buf's remote plugins need the network), so this
// checks what can be checked without them: each buf.gen.yaml reads this repository's module, and every
// field and method the clients use exists in the contract under the name their generators give it.

const fieldNames = (schema: { fields: readonly { name: string }[] }) =>
  schema.fields.map((field) => field.name);
const requestFields = fieldNames(AuthorizeRequestSchema);
const responseFields = fieldNames(AuthorizeResponseSchema);
const goName = (field: string) => field.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());

describe.each(["go", "python"])("examples/%s", (language) => {
  const dir = join("examples", language);

  it("generates from this repository's keyward/v1 module", () => {
    const config = parse(readFileSync(join(dir, "buf.gen.yaml"), "utf8")) as {
      version: string;
      inputs: { directory: string; paths: string[] }[];
      plugins: { remote?: string; out: string }[];
    };
    expect(config.version).toBe("v2");
    const input = config.inputs[0];
    expect(resolve(dir, input?.directory ?? "")).toBe(resolve("proto"));
    for (const path of input?.paths ?? []) expect(existsSync(join("proto", path))).toBe(true);
    expect(config.plugins.length).toBe(2); // messages and gRPC stubs
    expect(config.plugins.every((plugin) => plugin.out === "gen")).toBe(true);
  });
});

describe("the clients' calls match the contract", () => {
  const method = AuthorizeService.method.authorize;

  it("Go: the generated names of every field and method used", () => {
    const source = readFileSync("examples/go/main.go", "utf8");
    expect(source).toContain(`New${AuthorizeService.name}Client(conn).${method.name}(`);
    for (const field of ["api_key", "required_scopes"]) {
      expect(requestFields).toContain(field);
      expect(source).toContain(`${goName(field)}:`);
    }
    for (const field of ["allowed", "reason", "http_status", "key_id"]) {
      expect(responseFields).toContain(field);
      expect(source).toContain(`Get${goName(field)}()`);
    }
  });

  it("Python: the generated names of every field and method used, and the file compiles", () => {
    const source = readFileSync("examples/python/client.py", "utf8");
    expect(source).toContain(`${AuthorizeService.name}Stub(`);
    expect(source).toContain(`stub.${method.name}(`);
    for (const field of ["api_key", "required_scopes"]) {
      expect(requestFields).toContain(field);
      expect(source).toContain(`${field}=`);
    }
    for (const field of ["allowed", "reason", "http_status", "key_id"]) {
      expect(responseFields).toContain(field);
      expect(source).toContain(`answer.${field}`);
    }
    // Syntax only: grpc and the generated modules are not installed here.
    const python = ["/usr/bin/python3", "python3"].find((candidate) => {
      try {
        execFileSync(candidate, ["--version"], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    });
    if (python === undefined) {
      console.log("skipped: compiling examples/python/client.py (no python3)");
      return;
    }
    execFileSync(python, [
      "-c",
      `import ast,sys; ast.parse(open(sys.argv[1]).read())`,
      "examples/python/client.py",
    ]);
  });
});
