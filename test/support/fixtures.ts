import type { Admin } from "../../src/domain/admin-access.js";
import type { Caller } from "../../src/domain/audit.js";
import { compileAllowedCidrs } from "../../src/domain/cidr.js";
import type { IssuedKey, IssueKeyInput } from "../../src/domain/issue-key.js";
import { prepareKey } from "../../src/domain/issue-key.js";
import { type ApiKey, compileClasses, type VerifiedKey } from "../../src/domain/key.js";
import { digestKey } from "../../src/domain/key-hash.js";
import { limitsOf } from "../../src/domain/key-limits.js";
import type { KeyResolver } from "../../src/domain/key-resolver.js";
import type { KeyStore } from "../../src/domain/key-store.js";
import { type Outcome, ok } from "../../src/domain/outcome.js";
import { compileScopes } from "../../src/domain/scope.js";
import { newWorkspace, type Workspace } from "../../src/domain/workspace.js";

// The one set of key fixtures for tests that run without a server: records built by the same
// prepareKey that IssueKey uses, one fixed clock and one default workspace.

/** The fixed `now` of fixtures and of the tests that use them: no such test reads the wall clock. */
export const FIXTURE_NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

/** The workspace of fixture keys unless a test names another; TEST_ADMIN manages it. */
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
      ...limitsOf(key),
      allowedFrom: compileAllowedCidrs(key.allowedCidrs),
    },
  };
}

/**
 * A verified key with its compiled CIDR matcher left out, for comparing a lookup with verifiedKey():
 * two compilations of the same CIDRs are different functions. Test the matcher by calling it.
 */
export function withoutMatcher(found: VerifiedKey | undefined): unknown {
  if (found === undefined) return undefined;
  const { allowedFrom: _compiled, ...terms } = found.terms;
  return { ...found, terms };
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

/** A key's record fields plus the state of its workspace, which decides too. */
export type KeyCase = Partial<ApiKey> & { readonly workspaceSuspended?: boolean };

/** A KeyResolver over a Map of digest → VerifiedKey that counts its calls. */
export interface MemoryResolver extends KeyResolver {
  /**
   * Registers a key and returns its secret: makeKey's record, issued a day before FIXTURE_NOW with id
   * `key_test` and no scopes, with the case's fields over it.
   */
  add(keyCase?: KeyCase): string;
  readonly calls: number;
}

const DAY_MS = 86_400_000;

/** `async: true` answers with a Promise, as a resolver does on a cache miss. */
export function memoryResolver(options: { readonly async?: boolean } = {}): MemoryResolver {
  const keys = new Map<string, VerifiedKey>();
  let calls = 0;
  return {
    add({ workspaceSuspended = false, ...fields } = {}) {
      const { secret, key } = makeKey({ keyId: "key_test", scopes: [], now: FIXTURE_NOW - DAY_MS });
      keys.set(digestKey(secret), verifiedKey({ key: { ...key, ...fields }, workspaceSuspended }));
      return secret;
    },
    resolve(digest) {
      calls++;
      const found = keys.get(digest);
      return options.async ? Promise.resolve(found) : found;
    },
    get calls() {
      return calls;
    },
  };
}
