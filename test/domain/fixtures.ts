import type { ApiKey, VerifiedKey } from "../../src/domain/key.js";
import { generateKey } from "../../src/domain/key-format.js";
import { digestKey, hashKey } from "../../src/domain/key-hash.js";
import type { KeyResolver } from "../../src/domain/key-resolver.js";
import { verifiedKey } from "../support/fixtures.js";

/** The fixed "now" of domain tests: no test reads the wall clock. */
export const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

/** An active, never-expiring key record; the overrides say what a test cares about. */
export function apiKey(overrides: Partial<ApiKey> = {}): ApiKey {
  const createTime = overrides.createTime ?? NOW - 86_400_000;
  return {
    keyId: "key_test",
    workspace: "acme",
    name: "test key",
    description: "",
    keyPrefix: "kw_live_abcdef",
    keyHash: "",
    scopes: [],
    classes: [],
    environment: "live",
    status: "active",
    createTime,
    expireTime: null,
    revokeTime: null,
    revokeReason: "",
    ownerId: "",
    metadata: {},
    updateTime: createTime,
    suspendTime: null,
    suspendReason: "",
    lastUsedTime: null,
    rotatedFromKeyId: "",
    rotatedToKeyId: "",
    ...overrides,
  };
}

/** A key's record fields plus the state of its workspace, which decides too. */
export type KeyCase = Partial<ApiKey> & { readonly workspaceSuspended?: boolean };

/** A KeyResolver over a Map of hash → VerifiedKey that counts its calls. */
export interface MemoryResolver extends KeyResolver {
  /** Registers a key with a fresh secret and returns the secret. */
  add(overrides?: KeyCase): string;
  readonly calls: number;
}

/** `async: true` answers with a Promise, as a resolver does on a cache miss. */
export function memoryResolver(options: { readonly async?: boolean } = {}): MemoryResolver {
  const keys = new Map<string, VerifiedKey>();
  let calls = 0;
  return {
    add({ workspaceSuspended = false, ...overrides } = {}) {
      const secret = generateKey("kw", "live");
      const keyHash = hashKey(secret);
      const digest = digestKey(secret);
      keys.set(digest, verifiedKey({ key: apiKey({ ...overrides, keyHash }), workspaceSuspended }));
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
