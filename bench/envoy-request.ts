import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type CheckRequest, CheckRequestSchema } from "../src/gen/envoy/service/auth/v3/external_auth_pb.js";

// The CheckRequest Envoy's ext_authz filter (grpc_service, v3 API, headers map) sends for an
// HTTP/1.1 request arriving over TLS: the same shape as test/envoy/envoy-request.ts (which needs
// vitest, hence this copy), with the credential in x-api-key and the route's required scope in
// its context extensions, as deploy/envoy/envoy.yaml sets them per route.

const AUTHORITY = "api.example.com";
const REQUEST_ID = "4f9d7b0e-51c1-4c4a-9a58-0b1f3c2e7d61";

/** A realistic Envoy CheckRequest for `GET /v1/orders?limit=20` carrying the given key. */
export function envoyCheckRequest(apiKey: string, requiredScope: string): CheckRequest {
  const headers: Record<string, string> = {
    ":authority": AUTHORITY,
    ":method": "GET",
    ":path": "/v1/orders?limit=20",
    ":scheme": "https",
    accept: "application/json, text/plain;q=0.9, */*;q=0.8",
    "accept-encoding": "gzip, deflate, br",
    "accept-language": "en-GB,en;q=0.9,de;q=0.7",
    "user-agent":
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "x-forwarded-for": "203.0.113.54, 198.51.100.17",
    "x-forwarded-proto": "https",
    "x-request-id": REQUEST_ID,
    "x-envoy-expected-rq-timeout-ms": "15000",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
    "x-b3-spanid": "e457b5a2e4d86bd1",
    "x-b3-sampled": "1",
    cookie: "session=3f7a9c1e5b2d4f6a8c0e1b3d5f7a9c1e; theme=dark; consent=analytics%3Dno",
    "x-api-key": apiKey,
  };
  return create(CheckRequestSchema, {
    attributes: {
      source: { address: socketAddress("203.0.113.54", 53514), principal: "" },
      destination: { address: socketAddress("10.0.4.21", 10000) },
      request: {
        time: timestampFromDate(new Date()),
        http: {
          id: REQUEST_ID,
          method: "GET",
          headers,
          path: "/v1/orders?limit=20",
          host: AUTHORITY,
          scheme: "https",
          size: 0n,
          protocol: "HTTP/1.1",
        },
      },
      contextExtensions: { "keyward.scopes": requiredScope },
    },
  });
}

function socketAddress(address: string, port: number) {
  return {
    address: {
      case: "socketAddress" as const,
      value: { address, portSpecifier: { case: "portValue" as const, value: port } },
    },
  };
}
