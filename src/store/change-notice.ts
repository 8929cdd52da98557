import { randomBytes } from "node:crypto";

// What a committed change tells the other replicas on one PostgreSQL database (issue 14): the key
// hashes it touched, or that everything is to be forgotten (a workspace changed). Sent with NOTIFY
// inside the change's transaction (store/database.ts, notifyChange), so it is delivered only on commit;
// heard by one LISTEN connection per replica (cache/replica-listener.ts).

/** The NOTIFY channel every replica listens on. */
export const CHANGE_CHANNEL = "keyward_invalidate";

/** The keys a change touched, or `all`; the same shape as the cache's Invalidation. */
export interface ChangeNotice {
  readonly hashes: readonly string[];
  readonly all: boolean;
}

/**
 * PostgreSQL refuses a payload of 8000 bytes or more; the database adds the schema's name (at most
 * 63 bytes) and the sender's id to what is encoded here, so this leaves room for both.
 */
const MAX_PAYLOAD_BYTES = 7600;

/** Who sent a notice: unique per process, so that a log line or a replica can tell its own. */
export const SENDER = randomBytes(6).toString("hex");

/** The payload: `{"h":[…]}`, or `{"all":true}` when the hashes would not fit (forgetting more is always safe). */
export function encodeChangeNotice(change: ChangeNotice): string {
  if (!change.all) {
    const payload = JSON.stringify({ h: change.hashes, from: SENDER });
    if (Buffer.byteLength(payload) <= MAX_PAYLOAD_BYTES) return payload;
  }
  return JSON.stringify({ all: true, from: SENDER });
}

/**
 * The change a payload names, when it was sent for `schema` (replicas of other deployments may share
 * the database in schemas of their own); undefined for another schema's. A payload that cannot be
 * read means everything: it was sent by a change, and forgetting all is safe.
 */
export function decodeChangeNotice(payload: string, schema: string): ChangeNotice | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return { hashes: [], all: true };
  }
  const notice = (typeof parsed === "object" && parsed !== null ? parsed : {}) as {
    h?: unknown;
    all?: unknown;
    schema?: unknown;
  };
  if (typeof notice.schema === "string" && notice.schema !== schema) return undefined;
  const hashes = notice.h;
  if (notice.all === true || !Array.isArray(hashes) || !hashes.every((h) => typeof h === "string"))
    return { hashes: [], all: true };
  return { hashes, all: false };
}
