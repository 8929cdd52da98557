import { readdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { envoyCheckRequest, envoyClient } from "../envoy/envoy-request.js";
import { TEST_DIALECT } from "../support/databases.js";
import { openRaw } from "../support/raw-sql.js";
import { useServer } from "../support/use-server.js";

// Issue #10, defect 6: a live secret pasted into any other field is never echoed in a response, written to
// the log or stored outside the hash column; an identifier shaped like a key is refused with INVALID_ARGUMENT.

const server = useServer();
let admin: string;
let global: string;
/** A real, active key: the secret that must not travel. */
let leaked: string;
/** Its random part alone, to catch an echo that cuts the key short. */
let leakedCore: string;
let targetKeyId: string;

/** Clients over real gRPC, with a bearer key and a user agent. */
function clients(bearer: string, userAgent = "secret-input-test") {
  return server.clients(bearer, userAgent);
}

/** Everything a caller sees of a call: the response as JSON, or the error's code and message. */
async function seen(call: () => Promise<unknown>): Promise<{ code: Code | 0; text: string }> {
  try {
    const response = await call();
    return { code: 0, text: JSON.stringify(response, (_, v) => (typeof v === "bigint" ? `${v}` : v)) };
  } catch (error) {
    const { code, message, rawMessage } = error as { code: Code; message: string; rawMessage: string };
    return { code, text: `${message} ${rawMessage}` };
  }
}

function expectNotLeaked(text: string, what: string) {
  expect(text.includes(leaked), what).toBe(false);
  expect(text.includes(leakedCore), what).toBe(false);
}

beforeAll(async () => {
  admin = server.admin;
  global = await server.bootstrapGlobal();
  const key = await clients(admin).keys.issueKey({ name: "the leaked one", scopes: ["orders:read"] });
  leaked = key.secret;
  leakedCore = leaked.slice("kw_live_".length, "kw_live_".length + 43);
  const target = await clients(admin).keys.issueKey({ name: "a target", scopes: ["orders:read"] });
  targetKeyId = target.key?.keyId ?? "";
});

describe("a secret pasted into the wrong field", () => {
  it("is refused as INVALID_ARGUMENT in every identifier and stored field, without being echoed", async () => {
    const { keys, workspaces, audit } = clients(admin);
    const root = clients(global);
    const mask = (...paths: string[]) => ({ paths });
    const refused: [string, () => Promise<unknown>][] = [
      ["GetKey key_id", () => keys.getKey({ keyId: leaked })],
      ["RevokeKey key_id", () => keys.revokeKey({ keyId: leaked })],
      ["SuspendKey key_id", () => keys.suspendKey({ keyId: leaked })],
      ["ResumeKey key_id", () => keys.resumeKey({ keyId: leaked })],
      ["RotateKey key_id", () => keys.rotateKey({ keyId: leaked })],
      [
        "UpdateKey key_id",
        () => keys.updateKey({ key: { keyId: leaked, name: "x" }, updateMask: mask("name") }),
      ],
      ["IssueKey workspace", () => keys.issueKey({ name: "x", workspace: leaked })],
      ["IssueKey workspace (global admin)", () => root.keys.issueKey({ name: "x", workspace: leaked })],
      ["IssueKey name", () => keys.issueKey({ name: leaked })],
      ["IssueKey name, inside text", () => keys.issueKey({ name: `my key is ${leaked}!` })],
      ["IssueKey description", () => keys.issueKey({ name: "x", description: `see ${leaked}` })],
      ["IssueKey prefix", () => keys.issueKey({ name: "x", prefix: leaked })],
      ["IssueKey scopes", () => keys.issueKey({ name: "x", scopes: [leaked] })],
      ["IssueKey scopes, as a segment", () => keys.issueKey({ name: "x", scopes: [`orders:${leaked}`] })],
      ["IssueKey classes", () => keys.issueKey({ name: "x", classes: [leaked] })],
      ["IssueKey owner_id", () => keys.issueKey({ name: "x", ownerId: leaked })],
      ["IssueKey metadata key", () => keys.issueKey({ name: "x", metadata: { [leaked]: "v" } })],
      ["IssueKey metadata value", () => keys.issueKey({ name: "x", metadata: { token: leaked } })],
      [
        "UpdateKey name",
        () => keys.updateKey({ key: { keyId: targetKeyId, name: leaked }, updateMask: mask("name") }),
      ],
      [
        "UpdateKey scopes",
        () => keys.updateKey({ key: { keyId: targetKeyId, scopes: [leaked] }, updateMask: mask("scopes") }),
      ],
      [
        "UpdateKey owner_id",
        () => keys.updateKey({ key: { keyId: targetKeyId, ownerId: leaked }, updateMask: mask("owner_id") }),
      ],
      [
        "UpdateKey metadata",
        () =>
          keys.updateKey({
            key: { keyId: targetKeyId, metadata: { a: leaked } },
            updateMask: mask("metadata"),
          }),
      ],
      [
        "UpdateKey update_mask",
        () => keys.updateKey({ key: { keyId: targetKeyId }, updateMask: mask(leaked) }),
      ],
      ["RevokeKey reason", () => keys.revokeKey({ keyId: targetKeyId, reason: `leaked: ${leaked}` })],
      ["SuspendKey reason", () => keys.suspendKey({ keyId: targetKeyId, reason: leaked })],
      ["ListKeys workspace", () => root.keys.listKeys({ workspace: leaked })],
      [
        "CreateWorkspace workspace_id",
        () => root.workspaces.createWorkspace({ workspace: { workspaceId: leaked } }),
      ],
      [
        "CreateWorkspace display_name",
        () => root.workspaces.createWorkspace({ workspace: { workspaceId: "w1", displayName: leaked } }),
      ],
      ["GetWorkspace workspace_id", () => root.workspaces.getWorkspace({ workspaceId: leaked })],
      ["GetWorkspace workspace_id (workspace admin)", () => workspaces.getWorkspace({ workspaceId: leaked })],
      [
        "UpdateWorkspace workspace_id",
        () =>
          root.workspaces.updateWorkspace({
            workspace: { workspaceId: leaked, displayName: "x" },
            updateMask: mask("display_name"),
          }),
      ],
      ["SuspendWorkspace workspace_id", () => root.workspaces.suspendWorkspace({ workspaceId: leaked })],
      [
        "SuspendWorkspace reason",
        () => root.workspaces.suspendWorkspace({ workspaceId: "default", reason: leaked }),
      ],
      ["ResumeWorkspace workspace_id", () => root.workspaces.resumeWorkspace({ workspaceId: leaked })],
      ["ListAuditEvents action", () => audit.listAuditEvents({ action: leaked })],
      ["ListAuditEvents workspace", () => root.audit.listAuditEvents({ workspace: leaked })],
      [
        "Authorize required_scopes",
        () => clients(admin).authorize.authorize({ apiKey: admin, requiredScopes: [leaked] }),
      ],
    ];
    for (const [what, call] of refused) {
      const { code, text } = await seen(call);
      expect(code, what).toBe(Code.InvalidArgument);
      expectNotLeaked(text, what);
    }
  });

  it("is not echoed where it is only looked up or matched", async () => {
    const { keys, audit, health, authorize } = clients(admin);
    const calls: [string, () => Promise<unknown>][] = [
      ["ListKeys name_prefix", () => keys.listKeys({ namePrefix: leaked, pageSize: 1 })],
      ["ListKeys owner_id", () => keys.listKeys({ ownerId: leaked, pageSize: 1 })],
      ["ListAuditEvents target_id", () => audit.listAuditEvents({ targetId: leaked })],
      ["Authorize workspace", () => authorize.authorize({ apiKey: leaked, workspace: leaked })],
      ["Authorize class", () => authorize.authorize({ apiKey: leaked, class: leaked })],
      ["Health service", () => health.check({ service: leaked })],
    ];
    for (const [what, call] of calls) expectNotLeaked((await seen(call)).text, what);
  });

  it("in a route's keyward.scopes is refused by Check without being echoed", async () => {
    const envoy = server.own(envoyClient(server.grpcAddress));
    const result = await envoy.result(
      envoyCheckRequest({
        headers: { "x-api-key": leaked },
        contextExtensions: { "keyward.scopes": leaked },
      }),
    );
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe(Code.InvalidArgument);
      expectNotLeaked(result.details, "Check keyward.scopes");
    }
  });

  it("in the user agent is not stored in the audit trail", async () => {
    // Over the Connect listener with plain fetch: the gRPC clients put their own user agent first.
    const response = await fetch(`${server.httpUrl}/keyward.v1.KeyService/IssueKey`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${admin}`,
        "user-agent": `curl/8 ${leaked}`,
      },
      body: JSON.stringify({ name: "via a leaky agent" }),
    });
    expect(response.status).toBe(200);
    const { key } = (await response.json()) as { key: { keyId: string } };
    const events = await clients(admin).audit.listAuditEvents({ targetId: key.keyId });
    expect(events.events[0]?.userAgent).toContain("curl/8");
    expectNotLeaked(events.events.map((event) => event.userAgent).join(" "), "audit user agent");
  });

  it("after all of the above, appears in no log line and nowhere in the database (its files, with SQLite)", async () => {
    expectNotLeaked(server.logs.join(""), "server log");
    if (TEST_DIALECT === "postgres") {
      // The server's files are not ours to read: every row of every table instead.
      const raw = await openRaw(server.database);
      try {
        expectNotLeaked(await raw.rows(), "database rows");
      } finally {
        await raw.close();
      }
      return;
    }
    const file = server.database.replace(/^sqlite:/, "");
    const dir = dirname(file);
    const files = readdirSync(dir).filter((name) => name.startsWith("keyward.db"));
    expect(files).toContain("keyward.db");
    for (const name of files) expectNotLeaked(readFileSync(`${dir}/${name}`).toString("latin1"), name);
  });
});
