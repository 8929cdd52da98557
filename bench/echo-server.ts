import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type DescService, fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Authorization } from "../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { AuthorizeService } from "../src/gen/keyward/v1/authorize_service_pb.js";
import { KeyService } from "../src/gen/keyward/v1/key_service_pb.js";
import { createLogger } from "../src/log.js";
import { toRpcError } from "../src/transport/errors.js";
import { addGrpcService } from "../src/transport/grpc-js-adapter.js";
import { type ServedService, type ServiceHandlers, served } from "../src/transport/handler.js";

// The ceiling Keyward is measured against: the same grpc-js server, built the same way
// (`new grpc.Server()`, Keyward's addGrpcService and served(), protobuf-es decode of every
// request and encode of every response), whose handlers do nothing but return a constant
// answer: one of Keyward's real answers, captured by bench/run.ts, so that it has the same size.
//
//   node --import tsx bench/echo-server.ts --listen 127.0.0.1:PORT --responses answers.json
//
// answers.json maps a method path to the base64 protobuf bytes of its answer:
//   { "/keyward.v1.AuthorizeService/Authorize": "CAEQAR…" }

/** The services the bench calls, whose methods the echo server can answer. */
const SERVICES: readonly DescService[] = [AuthorizeService, Authorization, KeyService];

/** Serves constant answers for the given method paths; the answers are decoded once, here. */
function echoServices(answers: Readonly<Record<string, Uint8Array>>): ServedService[] {
  const services: ServedService[] = [];
  for (const service of SERVICES) {
    const handlers: Record<string, () => unknown> = {};
    for (const method of service.methods) {
      const bytes = answers[`/${service.typeName}/${method.name}`];
      if (bytes === undefined) continue;
      const answer = fromBinary(method.output, bytes);
      handlers[method.localName] = () => answer;
    }
    // served() wants every method of the service; the adapter skips the ones without a handler.
    if (Object.keys(handlers).length > 0)
      services.push(served(service, handlers as unknown as ServiceHandlers<typeof service>));
  }
  return services;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { listen: { type: "string" }, responses: { type: "string" } },
  });
  if (values.listen === undefined || values.responses === undefined) {
    process.stderr.write("usage: echo-server.ts --listen host:port --responses answers.json\n");
    process.exit(2);
  }
  const encoded = JSON.parse(readFileSync(values.responses, "utf8")) as Record<string, string>;
  const answers = Object.fromEntries(
    Object.entries(encoded).map(([path, base64]) => [path, Buffer.from(base64, "base64")]),
  );
  const log = createLogger("info");
  const server = new grpc.Server();
  const toError = (error: unknown, method: string) => toRpcError(error, log, method);
  for (const service of echoServices(answers)) addGrpcService(server, service, toError);
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(values.listen as string, grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
  log.info("echo serving", { grpc: values.listen, methods: Object.keys(answers) });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main();
