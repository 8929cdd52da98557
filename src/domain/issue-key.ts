import type { Admin } from "./admin-access.js";
import { checkWorkspace } from "./admin-access.js";
import type { ApiKey } from "./key.js";
import {
  DEFAULT_PREFIX,
  displayPrefix,
  type Environment,
  generateKey,
  prefixError,
  randomBase62,
} from "./key-format.js";
import { hashKey } from "./key-hash.js";
import type { KeyStore } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { scopesError } from "./scope.js";

export const DEFAULT_WORKSPACE = "default";
const WORKSPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CLASS_PATTERN = /^[A-Za-z0-9_.:/-]{1,100}$/;
const LIMITS = {
  name: 200,
  description: 2000,
  ownerId: 200,
  scopes: 100,
  classes: 100,
  metadata: 64,
} as const;
const METADATA_KEY_MAX = 128;
const METADATA_VALUE_MAX = 1024;

/** What a caller asks for when issuing a key, already converted from the wire. */
export interface IssueKeyInput {
  readonly workspace: string;
  readonly name: string;
  readonly description: string;
  readonly scopes: readonly string[];
  readonly classes: readonly string[];
  /** undefined: the default, live. */
  readonly environment: Environment | undefined;
  readonly prefix: string;
  readonly expireTime: number | undefined;
  readonly ttlMs: number | undefined;
  readonly ownerId: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A new key and its secret; the secret is returned to the caller once and never stored. */
export interface IssuedKey {
  readonly key: ApiKey;
  readonly secret: string;
}

/** Validates the input and builds the key record and its secret, without storing anything. */
export function prepareKey(input: IssueKeyInput, now: number): Outcome<IssuedKey> {
  const workspace = input.workspace === "" ? DEFAULT_WORKSPACE : input.workspace;
  const error = inputError(input, workspace, now);
  if (error !== undefined) return fail("invalid_argument", error);
  const prefix = input.prefix === "" ? DEFAULT_PREFIX : input.prefix;
  const environment = input.environment ?? "live";
  const secret = generateKey(prefix, environment);
  const expireTime = input.ttlMs !== undefined ? now + input.ttlMs : (input.expireTime ?? null);
  return ok({
    secret,
    key: {
      keyId: `key_${randomBase62(24)}`,
      workspace,
      name: input.name,
      description: input.description,
      keyPrefix: displayPrefix(secret),
      keyHash: hashKey(secret),
      scopes: [...new Set(input.scopes)],
      classes: [...new Set(input.classes)],
      environment,
      status: "active",
      createTime: now,
      expireTime,
      revokeTime: null,
      revokeReason: "",
      ownerId: input.ownerId,
      metadata: { ...input.metadata },
    },
  });
}

/** Issues a key in the admin's workspace and stores it before returning. */
export async function issueKey(
  store: KeyStore,
  admin: Admin,
  input: IssueKeyInput,
  now: number,
): Promise<Outcome<IssuedKey>> {
  const denied = checkWorkspace(admin, input.workspace === "" ? DEFAULT_WORKSPACE : input.workspace);
  if (denied !== undefined) return { ok: false, error: denied };
  const prepared = prepareKey(input, now);
  if (prepared.ok) await store.insertKey(prepared.value.key);
  return prepared;
}

/** A message naming the first thing wrong with the workspace id, or undefined. */
export function workspaceError(workspace: string): string | undefined {
  return WORKSPACE_PATTERN.test(workspace)
    ? undefined
    : `workspace "${workspace.slice(0, 64)}" must be 1–64 characters of letters, digits, _, . and -`;
}

function inputError(input: IssueKeyInput, workspace: string, now: number): string | undefined {
  const name = input.name.trim();
  if (name === "") return "name is required";
  if ([...input.name].length > LIMITS.name) return `name is longer than ${LIMITS.name} characters`;
  if ([...input.description].length > LIMITS.description) {
    return `description is longer than ${LIMITS.description} characters`;
  }
  const badWorkspace = workspaceError(workspace);
  if (badWorkspace) return badWorkspace;
  if (input.prefix !== "") {
    const badPrefix = prefixError(input.prefix);
    if (badPrefix) return badPrefix;
  }
  if (input.scopes.length > LIMITS.scopes) return `at most ${LIMITS.scopes} scopes`;
  const badScope = scopesError(input.scopes);
  if (badScope) return badScope;
  if (input.classes.length > LIMITS.classes) return `at most ${LIMITS.classes} classes`;
  for (const cls of input.classes) {
    if (!CLASS_PATTERN.test(cls)) {
      return `invalid class "${cls.slice(0, 100)}": 1–100 characters of letters, digits, _ . : / -`;
    }
  }
  if (input.expireTime !== undefined && input.ttlMs !== undefined) return "set expire_time or ttl, not both";
  if (input.expireTime !== undefined && input.expireTime <= now) return "expire_time must be in the future";
  if (input.ttlMs !== undefined && input.ttlMs <= 0) return "ttl must be positive";
  if (input.ownerId.length > LIMITS.ownerId) return `owner_id is longer than ${LIMITS.ownerId} characters`;
  return metadataError(input.metadata);
}

function metadataError(metadata: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(metadata);
  if (keys.length > LIMITS.metadata) return `at most ${LIMITS.metadata} metadata entries`;
  for (const key of keys) {
    if (key === "" || key.length > METADATA_KEY_MAX)
      return `metadata keys must be 1–${METADATA_KEY_MAX} characters`;
    if ((metadata[key] as string).length > METADATA_VALUE_MAX) {
      return `metadata value of "${key}" is longer than ${METADATA_VALUE_MAX} characters`;
    }
  }
  return undefined;
}
