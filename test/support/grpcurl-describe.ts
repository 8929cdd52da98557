import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "../../src/gen/grpc/reflection/v1/reflection_pb.js";

// `grpcurl describe <service>` for the grpcurl stand-in (test/support/grpcurl), which buf curl cannot
// do: asks the server's reflection (v1) for the file containing the symbol, links the files it answers
// with protobuf-es, and prints the service as grpcurl does (without comments). Usage:
//   node --import tsx test/support/grpcurl-describe.ts <host:port> <package.Service>

const [address, symbol] = process.argv.slice(2);
if (address === undefined || symbol === undefined) {
  console.error("usage: grpcurl-describe <host:port> <package.Service>");
  process.exit(64);
}

const client = new grpc.Client(address, grpc.credentials.createInsecure());
const answer = await new Promise<ServerReflectionResponse>((resolve, reject) => {
  const call = client.makeBidiStreamRequest(
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    (request: Uint8Array) => Buffer.from(request),
    (bytes: Buffer) => fromBinary(ServerReflectionResponseSchema, bytes),
    new grpc.Metadata(),
    { deadline: Date.now() + 10_000 },
  );
  call.on("data", (response: ServerReflectionResponse) => {
    resolve(response);
    call.end();
  });
  call.on("error", reject);
  call.write(
    toBinary(
      ServerReflectionRequestSchema,
      create(ServerReflectionRequestSchema, {
        messageRequest: { case: "fileContainingSymbol", value: symbol },
      }),
    ),
  );
});
client.close();

if (answer.messageResponse.case !== "fileDescriptorResponse") {
  const error = answer.messageResponse.case === "errorResponse" ? answer.messageResponse.value : undefined;
  console.error(`Failed to resolve symbol "${symbol}": ${error?.errorMessage ?? "no file descriptors"}`);
  process.exit(1);
}
const files = new Map<string, FileDescriptorProto>();
for (const bytes of answer.messageResponse.value.fileDescriptorProto) {
  const file = fromBinary(FileDescriptorProtoSchema, bytes);
  files.set(file.name, file);
}
// A file set links in order, each file after its dependencies.
const ordered: FileDescriptorProto[] = [];
const visit = (name: string) => {
  const file = files.get(name);
  if (file === undefined || ordered.includes(file)) return;
  for (const dependency of file.dependency) visit(dependency);
  ordered.push(file);
};
for (const name of files.keys()) visit(name);
const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
const service = registry.getService(symbol);
if (service === undefined) {
  console.error(`grpcurl stand-in: describe supports services only; "${symbol}" is not one`);
  process.exit(64);
}
console.log(`${service.typeName} is a service:`);
console.log(`service ${service.name} {`);
for (const method of service.methods) {
  const streams = (yes: boolean) => (yes ? "stream " : "");
  const clientStreams = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
  const serverStreams = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
  console.log(
    `  rpc ${method.name} ( ${streams(clientStreams)}.${method.input.typeName} ) returns ( ${streams(serverStreams)}.${method.output.typeName} );`,
  );
}
console.log("}");
