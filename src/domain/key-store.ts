import type { AuditAction, AuditEvent } from "./audit.js";
import type { ApiKey, KeyStatus, VerifiedKey } from "./key.js";
import type { Environment } from "./key-format.js";
import type { MaybePromise } from "./maybe-promise.js";
import type { Outcome } from "./outcome.js";
import type { UsageCounts } from "./usage-delta.js";
import type { Workspace } from "./workspace.js";

/** A position in a newest-first listing: the last item of the previous page. */
export interface Cursor {
  readonly time: number;
  readonly id: string;
}

/** Which keys to list, newest first (create_time, then key_id, descending). */
export interface KeyQuery {
  readonly workspace: string;
  readonly status: KeyStatus | undefined;
  readonly environment: Environment | undefined;
  readonly namePrefix: string;
  readonly ownerId: string;
  readonly after: Cursor | undefined;
  readonly limit: number;
}

/** Which audit events to list, newest first. */
export interface AuditQuery {
  readonly workspace: string;
  readonly action: AuditAction | undefined;
  readonly targetId: string;
  /** Inclusive lower and exclusive upper bound, in ms; undefined for none. */
  readonly startTime: number | undefined;
  readonly endTime: number | undefined;
  readonly after: Cursor | undefined;
  readonly limit: number;
}

/** Reads, inside or outside a transaction. */
export interface StoreReader {
  findKeyById(keyId: string): Promise<ApiKey | undefined>;
  findWorkspace(workspaceId: string): Promise<Workspace | undefined>;
  /** Keys of the workspace neither revoked nor expired at `now` (suspended ones count). */
  countActiveKeys(workspace: string, now: number): Promise<number>;
  /** A page of keys and the number matching the filters over all pages. */
  listKeys(query: KeyQuery): Promise<{ keys: ApiKey[]; total: number }>;
  listWorkspaces(
    after: string | undefined,
    limit: number,
  ): Promise<{ workspaces: Workspace[]; total: number }>;
  listAuditEvents(query: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Each key's counts as of `now`, as last flushed (KEYWARD_USAGE_FLUSH): what other processes have
   * tallied since is not in it yet. Keys never used are absent.
   */
  usageOf(keyIds: readonly string[], now: number): Promise<Map<string, UsageCounts>>;
}

/** Writes; only inside a transaction, so that a change and its audit event stand or fall together. */
export interface StoreTransaction extends StoreReader {
  insertKey(key: ApiKey): Promise<void>;
  /** Replaces the stored record of key.keyId. */
  updateKey(key: ApiKey): Promise<void>;
  insertWorkspace(workspace: Workspace): Promise<void>;
  updateWorkspace(workspace: Workspace): Promise<void>;
  recordEvent(event: AuditEvent): Promise<void>;
}

/**
 * The store operations the domain needs. Implementations throw only on I/O
 * failure; expected failures travel as Outcome values.
 */
export interface KeyStore extends StoreReader {
  /**
   * The hot-path lookup: what decisions need of a key, by hash, with its workspace's state.
   * Synchronous where the engine reads synchronously (SQLite), so a miss costs no promise.
   */
  findKeyByHash(keyHash: string): MaybePromise<VerifiedKey | undefined>;
  /**
   * Runs work in one transaction. It commits when work resolves with a
   * successful Outcome, and rolls back when it fails or throws.
   */
  transaction<T>(work: (tx: StoreTransaction) => Promise<Outcome<T>>): Promise<Outcome<T>>;
}
