import { type Kysely, sql } from "kysely";
import type { Outcome } from "../domain/outcome.js";
import { StoreError } from "../domain/unavailable.js";
import { beginWrite, isTransientConflict } from "./database.js";
import { nextTurn } from "./next-turn.js";
import type { Database } from "./schema.js";

/** A unit of work: its writes are kept when it resolves with an ok Outcome. */
export type Work<T> = (trx: Kysely<Database>) => Promise<Outcome<T>>;

/**
 * Runs a unit of work in a transaction of its own, as far as its caller can tell:
 * committed when it resolves ok, rolled back when it fails (returned as is) or
 * throws (rethrown as is); a failure to begin or commit rejects with a StoreError.
 */
export type GroupCommit = <T>(work: Work<T>) => Promise<Outcome<T>>;

export interface GroupCommitOptions {
  /** Most units sharing one commit: bounds how long the first of them waits for the last. */
  readonly maxBatch?: number;
  /** Told the size of every batch that ran its units (metrics: keyward_group_commit_batch_size). */
  readonly onBatch?: ((size: number) => void) | undefined;
}

const DEFAULT_MAX_BATCH = 64;

/**
 * Group commit. With `synchronous = FULL` every COMMIT writes the pages it changed to
 * the WAL and fsyncs it; one transaction per call paid that for every key (IssueKey,
 * bench scenario 5). Calls that arrive while a batch runs are queued and run as the
 * next batch: one BEGIN IMMEDIATE, each unit in a savepoint of its own, one after the
 * other in arrival order (a unit sees the writes of the units before it, e.g. for the
 * key limit), then one COMMIT. A unit's savepoint is released when it resolves ok and
 * rolled back to otherwise, so its change and its audit event still stand or fall
 * together, alone. No call settles before the COMMIT has returned; if that fails,
 * nothing of the batch is kept and every unit that was ok gets a StoreError. A call
 * on an idle store starts at once. A unit must not await another call of the same
 * store: that call waits for the next batch, which waits for this one.
 * On PostgreSQL the same batching holds (one BEGIN, savepoints, one COMMIT); a batch's
 * row locks (lockedForWrite) are held until that COMMIT, and a unit whose statement
 * fails (a deadlock with another process, say) is rolled back to its savepoint alone.
 * Two replicas' batches can deadlock (each holding a key the other's next unit locks):
 * PostgreSQL then fails one unit, which runs again in the next batch, once the locks it
 * waited for are free (up to CONFLICT_RETRIES times; test/store/group-commit.test.ts).
 */
export function createGroupCommit(db: Kysely<Database>, options: GroupCommitOptions = {}): GroupCommit {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const queue: Unit[] = [];
  let draining = false;
  const drain = async () => {
    draining = true;
    try {
      do {
        await runBatch(db, queue, maxBatch, options.onBatch);
        // better-sqlite3 runs a whole batch, COMMIT and fsync included, without returning to the
        // event loop: calls made meanwhile are still requests in socket buffers. One turn of the
        // loop (no timer) lets them reach the queue, to share the next commit.
        await nextTurn();
      } while (queue.length > 0);
    } finally {
      draining = false;
    }
  };
  return (work) =>
    new Promise((resolve, reject) => {
      queue.push(unit(work, resolve, reject));
      if (!draining) void drain();
    });
}

/** How many times a unit that lost a conflict with another transaction runs again. */
export const CONFLICT_RETRIES = 3;

/** How a batch ended for its units: committed, or not (and why). */
type BatchEnd = { readonly committed: true } | { readonly committed: false; readonly cause: unknown };

interface Unit {
  /** Runs the work; true when its writes are to be kept. Never throws. */
  run(trx: Kysely<Database>): Promise<boolean>;
  /** Settles the caller's promise once the batch has ended. */
  settle(end: BatchEnd): void;
  /** Whether it failed only by a conflict with another transaction and may run again (once more counted). */
  retry(): boolean;
}

function unit<T>(
  work: Work<T>,
  resolve: (outcome: Outcome<T>) => void,
  reject: (error: unknown) => void,
): Unit {
  let result: { readonly outcome: Outcome<T> } | { readonly thrown: unknown } | undefined;
  let retries = 0;
  return {
    async run(trx) {
      try {
        result = { outcome: await work(trx) };
        return result.outcome.ok;
      } catch (thrown) {
        result = { thrown };
        return false;
      }
    },
    settle(end) {
      // A failed or throwing unit was rolled back whatever became of the batch: it keeps its own answer.
      if (result !== undefined && "thrown" in result) reject(result.thrown);
      else if (result !== undefined && (end.committed || !result.outcome.ok)) resolve(result.outcome);
      else reject(new StoreError("complete a transaction", end.committed ? undefined : end.cause));
    },
    retry() {
      if (result === undefined || !("thrown" in result) || retries >= CONFLICT_RETRIES) return false;
      if (!isTransientConflict(result.thrown) && !isTransientConflict(causeOf(result.thrown))) return false;
      retries++;
      result = undefined;
      return true;
    },
  };
}

/** Takes up to maxBatch units off the queue, runs them in one transaction and settles each. */
async function runBatch(
  db: Kysely<Database>,
  queue: Unit[],
  maxBatch: number,
  onBatch: ((size: number) => void) | undefined,
): Promise<void> {
  let batch: Unit[] | undefined;
  let end: BatchEnd = { committed: true };
  try {
    await db.connection().execute(async (connection) => {
      try {
        await beginWrite(connection);
      } catch (cause) {
        batch = queue.splice(0, maxBatch);
        end = { committed: false, cause };
        return;
      }
      // Taken once the write lock is ours, so that every unit that came meanwhile shares the commit.
      batch = queue.splice(0, maxBatch);
      onBatch?.(batch.length);
      try {
        await runUnits(connection, batch);
      } catch (cause) {
        end = { committed: false, cause };
        // Fails harmlessly when SQLite has already rolled back (after an I/O error, say).
        await sql`rollback`.execute(connection).catch(() => undefined);
      }
    });
  } catch (cause) {
    // The connection could not even be had: the units waiting now are the ones to tell.
    if (batch === undefined) {
      batch = queue.splice(0, maxBatch);
      end = { committed: false, cause };
    }
  }
  // A unit that lost a conflict runs first in the next batch; its writes here were rolled back.
  const again = (batch ?? []).filter((each) => each.retry());
  queue.unshift(...again);
  for (const each of batch ?? []) if (!again.includes(each)) each.settle(end);
}

/** The error a StoreError (or any error with a cause) wraps. */
function causeOf(error: unknown): unknown {
  return error instanceof Error ? error.cause : undefined;
}

/**
 * Runs the units in the open transaction, one after the other, and commits. Throws when a
 * transaction statement fails: the transaction is then in an unknown state, and the caller
 * rolls the whole of it back.
 */
async function runUnits(connection: Kysely<Database>, batch: readonly Unit[]): Promise<void> {
  const [only, ...others] = batch;
  if (only !== undefined && others.length === 0) {
    // Alone, a unit needs no savepoint: the transaction is its own, as without batching.
    await ((await only.run(connection)) ? sql`commit` : sql`rollback`).execute(connection);
    return;
  }
  for (const unit of batch) {
    await sql`savepoint unit`.execute(connection);
    if (!(await unit.run(connection))) await sql`rollback to savepoint unit`.execute(connection);
    await sql`release savepoint unit`.execute(connection);
  }
  await sql`commit`.execute(connection);
}
