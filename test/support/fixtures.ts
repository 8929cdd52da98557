import type { Admin } from "../../src/domain/admin-access.js";
import type { Caller } from "../../src/domain/audit.js";
import type { IssuedKey, IssueKeyInput } from "../../src/domain/issue-key.js";
import { prepareKey } from "../../src/domain/issue-key.js";
import { type ApiKey, compileClasses, type VerifiedKey } from "../../src/domain/key.js";
import type { KeyStore } from "../../src/domain/key-store.js";
import { type Outcome, ok } from "../../src/domain/outcome.js";
import { compileScopes } from "../../src/domain/scope.js";
import { newWorkspace, type Workspace } from "../../src/domain/workspace.js";

/** The default `now` of fixtures: a fixed instant, so records are the same from run to run. */
export const FIXTURE_NOW = Date.UTC(2025, 0, 1);

/** The workspace of makeKey's keys unless a test names another; TEST_ADMIN manages it. */
export const FIXTURE_WORKSPACE = "default";

/** A workspace admin of FIXTURE_WORKSPACE, as authenticateAdmin would return it. */
export const TEST_ADMIN: Admin = { keyId: "key_admin", workspace: FIXTURE_WORKSPACE, global: false };

/** The caller recorded in audit events written by tests. */
export const TEST_CALLER: Caller = { actorKeyId: "key_admin", peer: "test", userAgent: "test" };

/** Record fields that prepareKey always sets itself; makeKey spreads these over the prepared key. */
type RecordOverrides = Partial<
  Pick<
    ApiKey,
    | "keyId"
    | "status"
    | "revokeTime"
    | "revokeReason"
    | "updateTime"
    | "suspendTime"
    | "suspendReason"
    | "lastUsedTime"
    | "rotatedFromKeyId"
    | "rotatedToKeyId"
  >
>;

/** What a test may change: any IssueKeyInput field, a few record-only fields, and the issue time. */
export type KeyOverrides = Partial<IssueKeyInput> & RecordOverrides & { readonly now?: number };

const DEFAULT_INPUT: IssueKeyInput = {
  workspace: FIXTURE_WORKSPACE,
  name: "test key",
  description: "",
  scopes: ["models:read"],
  classes: [],
  environment: undefined,
  prefix: "",
  expireTime: undefined,
  ttlMs: undefined,
  ownerId: "user_test",
  metadata: {},
};

/** What IssueKey is asked in tests: a valid input, with overrides. */
export function issueInput(overrides: Partial<IssueKeyInput> = {}): IssueKeyInput {
  return { ...DEFAULT_INPUT, ...overrides };
}

/**
 * A valid key record and its secret, built by the same prepareKey that IssueKey uses, so the
 * secret parses and hashes to keyHash. Throws when the overrides make the input invalid.
 */
export function makeKey(overrides: KeyOverrides = {}): IssuedKey {
  const {
    now = FIXTURE_NOW,
    keyId,
    status,
    revokeTime,
    revokeReason,
    updateTime,
    suspendTime,
    suspendReason,
    lastUsedTime,
    rotatedFromKeyId,
    rotatedToKeyId,
    ...input
  } = overrides;
  const prepared = prepareKey({ ...DEFAULT_INPUT, ...input }, now);
  if (!prepared.ok) throw new Error(`makeKey: ${prepared.error.message}`);
  const record: RecordOverrides = {
    ...(keyId !== undefined && { keyId }),
    ...(status !== undefined && { status }),
    ...(revokeTime !== undefined && { revokeTime }),
    ...(revokeReason !== undefined && { revokeReason }),
    ...(updateTime !== undefined && { updateTime }),
    ...(suspendTime !== undefined && { suspendTime }),
    ...(suspendReason !== undefined && { suspendReason }),
    ...(lastUsedTime !== undefined && { lastUsedTime }),
    ...(rotatedFromKeyId !== undefined && { rotatedFromKeyId }),
    ...(rotatedToKeyId !== undefined && { rotatedToKeyId }),
  };
  return { secret: prepared.value.secret, key: { ...prepared.value.key, ...record } };
}

/**
 * What the store's hot lookup answers for a key record, built field by field (unshared terms),
 * for tests to compare that answer with.
 */
export function verifiedKey({
  key,
  workspaceSuspended,
}: {
  readonly key: ApiKey;
  readonly workspaceSuspended: boolean;
}): VerifiedKey {
  return {
    keyId: key.keyId,
    terms: {
      workspace: key.workspace,
      environment: key.environment,
      status: key.status,
      expireTime: key.expireTime,
      ownerId: key.ownerId,
      metadata: key.metadata,
      scopes: compileScopes(key.scopes),
      classes: compileClasses(key.classes),
      workspaceSuspended,
    },
  };
}

/** An active workspace created at FIXTURE_NOW unless `now` says otherwise. */
export function makeWorkspace(
  workspaceId: string,
  overrides: Partial<Workspace> & { readonly now?: number } = {},
): Workspace {
  const { now = FIXTURE_NOW, ...fields } = overrides;
  return { ...newWorkspace(workspaceId, now), ...fields };
}

/** Stores keys and workspaces in one committed transaction, as setup for a test. */
export async function seed(
  store: KeyStore,
  records: { readonly keys?: readonly ApiKey[]; readonly workspaces?: readonly Workspace[] },
): Promise<void> {
  const done = await store.transaction(async (tx) => {
    for (const workspace of records.workspaces ?? []) await tx.insertWorkspace(workspace);
    for (const key of records.keys ?? []) await tx.insertKey(key);
    return ok(undefined);
  });
  if (!done.ok) throw new Error(`seed: ${done.error.message}`);
}

/** The value of a successful Outcome; throws with the failure's code and message otherwise. */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new Error(`expected ok, got ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.value;
}
