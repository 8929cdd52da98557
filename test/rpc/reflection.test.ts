import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import * as v1alpha from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { useServer } from "../support/use-server.js";

// Reflection must serve real descriptors that strict clients link: buf curl (reflection v1)
// and a v1alpha client like grpcurl < 1.8.8, checked here by linking the files with protobuf-es.

const run = promisify(execFile);
const BUF = "node_modules/.bin/buf";

const server = useServer();

function bufCurl(...args: string[]) {
  return run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 20_000 });
}

describe("reflection with buf curl (strict linking, reflection v1)", () => {
  it("lists every method of every service", async () => {
    const { stdout } = await bufCurl("--list-methods", `http://${server.grpcAddress}`);
    expect(stdout.trim().split("\n").sort()).toEqual([
      "envoy.service.auth.v3.Authorization/Check",
      "grpc.health.v1.Health/Check",
      "grpc.health.v1.Health/Watch",
      "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      "keyward.v1.AuditService/ListAuditEvents",
      "keyward.v1.AuthorizeService/Authorize",
      "keyward.v1.KeyService/GetKey",
      "keyward.v1.KeyService/IssueKey",
      "keyward.v1.KeyService/ListKeys",
      "keyward.v1.KeyService/ResumeKey",
      "keyward.v1.KeyService/RevokeKey",
      "keyward.v1.KeyService/RotateKey",
      "keyward.v1.KeyService/SuspendKey",
      "keyward.v1.KeyService/UpdateKey",
      "keyward.v1.WorkspaceService/CreateWorkspace",
      "keyward.v1.WorkspaceService/GetWorkspace",
      "keyward.v1.WorkspaceService/ListWorkspaces",
      "keyward.v1.WorkspaceService/ResumeWorkspace",
      "keyward.v1.WorkspaceService/SuspendWorkspace",
      "keyward.v1.WorkspaceService/UpdateWorkspace",
    ]);
  });

  it("invokes IssueKey and Authorize with JSON, resolving the schema through reflection", async () => {
    const issued = await bufCurl(
      "-H",
      `authorization: Bearer ${server.admin}`,
      "-d",
      JSON.stringify({ name: "via buf curl", scopes: ["models:read"], ttl: "3600s", metadata: { a: "b" } }),
      `http://${server.grpcAddress}/keyward.v1.KeyService/IssueKey`,
    );
    const { secret, key } = JSON.parse(issued.stdout) as { secret: string; key: { keyId: string } };
    expect(key.keyId).toMatch(/^key_/);
    const decided = await bufCurl(
      "-d",
      JSON.stringify({ api_key: secret, required_scopes: ["models:read"] }),
      `http://${server.grpcAddress}/keyward.v1.AuthorizeService/Authorize`,
    );
    expect(JSON.parse(decided.stdout)).toMatchObject({
      allowed: true,
      reason: "REASON_ALLOWED",
      httpStatus: 200,
    });
  });
});

describe("reflection v1alpha (grpcurl before 1.8.8)", () => {
  /** Opens a v1alpha stream, sends the requests, half-closes, and collects every response. */
  function reflect(requests: v1alpha.ServerReflectionRequest[]): Promise<v1alpha.ServerReflectionResponse[]> {
    const client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      (m: v1alpha.ServerReflectionRequest) => Buffer.from(toBinary(v1alpha.ServerReflectionRequestSchema, m)),
      (b: Buffer) => fromBinary(v1alpha.ServerReflectionResponseSchema, b),
    );
    const responses: v1alpha.ServerReflectionResponse[] = [];
    return new Promise((resolve, reject) => {
      call.on("data", (response: v1alpha.ServerReflectionResponse) => responses.push(response));
      call.on("status", (status: grpc.StatusObject) => {
        client.close();
        if (status.code === grpc.status.OK) resolve(responses);
        else reject(new Error(status.details));
      });
      call.on("error", () => undefined); // reported through "status"
      for (const request of requests) call.write(request);
      call.end();
    });
  }

  const symbol = (name: string) =>
    create(v1alpha.ServerReflectionRequestSchema, {
      messageRequest: { case: "fileContainingSymbol", value: name },
    });

  it("lists services and ends the stream when the client half-closes", async () => {
    const [response] = await reflect([
      create(v1alpha.ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } }),
    ]);
    const listed =
      response?.messageResponse.case === "listServicesResponse" ? response.messageResponse.value : undefined;
    expect(listed?.service.map((s) => s.name)).toContain("keyward.v1.KeyService");
  });

  it("serves files with their whole dependency closure, linkable and with json names", async () => {
    const responses = await reflect([
      symbol("keyward.v1.KeyService"),
      symbol("keyward.v1.AuthorizeService.Authorize"),
      symbol(".keyward.v1.Key"),
    ]);
    for (const response of responses) {
      expect(response.messageResponse.case).toBe("fileDescriptorResponse");
      if (response.messageResponse.case !== "fileDescriptorResponse") continue;
      const files = response.messageResponse.value.fileDescriptorProto.map((b) =>
        fromBinary(FileDescriptorProtoSchema, b),
      );
      // Linking fails if any dependency is missing or a type name does not resolve.
      const registry = createFileRegistry(
        create(FileDescriptorSetSchema, { file: dependenciesFirst(files) }),
      );
      const name = files[0]?.name ?? "";
      expect(registry.getFile(name)?.proto.name).toBe(name);
    }
    const first = responses[0]?.messageResponse;
    const files =
      first?.case === "fileDescriptorResponse"
        ? first.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b))
        : [];
    expect(files.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        "keyward/v1/key_service.proto",
        "keyward/v1/key.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/duration.proto",
      ]),
    );
    const request = files[0]?.messageType.find((m) => m.name === "IssueKeyRequest");
    expect(request?.field.find((f) => f.name === "owner_id")?.jsonName).toBe("ownerId");
  });

  it("answers an unknown symbol with a NOT_FOUND error response, and keeps the stream open", async () => {
    const responses = await reflect([symbol("no.such.Symbol"), symbol("grpc.health.v1.Health")]);
    expect(responses[0]?.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    expect(responses[1]?.messageResponse.case).toBe("fileDescriptorResponse");
  });

  it("finds files by name", async () => {
    const [response] = await reflect([
      create(v1alpha.ServerReflectionRequestSchema, {
        messageRequest: { case: "fileByFilename", value: "keyward/v1/authorize_service.proto" },
      }),
    ]);
    expect(response?.messageResponse.case).toBe("fileDescriptorResponse");
  });
});

/** Orders files so that each comes after its imports, as a FileDescriptorSet must be. */
function dependenciesFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (file: FileDescriptorProto) => {
    if (ordered.includes(file)) return;
    for (const name of file.dependency) {
      const dependency = byName.get(name);
      if (dependency === undefined) throw new Error(`${file.name} imports ${name}, which was not served`);
      visit(dependency);
    }
    ordered.push(file);
  };
  for (const file of files) visit(file);
  return ordered;
}
