import {
  create,
  type DescEnum,
  type DescField,
  type DescMessage,
  equals,
  fromBinary,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  AddressSchema,
  EnvoyInternalAddressSchema,
  PipeSchema,
  SocketAddress_ProtocolSchema,
  SocketAddressSchema,
} from "../../src/gen/envoy/config/core/v3/address_pb.js";
import {
  HeaderMapSchema,
  HeaderValueOption_HeaderAppendAction,
  HeaderValueOption_HeaderAppendActionSchema,
  HeaderValueOptionSchema,
  HeaderValueSchema,
  MetadataSchema,
  QueryParameterSchema,
} from "../../src/gen/envoy/config/core/v3/base_pb.js";
import {
  AttributeContext_HttpRequestSchema,
  AttributeContext_PeerSchema,
  AttributeContext_RequestSchema,
  AttributeContext_TLSSessionSchema,
  AttributeContextSchema,
} from "../../src/gen/envoy/service/auth/v3/attribute_context_pb.js";
import {
  Authorization,
  CheckRequestSchema,
  CheckResponseSchema,
  DeniedHttpResponseSchema,
  OkHttpResponseSchema,
} from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import {
  HttpStatusSchema,
  StatusCode,
  StatusCodeSchema,
} from "../../src/gen/envoy/type/v3/http_status_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";

// Envoy's ext_authz wire contract, pinned. The expected tables were checked by hand against Envoy's
// published protos (the sources are named in each proto/envoy file's header). A renumbered or retyped
// field still compiles and still round-trips against itself, and then every Envoy Check fails in
// production; these tables are what catch it. Change them only against upstream.

/** One line per field: number, name, label and type, oneof membership. */
function signature(field: DescField): string {
  const oneof = field.oneof ? ` (oneof ${field.oneof.name})` : "";
  return `${field.number} ${field.name} ${typeOf(field)}${oneof}`;
}

function typeOf(field: DescField): string {
  const scalar = (t: ScalarType) => ScalarType[t].toLowerCase();
  switch (field.fieldKind) {
    case "scalar":
      return scalar(field.scalar);
    case "enum":
      return field.enum.typeName;
    case "message":
      return field.message.typeName;
    case "list":
      return `repeated ${field.listKind === "scalar" ? scalar(field.scalar) : field.listKind === "enum" ? field.enum.typeName : field.message.typeName}`;
    case "map":
      return `map<${scalar(field.mapKey)}, ${field.mapKind === "scalar" ? scalar(field.scalar) : field.mapKind === "enum" ? field.enum.typeName : field.message.typeName}>`;
  }
}

function fieldsOf(schema: DescMessage): string[] {
  return [...schema.fields].sort((a, b) => a.number - b.number).map(signature);
}

function valuesOf(schema: DescEnum): string[] {
  return schema.values.map((v) => `${v.name} = ${v.number}`);
}

const CORE = "envoy.config.core.v3";
const AUTH = "envoy.service.auth.v3";

const expectedFields: [DescMessage, string, string[]][] = [
  [CheckRequestSchema, `${AUTH}.CheckRequest`, [`1 attributes ${AUTH}.AttributeContext`]],
  [
    DeniedHttpResponseSchema,
    `${AUTH}.DeniedHttpResponse`,
    ["1 status envoy.type.v3.HttpStatus", `2 headers repeated ${CORE}.HeaderValueOption`, "3 body string"],
  ],
  [
    OkHttpResponseSchema,
    `${AUTH}.OkHttpResponse`,
    [
      `2 headers repeated ${CORE}.HeaderValueOption`,
      "5 headers_to_remove repeated string",
      `6 response_headers_to_add repeated ${CORE}.HeaderValueOption`,
      `7 query_parameters_to_set repeated ${CORE}.QueryParameter`,
      "8 query_parameters_to_remove repeated string",
    ],
  ],
  [
    CheckResponseSchema,
    `${AUTH}.CheckResponse`,
    [
      "1 status google.rpc.Status",
      `2 denied_response ${AUTH}.DeniedHttpResponse (oneof http_response)`,
      `3 ok_response ${AUTH}.OkHttpResponse (oneof http_response)`,
      "4 dynamic_metadata google.protobuf.Struct",
      `5 error_response ${AUTH}.DeniedHttpResponse (oneof http_response)`,
    ],
  ],
  [
    AttributeContextSchema,
    `${AUTH}.AttributeContext`,
    [
      `1 source ${AUTH}.AttributeContext.Peer`,
      `2 destination ${AUTH}.AttributeContext.Peer`,
      `4 request ${AUTH}.AttributeContext.Request`,
      "10 context_extensions map<string, string>",
      `11 metadata_context ${CORE}.Metadata`,
      `12 tls_session ${AUTH}.AttributeContext.TLSSession`,
      `13 route_metadata_context ${CORE}.Metadata`,
    ],
  ],
  [
    AttributeContext_PeerSchema,
    `${AUTH}.AttributeContext.Peer`,
    [
      `1 address ${CORE}.Address`,
      "2 service string",
      "3 labels map<string, string>",
      "4 principal string",
      "5 certificate string",
    ],
  ],
  [
    AttributeContext_RequestSchema,
    `${AUTH}.AttributeContext.Request`,
    ["1 time google.protobuf.Timestamp", `2 http ${AUTH}.AttributeContext.HttpRequest`],
  ],
  [
    AttributeContext_HttpRequestSchema,
    `${AUTH}.AttributeContext.HttpRequest`,
    [
      "1 id string",
      "2 method string",
      "3 headers map<string, string>",
      "4 path string",
      "5 host string",
      "6 scheme string",
      "7 query string",
      "8 fragment string",
      "9 size int64",
      "10 protocol string",
      "11 body string",
      "12 raw_body bytes",
      `13 header_map ${CORE}.HeaderMap`,
    ],
  ],
  [AttributeContext_TLSSessionSchema, `${AUTH}.AttributeContext.TLSSession`, ["1 sni string"]],
  [
    MetadataSchema,
    `${CORE}.Metadata`,
    [
      "1 filter_metadata map<string, google.protobuf.Struct>",
      "2 typed_filter_metadata map<string, google.protobuf.Any>",
    ],
  ],
  [QueryParameterSchema, `${CORE}.QueryParameter`, ["1 key string", "2 value string"]],
  [HeaderValueSchema, `${CORE}.HeaderValue`, ["1 key string", "2 value string", "3 raw_value bytes"]],
  [
    HeaderValueOptionSchema,
    `${CORE}.HeaderValueOption`,
    [
      `1 header ${CORE}.HeaderValue`,
      "2 append google.protobuf.BoolValue",
      `3 append_action ${CORE}.HeaderValueOption.HeaderAppendAction`,
      "4 keep_empty_value bool",
    ],
  ],
  [HeaderMapSchema, `${CORE}.HeaderMap`, [`1 headers repeated ${CORE}.HeaderValue`]],
  [
    AddressSchema,
    `${CORE}.Address`,
    [
      `1 socket_address ${CORE}.SocketAddress (oneof address)`,
      `2 pipe ${CORE}.Pipe (oneof address)`,
      `3 envoy_internal_address ${CORE}.EnvoyInternalAddress (oneof address)`,
    ],
  ],
  [
    SocketAddressSchema,
    `${CORE}.SocketAddress`,
    [
      `1 protocol ${CORE}.SocketAddress.Protocol`,
      "2 address string",
      "3 port_value uint32 (oneof port_specifier)",
      "4 named_port string (oneof port_specifier)",
      "5 resolver_name string",
      "6 ipv4_compat bool",
      "7 network_namespace_filepath string",
    ],
  ],
  [PipeSchema, `${CORE}.Pipe`, ["1 path string", "2 mode uint32"]],
  [
    EnvoyInternalAddressSchema,
    `${CORE}.EnvoyInternalAddress`,
    ["1 server_listener_name string (oneof address_name_specifier)", "2 endpoint_id string"],
  ],
  [HttpStatusSchema, "envoy.type.v3.HttpStatus", ["1 code envoy.type.v3.StatusCode"]],
  [
    StatusSchema,
    "google.rpc.Status",
    ["1 code int32", "2 message string", "3 details repeated google.protobuf.Any"],
  ],
];

describe("Envoy ext_authz descriptors match upstream", () => {
  it("serves Check at Envoy's method path, unary", () => {
    const check = Authorization.method.check;
    expect(`/${Authorization.typeName}/${check.name}`).toBe("/envoy.service.auth.v3.Authorization/Check");
    expect(check.methodKind).toBe("unary");
    expect(check.input).toBe(CheckRequestSchema);
    expect(check.output).toBe(CheckResponseSchema);
  });

  it.each(expectedFields.map(([schema, typeName, fields]) => ({ schema, typeName, fields })))(
    "$typeName",
    ({ schema, typeName, fields }) => {
      expect(schema.typeName).toBe(typeName);
      expect(fieldsOf(schema)).toEqual(fields);
    },
  );

  it("reserves OkHttpResponse's deprecated dynamic_metadata number", () => {
    expect(OkHttpResponseSchema.proto.reservedRange.map((r) => [r.start, r.end])).toEqual([[3, 4]]);
    expect(OkHttpResponseSchema.proto.reservedName).toEqual(["dynamic_metadata"]);
  });

  it("keeps the enums' names and numbers", () => {
    expect(valuesOf(HeaderValueOption_HeaderAppendActionSchema)).toEqual([
      "APPEND_IF_EXISTS_OR_ADD = 0",
      "ADD_IF_ABSENT = 1",
      "OVERWRITE_IF_EXISTS_OR_ADD = 2",
      "OVERWRITE_IF_EXISTS = 3",
    ]);
    expect(valuesOf(SocketAddress_ProtocolSchema)).toEqual(["TCP = 0", "UDP = 1"]);
    expect(valuesOf(StatusCodeSchema)).toEqual([
      "Empty = 0",
      "Continue = 100",
      "OK = 200",
      "Created = 201",
      "Accepted = 202",
      "NonAuthoritativeInformation = 203",
      "NoContent = 204",
      "ResetContent = 205",
      "PartialContent = 206",
      "MultiStatus = 207",
      "AlreadyReported = 208",
      "IMUsed = 226",
      "MultipleChoices = 300",
      "MovedPermanently = 301",
      "Found = 302",
      "SeeOther = 303",
      "NotModified = 304",
      "UseProxy = 305",
      "TemporaryRedirect = 307",
      "PermanentRedirect = 308",
      "BadRequest = 400",
      "Unauthorized = 401",
      "PaymentRequired = 402",
      "Forbidden = 403",
      "NotFound = 404",
      "MethodNotAllowed = 405",
      "NotAcceptable = 406",
      "ProxyAuthenticationRequired = 407",
      "RequestTimeout = 408",
      "Conflict = 409",
      "Gone = 410",
      "LengthRequired = 411",
      "PreconditionFailed = 412",
      "PayloadTooLarge = 413",
      "URITooLong = 414",
      "UnsupportedMediaType = 415",
      "RangeNotSatisfiable = 416",
      "ExpectationFailed = 417",
      "MisdirectedRequest = 421",
      "UnprocessableEntity = 422",
      "Locked = 423",
      "FailedDependency = 424",
      "UpgradeRequired = 426",
      "PreconditionRequired = 428",
      "TooManyRequests = 429",
      "RequestHeaderFieldsTooLarge = 431",
      "InternalServerError = 500",
      "NotImplemented = 501",
      "BadGateway = 502",
      "ServiceUnavailable = 503",
      "GatewayTimeout = 504",
      "HTTPVersionNotSupported = 505",
      "VariantAlsoNegotiates = 506",
      "InsufficientStorage = 507",
      "LoopDetected = 508",
      "NotExtended = 510",
      "NetworkAuthenticationRequired = 511",
    ]);
  });
});

/** The headers an Envoy HTTP filter sends for a typical HTTP/2 GET through the mesh. */
const HEADERS: [string, string][] = [
  [":authority", "api.example.com"],
  [":method", "GET"],
  [":path", "/v1/orders/42?expand=items&page=2"],
  [":scheme", "https"],
  ["accept", "application/json"],
  ["accept-encoding", "gzip, deflate, br"],
  ["authorization", "Bearer kw_live_00000000000000000000000000000000"],
  ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"],
  ["x-request-id", "6f1c2a8e-3b7d-4c9a-9e21-0d5f8b7a4c13"],
  ["x-forwarded-for", "203.0.113.7"],
  ["x-forwarded-proto", "https"],
  ["x-envoy-expected-rq-timeout-ms", "15000"],
  ["x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"],
  ["x-b3-spanid", "e457b5a2e4d86bd1"],
  ["x-b3-sampled", "1"],
];

function envoyCheckRequest() {
  const utf8 = new TextEncoder();
  return create(CheckRequestSchema, {
    attributes: {
      source: {
        address: {
          address: {
            case: "socketAddress",
            value: { address: "203.0.113.7", portSpecifier: { case: "portValue", value: 51234 } },
          },
        },
        principal: "spiffe://cluster.local/ns/shop/sa/frontend",
      },
      destination: {
        address: {
          address: {
            case: "socketAddress",
            value: { address: "10.0.3.17", portSpecifier: { case: "portValue", value: 8443 } },
          },
        },
        labels: { app: "orders", version: "v2" },
      },
      request: {
        time: { seconds: 1_735_689_600n, nanos: 123_000_000 },
        http: {
          id: "6f1c2a8e-3b7d-4c9a-9e21-0d5f8b7a4c13",
          method: "GET",
          headers: Object.fromEntries(HEADERS),
          // encode_raw_headers sends key and raw_value only; one value is not valid UTF-8.
          headerMap: {
            headers: [
              ...HEADERS.map(([key, value]) => ({ key, rawValue: utf8.encode(value) })),
              { key: "x-legacy", rawValue: new Uint8Array([0x63, 0x61, 0x66, 0xe9]) },
            ],
          },
          path: "/v1/orders/42?expand=items&page=2",
          host: "api.example.com",
          scheme: "https",
          size: -1n,
          protocol: "HTTP/2",
        },
      },
      contextExtensions: { route: "orders-read", keyward_scopes: "orders:read" },
      metadataContext: {
        filterMetadata: { "envoy.filters.http.jwt_authn": { sub: "user-1", admin: false } },
      },
      tlsSession: { sni: "api.example.com" },
    },
  });
}

describe("Envoy CheckRequest round trip", () => {
  it("decodes what it encodes, field for field and byte for byte", () => {
    const request = envoyCheckRequest();
    const bytes = toBinary(CheckRequestSchema, request);
    const decoded = fromBinary(CheckRequestSchema, bytes);

    expect(equals(CheckRequestSchema, decoded, request)).toBe(true);
    expect(toBinary(CheckRequestSchema, decoded)).toEqual(bytes);
    expect(decoded.$unknown).toBeUndefined();

    const http = decoded.attributes?.request?.http;
    expect(Object.keys(http?.headers ?? {})).toHaveLength(15);
    expect(http?.headers[":path"]).toBe("/v1/orders/42?expand=items&page=2");
    expect(http?.headerMap?.headers.at(-1)?.rawValue).toEqual(new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
    expect(decoded.attributes?.source?.address?.address).toMatchObject({
      case: "socketAddress",
      value: { address: "203.0.113.7", portSpecifier: { case: "portValue", value: 51234 } },
    });
    expect(decoded.attributes?.contextExtensions).toEqual({
      route: "orders-read",
      keyward_scopes: "orders:read",
    });
  });
});

describe("bytes assembled from the protobuf wire spec", () => {
  // A tag is (field_number << 3) | wire_type; wire type 2 (LEN) is followed by a varint length.
  // These bytes prove the numbers without trusting the generator that produced the schemas.

  it("decodes a tiny CheckRequest", () => {
    // biome-ignore format: one field per line, annotated
    const bytes = new Uint8Array([
      0x0a, 0x0d,                   // CheckRequest.attributes = 1: (1 << 3) | 2 = 0x0a, 13 bytes
      0x22, 0x0b,                   //   AttributeContext.request = 4: (4 << 3) | 2 = 0x22, 11 bytes
      0x12, 0x09,                   //     Request.http = 2: (2 << 3) | 2 = 0x12, 9 bytes
      0x12, 0x03, 0x47, 0x45, 0x54, //       HttpRequest.method = 2: 0x12, 3 bytes, "GET"
      0x22, 0x02, 0x2f, 0x78,       //       HttpRequest.path = 4: 0x22, 2 bytes, "/x"
    ]);

    const request = fromBinary(CheckRequestSchema, bytes);

    expect(request.attributes?.request?.http?.method).toBe("GET");
    expect(request.attributes?.request?.http?.path).toBe("/x");
    expect(request.$unknown).toBeUndefined();
    const http = create(AttributeContext_HttpRequestSchema, { method: "GET", path: "/x" });
    const encoded = toBinary(
      CheckRequestSchema,
      create(CheckRequestSchema, { attributes: { request: { http } } }),
    );
    expect(encoded).toEqual(bytes);
  });

  it("encodes a denial as Envoy reads it", () => {
    // biome-ignore format: one field per line, annotated
    const bytes = new Uint8Array([
      0x0a, 0x02,                   // CheckResponse.status = 1: (1 << 3) | 2, 2 bytes
      0x08, 0x10,                   //   Status.code = 1: (1 << 3) | 0, varint 16 (UNAUTHENTICATED)
      0x12, 0x09,                   // CheckResponse.denied_response = 2: (2 << 3) | 2, 9 bytes
      0x0a, 0x03,                   //   DeniedHttpResponse.status = 1, 3 bytes
      0x08, 0x91, 0x03,             //     HttpStatus.code = 1: varint 401 (0x91 0x03)
      0x1a, 0x02, 0x6e, 0x6f,       //   DeniedHttpResponse.body = 3: (3 << 3) | 2, "no"
    ]);
    const response = create(CheckResponseSchema, {
      status: { code: 16 },
      httpResponse: {
        case: "deniedResponse",
        value: { status: { code: StatusCode.Unauthorized }, body: "no" },
      },
    });

    expect(toBinary(CheckResponseSchema, response)).toEqual(bytes);
  });

  it("decodes error_response as field 5 and an append_action as field 3", () => {
    const errorResponse = fromBinary(CheckResponseSchema, new Uint8Array([0x2a, 0x00])); // (5 << 3) | 2, empty
    expect(errorResponse.httpResponse.case).toBe("errorResponse");

    const option = fromBinary(HeaderValueOptionSchema, new Uint8Array([0x18, 0x02])); // (3 << 3) | 0, varint 2
    expect(option.appendAction).toBe(HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD);
  });
});
