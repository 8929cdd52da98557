import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { usePolicyFile } from "../support/policy-file.js";
import { useServer } from "../support/use-server.js";
import {
  type Echoed,
  type ProxyName,
  proxyBinary,
  type RunningProxy,
  startEchoUpstream,
  startProxy,
} from "./real-proxies.js";

// Issue 13: the example configurations deploy/nginx/keyward.conf and deploy/caddy/Caddyfile, run in
// the real proxies in front of Keyward's /authz endpoints and an upstream that echoes what it got.

const PROXIES: ProxyName[] = ["nginx", "caddy"];
const installed = PROXIES.filter((name) => proxyBinary(name) !== undefined);
const absent = PROXIES.filter((name) => !installed.includes(name));
if (absent.length > 0) {
  // CI installs both (.ci/run): there a missing proxy is a failure, never a skip.
  if (process.env.CI === "true")
    throw new Error(`not installed: ${absent.join(", ")} (.ci/run installs them)`);
  console.warn(
    `skipped: real-proxy tests for ${absent.join(", ")}, not installed (apt-get install nginx caddy)`,
  );
}

const POLICY = `
rules:
  - path: /v1/status
    public: true
  - path: /v1/**
    scopes: [things:read]
`;

const policy = usePolicyFile(POLICY);
/** The proxies' configurations, pid files and temp folders. */
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-proxies-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keyward = useServer({ env: () => ({ KEYWARD_POLICY: policy(), KEYWARD_TRUSTED_PROXIES: "1" }) });
let upstream: { port: number; server: Server };
beforeAll(async () => {
  upstream = await startEchoUpstream();
});
afterAll(() => new Promise<void>((resolve) => upstream.server.close(() => resolve())));

const spoofed = {
  "x-keyward-key-id": "kw_spoofed",
  "x-keyward-workspace": "spoofed",
  "x-keyward-scopes": "admin:*",
  "x-keyward-owner-id": "spoofed",
  "x-keyward-status": "200",
  "x-keyward-body": "{}",
};

// One suite per proxy, skipped (with the line above) when it is not installed.
for (const name of PROXIES)
  describe.skipIf(!installed.includes(name))(`${name} with its example configuration`, () => {
    let proxy: RunningProxy;
    let reader: { secret: string; keyId: string };

    beforeAll(async () => {
      const keywardPort = Number(new URL(keyward.httpUrl).port);
      const ports = { proxy: await freePort(), keyward: keywardPort, app: upstream.port };
      proxy = await startProxy(name, join(dir, name), ports);
      const { keys } = keyward.clients(keyward.admin);
      const issued = await keys.issueKey({ name: "reader", scopes: ["orders:read"], ownerId: "team-shop" });
      reader = { secret: issued.secret, keyId: issued.key?.keyId ?? "" };
    });
    afterAll(() => proxy?.stop());

    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${proxy.url}${path}`, { headers, redirect: "manual" });
    const echoed = async (response: Response): Promise<Echoed> => {
      expect(response.status).toBe(200);
      return (await response.json()) as Echoed;
    };

    it("passes a valid key: the upstream gets the identity, not the credential or spoofed identity headers", async () => {
      const seen = await echoed(
        await get("/v1/orders/7?expand=items", { "x-api-key": reader.secret, ...spoofed }),
      );
      expect(seen.url).toBe("/v1/orders/7?expand=items");
      expect(seen.headers).toMatchObject({
        "x-keyward-key-id": reader.keyId,
        "x-keyward-workspace": "default",
        "x-keyward-scopes": "orders:read",
        "x-keyward-owner-id": "team-shop",
      });
      expect(seen.headers["x-api-key"]).toBeUndefined();
      expect(seen.headers["x-keyward-status"]).toBeUndefined();
      expect(seen.headers["x-keyward-body"]).toBeUndefined();
      expect(seen.headers["x-ratelimit-limit"]).toBeUndefined();
    });

    it("takes a bearer token and does not pass it on; an identity header Keyward leaves out stays out", async () => {
      const { keys } = keyward.clients(keyward.admin);
      const ownerless = await keys.issueKey({ name: "no owner", scopes: ["orders:read"] });
      const seen = await echoed(
        await get("/v1/orders", {
          authorization: `Bearer ${ownerless.secret}`,
          "x-keyward-owner-id": "spoofed",
        }),
      );
      expect(seen.headers["x-keyward-key-id"]).toBe(ownerless.key?.keyId);
      expect(seen.headers.authorization).toBeUndefined();
      expect(seen.headers["x-keyward-owner-id"]).toBeUndefined();
    });

    it("gives Keyward the client's address as the proxy saw it: a spoofed x-forwarded-for does not pass a CIDR rule", async () => {
      const { keys } = keyward.clients(keyward.admin);
      const issue = async (cidr: string) =>
        (await keys.issueKey({ name: cidr, scopes: ["orders:read"], allowedCidrs: [cidr] })).secret;
      const loopback = await issue("127.0.0.0/8");
      const office = await issue("10.0.0.0/8");
      expect((await get("/v1/orders", { "x-api-key": loopback })).status).toBe(200);
      const spoofing = await get("/v1/orders", { "x-api-key": office, "x-forwarded-for": "10.1.2.3" });
      expect(spoofing.status).toBe(403);
      expect(await spoofing.json()).toMatchObject({ error: { code: "ip_not_allowed" } });
    });

    it("answers no key 401 with www-authenticate and Keyward's JSON body", async () => {
      const answer = await get("/v1/orders/7", spoofed);
      expect(answer.status).toBe(401);
      expect(answer.headers.get("www-authenticate")).toContain("Bearer");
      expect(answer.headers.get("content-type")).toContain("application/json");
      expect(await answer.json()).toMatchObject({ error: { code: "missing_credential" } });
    });

    it("answers a missing scope 403 with the JSON body naming it", async () => {
      const answer = await get("/v1/reports/q3", { "x-api-key": reader.secret });
      expect(answer.status).toBe(403);
      expect(await answer.json()).toMatchObject({
        error: {
          code: "insufficient_scope",
          details: { required_scopes: ["reports:read"], missing_scopes: ["reports:read"] },
        },
      });
    });

    it("lets the policy file decide routes the configuration names no scopes for: a public route passes without a key", async () => {
      const seen = await echoed(await get("/v1/status", spoofed));
      expect(seen.url).toBe("/v1/status");
      // No key, no identity: the spoofed headers are gone, not passed on.
      for (const header of Object.keys(spoofed)) expect(seen.headers[header]).toBeUndefined();
      const other = await get("/v1/things", { "x-api-key": reader.secret });
      expect(other.status).toBe(403);
      expect(await other.json()).toMatchObject({ error: { details: { missing_scopes: ["things:read"] } } });
    });

    it("denies a revoked key on the very next request", async () => {
      const { keys } = keyward.clients(keyward.admin);
      const issued = await keys.issueKey({ name: "to revoke", scopes: ["orders:read"] });
      expect((await get("/v1/orders", { "x-api-key": issued.secret })).status).toBe(200);
      await keys.revokeKey({ keyId: issued.key?.keyId ?? "" });
      const answer = await get("/v1/orders", { "x-api-key": issued.secret });
      expect(answer.status).toBe(401);
      expect(await answer.json()).toMatchObject({ error: { code: "key_revoked" } });
    });

    it("answers a rate-limited key 429 with retry-after and Keyward's JSON body", async () => {
      const { keys } = keyward.clients(keyward.admin);
      const limited = await keys.issueKey({
        name: "limited",
        scopes: ["orders:read"],
        rateLimit: { limit: 2n, window: { seconds: 60n } },
      });
      const ask = () => get("/v1/orders", { "x-api-key": limited.secret });
      const first = await ask();
      expect(first.status).toBe(200);
      expect(first.headers.get("x-ratelimit-limit")).toBe("2");
      expect(first.headers.get("x-ratelimit-remaining")).toBe("1");
      expect((await first.json()) as Echoed).toMatchObject({
        headers: { "x-keyward-key-id": limited.key?.keyId },
      });
      expect((await ask()).status).toBe(200);
      const denied = await ask();
      expect(denied.status).toBe(429);
      expect(Number(denied.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(denied.headers.get("x-ratelimit-remaining")).toBe("0");
      expect(await denied.json()).toMatchObject({ error: { code: "rate_limited" } });
    });

    it("fails closed when Keyward cannot be reached: an error, and the upstream is not asked", async () => {
      const ports = { proxy: await freePort(), keyward: await freePort(), app: upstream.port };
      const orphan = await startProxy(name, join(dir, `${name}-orphan`), ports);
      try {
        let reached = false;
        const onRequest = () => {
          reached = true;
        };
        upstream.server.on("request", onRequest);
        const answer = await fetch(`${orphan.url}/v1/orders`, { headers: { "x-api-key": reader.secret } });
        upstream.server.off("request", onRequest);
        expect(answer.status).toBeGreaterThanOrEqual(500);
        expect(reached).toBe(false);
      } finally {
        await orphan.stop();
      }
    });
  });
