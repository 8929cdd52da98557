import type { IssuedKey, IssueKeyInput } from "../../src/domain/issue-key.js";
import { prepareKey } from "../../src/domain/issue-key.js";
import type { ApiKey } from "../../src/domain/key.js";

/** The default `now` of fixtures: a fixed instant, so records are the same from run to run. */
export const FIXTURE_NOW = Date.UTC(2025, 0, 1);

/** Record fields that prepareKey always sets itself; makeKey spreads these over the prepared key. */
type RecordOverrides = Partial<Pick<ApiKey, "keyId" | "status" | "revokeTime" | "revokeReason">>;

/** What a test may change: any IssueKeyInput field, a few record-only fields, and the issue time. */
export type KeyOverrides = Partial<IssueKeyInput> & RecordOverrides & { readonly now?: number };

const DEFAULT_INPUT: IssueKeyInput = {
  workspace: "acme",
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

/**
 * A valid key record and its secret, built by the same prepareKey that IssueKey uses, so the
 * secret parses and hashes to keyHash. Throws when the overrides make the input invalid.
 */
export function makeKey(overrides: KeyOverrides = {}): IssuedKey {
  const { now = FIXTURE_NOW, keyId, status, revokeTime, revokeReason, ...input } = overrides;
  const prepared = prepareKey({ ...DEFAULT_INPUT, ...input }, now);
  if (!prepared.ok) throw new Error(`makeKey: ${prepared.error.message}`);
  const record: RecordOverrides = {
    ...(keyId !== undefined && { keyId }),
    ...(status !== undefined && { status }),
    ...(revokeTime !== undefined && { revokeTime }),
    ...(revokeReason !== undefined && { revokeReason }),
  };
  return { secret: prepared.value.secret, key: { ...prepared.value.key, ...record } };
}
