import type { Kysely } from "kysely";
import { LRUCache } from "lru-cache";
import { compileAllowedCidrs } from "../domain/cidr.js";
import { compileClasses, type KeyStatus, type KeyTerms, type VerifiedKey } from "../domain/key.js";
import type { Environment } from "../domain/key-format.js";
import { sameHash } from "../domain/key-hash.js";
import type { KeyStore } from "../domain/key-store.js";
import type { MaybePromise } from "../domain/maybe-promise.js";
import { compileScopes, type ScopeSet } from "../domain/scope.js";
import { StoreError } from "../domain/unavailable.js";
import type { PreparedRead, QueryOnlyConnection } from "./database.js";
import { cidrsFromRow, creditsFromRow, rateLimitFromRow } from "./rows.js";
import type { Database } from "./schema.js";

/** The hot-path read: only the columns a decision and its answer need, and the workspace's status. */
function verifiedKeyQuery(db: Kysely<Database>, keyHash: string) {
  return db
    .selectFrom("api_keys")
    .leftJoin("workspaces", "workspaces.workspace_id", "api_keys.workspace")
    .select([
      "api_keys.key_id",
      "api_keys.key_hash",
      "api_keys.workspace",
      "api_keys.environment",
      "api_keys.status",
      "api_keys.expire_time",
      "api_keys.owner_id",
      "api_keys.metadata",
      "api_keys.scopes",
      "api_keys.classes",
      "api_keys.tier",
      "api_keys.rate_limit",
      "api_keys.rate_limit_window_ms",
      "api_keys.monthly_quota",
      "api_keys.credits_remaining",
      "api_keys.credits_set_time",
      "api_keys.credit_refill_amount",
      "api_keys.credit_refill_interval",
      "api_keys.allowed_cidrs",
      "workspaces.status as workspace_status",
    ])
    .where("api_keys.key_hash", "=", keyHash);
}

type VerifiedKeyRow = NonNullable<
  Awaited<ReturnType<ReturnType<typeof verifiedKeyQuery>["executeTakeFirst"]>>
>;

/**
 * How many distinct terms and scope lists are interned; a bound, so a store of all-different keys
 * costs no more than unshared ones.
 */
const INTERNED = 10_000;
const EMPTY_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/**
 * KeyStore.findKeyByHash: a prepared statement on the query-only connection when there is one
 * (run synchronously on SQLite), Kysely otherwise. Keys with the same terms (most keys of a workspace) share
 * one KeyTerms object, and keys with the same scopes one ScopeSet, recognised by the stored text, so
 * a load usually parses no JSON and a million cached keys stay small (bench scenario 7).
 * That sharing is interning, not a cache: every call reads the row, and an interned object is
 * found by the row's whole text, so it never answers for a row that changed (src/cache/README.md).
 */
export function createHotLookup(
  db: Kysely<Database>,
  queryOnly: QueryOnlyConnection | undefined,
): KeyStore["findKeyByHash"] {
  const internedTerms = new LRUCache<string, KeyTerms>({ max: INTERNED });
  const internedScopes = new LRUCache<string, ScopeSet>({ max: INTERNED });
  let prepared: PreparedRead | undefined; // on first use: the table exists once the store is migrated

  function scopesOf(text: string): ScopeSet {
    let set = internedScopes.get(text);
    if (set === undefined) {
      set = compileScopes(Object.freeze(JSON.parse(text) as string[]));
      internedScopes.set(text, set);
    }
    return set;
  }

  function termsOf(row: VerifiedKeyRow): KeyTerms {
    const suspended = row.workspace_status === "suspended";
    const expireTime = row.expire_time === null ? null : Number(row.expire_time);
    // The limits are part of the terms: two keys differing only in a limit never share them.
    const limits = `${row.tier}\0${row.rate_limit}\0${row.rate_limit_window_ms}\0${row.monthly_quota}\0${row.credits_remaining}\0${row.credits_set_time}\0${row.credit_refill_amount}\0${row.credit_refill_interval}\0${row.allowed_cidrs}`;
    const id = `${row.workspace}\0${row.environment}\0${row.status}\0${expireTime}\0${suspended}\0${row.owner_id}\0${row.scopes}\0${row.classes}\0${row.metadata}\0${limits}`;
    let found = internedTerms.get(id);
    if (found === undefined) {
      const allowedCidrs = Object.freeze(cidrsFromRow(row.allowed_cidrs));
      found = {
        workspace: row.workspace,
        environment: row.environment as Environment,
        status: row.status as KeyStatus,
        expireTime,
        ownerId: row.owner_id,
        metadata:
          row.metadata === "{}"
            ? EMPTY_METADATA
            : Object.freeze(JSON.parse(row.metadata) as Record<string, string>),
        scopes: scopesOf(row.scopes),
        classes: row.classes === "[]" ? undefined : compileClasses(JSON.parse(row.classes) as string[]),
        workspaceSuspended: suspended,
        tier: row.tier,
        rateLimit: rateLimitFromRow(row),
        monthlyQuota: Number(row.monthly_quota),
        credits: creditsFromRow(row),
        allowedCidrs,
        allowedFrom: compileAllowedCidrs(allowedCidrs),
      };
      internedTerms.set(id, found);
    }
    return found;
  }

  function verified(row: VerifiedKeyRow | undefined, keyHash: string): VerifiedKey | undefined {
    // The index matched the hash; compare again in constant time before trusting the row.
    if (row === undefined || !sameHash(row.key_hash, keyHash)) return undefined;
    return { keyId: row.key_id, terms: termsOf(row) };
  }

  async function viaKysely(keyHash: string): Promise<VerifiedKey | undefined> {
    try {
      return verified(await verifiedKeyQuery(db, keyHash).executeTakeFirst(), keyHash);
    } catch (cause) {
      throw new StoreError("find key by hash", cause);
    }
  }

  const failed = (cause: unknown): never => {
    throw new StoreError("find key by hash", cause);
  };
  return (keyHash) => {
    if (queryOnly === undefined) return viaKysely(keyHash);
    let row: MaybePromise<unknown>;
    try {
      prepared ??= queryOnly.prepare(verifiedKeyQuery(db, "").compile().sql);
      row = prepared([keyHash]);
    } catch (cause) {
      return failed(cause);
    }
    // A promise on PostgreSQL: one round trip on a pooled connection; a row at once on SQLite.
    if (row instanceof Promise)
      return row.then((found) => verified(found as VerifiedKeyRow | undefined, keyHash), failed);
    return verified(row as VerifiedKeyRow | undefined, keyHash);
  };
}
