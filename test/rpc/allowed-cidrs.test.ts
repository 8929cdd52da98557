import { beforeAll, describe, expect, it } from "vitest";
import { Reason } from "../../src/gen/keyward/v1/key_pb.js";
import { envoyCheckRequest, envoyClient, expectAllowed, expectDenied } from "../envoy/envoy-request.js";
import { useServer } from "../support/use-server.js";

// Issue 12: a key with allowed_cidrs is usable only from those networks — through Authorize (the
// caller passes client_ip) and Envoy Check (the connection's address, or x-forwarded-for from trusted
// proxies). Checked after identity, scope and class; an unknown address is outside every network.

const CIDRS = ["10.0.0.0/8", "2001:db8::/32"];
const ORDERS = { "keyward.scopes": "orders:read" };

describe("allowed CIDRs through Authorize", () => {
  const server = useServer();
  let restricted: string;
  let anywhere: string;

  beforeAll(async () => {
    const { keys } = server.clients(server.admin);
    restricted = (await keys.issueKey({ name: "office", scopes: ["orders:read"], allowedCidrs: CIDRS }))
      .secret;
    anywhere = (await keys.issueKey({ name: "mesh", scopes: ["orders:read"] })).secret;
  });

  it.each([
    ["10.1.2.3", true],
    ["::ffff:10.1.2.3", true], // IPv4-mapped IPv6 is the same client
    ["2001:db8:0:1::7", true],
    ["192.168.1.1", false],
    ["2001:db9::1", false],
    ["", false], // unknown
    ["not an address", false],
  ])("client_ip %j: allowed %s", async (clientIp, allowed) => {
    const { authorize } = server.clients();
    const answer = await authorize.authorize({
      apiKey: restricted,
      requiredScopes: ["orders:read"],
      clientIp,
    });
    expect(answer.allowed).toBe(allowed);
    expect(answer.reason).toBe(allowed ? Reason.ALLOWED : Reason.IP_NOT_ALLOWED);
    expect(answer.httpStatus).toBe(allowed ? 200 : 403);
    if (!allowed) expect(answer.message).toBe("API key may not be used from this address");
  });

  it("is checked after scope: a missing scope is reported first", async () => {
    const { authorize } = server.clients();
    const answer = await authorize.authorize({
      apiKey: restricted,
      requiredScopes: ["orders:write"],
      clientIp: "192.168.1.1",
    });
    expect(answer.reason).toBe(Reason.INSUFFICIENT_SCOPE);
  });

  it("leaves a key without CIDRs usable from anywhere, with or without an address", async () => {
    const { authorize } = server.clients();
    for (const clientIp of ["192.168.1.1", ""]) {
      expect((await authorize.authorize({ apiKey: anywhere, clientIp })).reason).toBe(Reason.ALLOWED);
    }
  });

  it("applies a change of allowed_cidrs on the next call", async () => {
    const { keys, authorize } = server.clients(server.admin);
    const { key, secret } = await keys.issueKey({ name: "moving", allowedCidrs: ["192.0.2.0/24"] });
    const ask = async () => (await authorize.authorize({ apiKey: secret, clientIp: "198.51.100.7" })).reason;
    expect(await ask()).toBe(Reason.IP_NOT_ALLOWED);
    await keys.updateKey({
      key: { keyId: key?.keyId ?? "", allowedCidrs: ["198.51.100.0/24"] },
      updateMask: { paths: ["allowed_cidrs"] },
    });
    expect(await ask()).toBe(Reason.ALLOWED);
  });
});

describe("allowed CIDRs through Envoy Check, trusting no proxy (the default)", () => {
  const server = useServer();
  let envoy: ReturnType<typeof envoyClient>;
  let secret: string;

  beforeAll(async () => {
    const { keys } = server.clients(server.admin);
    secret = (await keys.issueKey({ name: "office", scopes: ["orders:read"], allowedCidrs: CIDRS })).secret;
    envoy = server.own(envoyClient(server.grpcAddress));
  });

  const check = (sourceAddress: string, forwardedFor: string) =>
    envoy.check(
      envoyCheckRequest({
        sourceAddress,
        headers: { "x-api-key": secret, "x-forwarded-for": forwardedFor },
        contextExtensions: ORDERS,
      }),
    );

  it("uses the connection's address", async () => {
    expectAllowed(await check("10.9.8.7", "192.168.1.1"));
    expectAllowed(await check("2001:db8::42", "192.168.1.1"));
  });

  it("ignores x-forwarded-for, which the client writes: claiming an allowed address does not help", async () => {
    const body = expectDenied(await check("192.168.1.1", "10.1.2.3"), 403, "ip_not_allowed");
    expect(body.error.message).toBe("API key may not be used from this address");
  });
});

describe("allowed CIDRs through Envoy Check behind one trusted proxy", () => {
  const server = useServer({ env: { KEYWARD_TRUSTED_PROXIES: "1" } });
  let envoy: ReturnType<typeof envoyClient>;
  let secret: string;

  beforeAll(async () => {
    const { keys } = server.clients(server.admin);
    secret = (await keys.issueKey({ name: "office", scopes: ["orders:read"], allowedCidrs: CIDRS })).secret;
    envoy = server.own(envoyClient(server.grpcAddress));
  });

  const check = (forwardedFor: string | undefined) =>
    envoy.check(
      envoyCheckRequest({
        sourceAddress: "172.16.0.2", // the load balancer
        headers: {
          "x-api-key": secret,
          ...(forwardedFor !== undefined && { "x-forwarded-for": forwardedFor }),
        },
        contextExtensions: ORDERS,
      }),
    );

  it("takes the client from the last x-forwarded-for entry, which the trusted proxy wrote", async () => {
    expectAllowed(await check("192.168.1.1, 10.1.2.3"));
    expectDenied(await check("10.1.2.3, 192.168.1.1"), 403, "ip_not_allowed");
  });

  it("denies when the header is missing: the request did not come through the proxy", async () => {
    expectDenied(await check(undefined), 403, "ip_not_allowed");
  });
});
