import { create, type DescFile, type DescMessage, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { REQUEST_LIMITS } from "../domain/request-limits.js";
import { quoted } from "../domain/secret-input.js";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { type ServedService, served } from "./handler.js";

/**
 * gRPC server reflection, v1 and v1alpha (grpcurl before 1.8.8 speaks only
 * v1alpha). Files are served exactly as the runtime holds them, with their
 * whole dependency closure, so strict clients (buf curl, grpcurl) can link them.
 */
export function reflectionServices(services: readonly DescService[]): ServedService[] {
  const all = [...services, ReflectionV1, ReflectionV1alpha];
  const index = indexFiles(all.map((service) => service.file));
  const names = all.map((service) => service.typeName);
  return [
    served(ReflectionV1, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield create(v1.ServerReflectionResponseSchema, answer(index, names, request) as never);
        }
      },
    }),
    served(ReflectionV1alpha, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield create(v1alpha.ServerReflectionResponseSchema, answer(index, names, request) as never);
        }
      },
    }),
  ];
}

interface FileIndex {
  /** File name → the file and its transitive dependencies, file first, serialized. */
  readonly closures: Map<string, Uint8Array[]>;
  /** Fully-qualified symbol → file name. */
  readonly symbols: Map<string, string>;
  /** Extendee type → extension number → file name. */
  readonly extensions: Map<string, Map<number, string>>;
}

type Request = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;

function answer(index: FileIndex, serviceNames: readonly string[], request: Request) {
  const base = { validHost: request.host, originalRequest: request };
  const files = (name: string | undefined, what: string) => {
    const closure = name === undefined ? undefined : index.closures.get(name);
    if (closure === undefined) {
      return {
        ...base,
        messageResponse: {
          case: "errorResponse",
          value: { errorCode: 5, errorMessage: `${quoted(what, REQUEST_LIMITS.echoedChars)} not found` },
        },
      };
    }
    return {
      ...base,
      messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: closure } },
    };
  };
  const message = request.messageRequest;
  switch (message.case) {
    case "listServices":
      return {
        ...base,
        messageResponse: {
          case: "listServicesResponse",
          value: { service: serviceNames.map((name) => ({ name })) },
        },
      };
    case "fileByFilename":
      return files(message.value, `file ${message.value}`);
    case "fileContainingSymbol":
      return files(index.symbols.get(stripDot(message.value)), `symbol ${message.value}`);
    case "fileContainingExtension": {
      const byNumber = index.extensions.get(stripDot(message.value.containingType));
      return files(
        byNumber?.get(message.value.extensionNumber),
        `extension ${message.value.extensionNumber}`,
      );
    }
    case "allExtensionNumbersOfType": {
      const type = stripDot(message.value);
      if (!index.symbols.has(type)) return files(undefined, `type ${message.value}`);
      const numbers = [...(index.extensions.get(type)?.keys() ?? [])];
      return {
        ...base,
        messageResponse: {
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: type, extensionNumber: numbers },
        },
      };
    }
    case undefined:
      return {
        ...base,
        messageResponse: { case: "errorResponse", value: { errorCode: 3, errorMessage: "empty request" } },
      };
  }
}

function stripDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

function indexFiles(roots: readonly DescFile[]): FileIndex {
  const byName = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (byName.has(file.proto.name)) return;
    byName.set(file.proto.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const root of roots) visit(root);

  const bytes = new Map<string, Uint8Array>();
  for (const [name, file] of byName) bytes.set(name, toBinary(FileDescriptorProtoSchema, file.proto));
  const closures = new Map<string, Uint8Array[]>();
  const symbols = new Map<string, string>();
  const extensions = new Map<string, Map<number, string>>();
  for (const file of byName.values()) {
    const fileName = file.proto.name;
    const closure = new Set<string>();
    const collect = (f: DescFile) => {
      if (closure.has(f.proto.name)) return;
      closure.add(f.proto.name);
      for (const dependency of f.dependencies) collect(dependency);
    };
    collect(file);
    closures.set(
      fileName,
      [...closure].map((name) => bytes.get(name) as Uint8Array),
    );
    const addMessage = (message: DescMessage) => {
      symbols.set(message.typeName, fileName);
      for (const field of message.fields) symbols.set(`${message.typeName}.${field.name}`, fileName);
      for (const nested of message.nestedMessages) addMessage(nested);
      for (const nested of message.nestedEnums) symbols.set(nested.typeName, fileName);
      for (const extension of message.nestedExtensions)
        addExtension(extension.typeName, extension.extendee, extension.number);
    };
    const addExtension = (typeName: string, extendee: DescMessage, number: number) => {
      symbols.set(typeName, fileName);
      const byNumber = extensions.get(extendee.typeName) ?? new Map<number, string>();
      byNumber.set(number, fileName);
      extensions.set(extendee.typeName, byNumber);
    };
    for (const message of file.messages) addMessage(message);
    for (const enumeration of file.enums) symbols.set(enumeration.typeName, fileName);
    for (const extension of file.extensions)
      addExtension(extension.typeName, extension.extendee, extension.number);
    for (const service of file.services) {
      symbols.set(service.typeName, fileName);
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, fileName);
    }
  }
  return { closures, symbols, extensions };
}
