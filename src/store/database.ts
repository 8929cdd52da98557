import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, type KyselyConfig, PostgresAdapter, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { isPostgresUrl, redactedUrl, sqlitePath } from "../database-url.js";
import type { MaybePromise } from "../domain/maybe-promise.js";
import { CHANGE_CHANNEL, type ChangeNotice, encodeChangeNotice } from "./change-notice.js";
import type { Database } from "./schema.js";
import { CurrentSchemaPostgresDialect } from "./schema-introspector.js";

/**
 * An open database: the read-write connection behind Kysely, the hot path's query-only
 * connection beside it, and the one call that closes both.
 */
export interface StoreConnections {
  /** Migrations, transactions and management reads. */
  readonly db: Kysely<Database>;
  /** The hot path's reads (see QueryOnlyConnection); undefined for an in-memory database. */
  readonly queryOnly: QueryOnlyConnection | undefined;
  /**
   * Asks the store a trivial question about the keys table (GET /readyz, transport/readiness.ts):
   * rejects when it cannot answer, e.g. the database is down or the table is gone.
   */
  probe(): Promise<void>;
  /** Closes both connections; a second call waits for the first. */
  close(): Promise<void>;
}

/**
 * The Authorize hot path's reads (store/hot-lookup.ts), beside Kysely: a prepared statement that
 * skips Kysely's per-call work and sees only committed data (never a transaction still open on
 * the read-write connection). On SQLite a second, query-only connection of the same file, run
 * synchronously; on PostgreSQL a named prepared statement on a pooled connection, one round trip.
 */
export interface QueryOnlyConnection {
  /** Prepares a single-row read (SQL compiled by this database's Kysely). */
  prepare(sql: string): PreparedRead;
}

/** A single-row read, prepared once: synchronous on SQLite, a promise on PostgreSQL. */
export type PreparedRead = (parameters: readonly unknown[]) => MaybePromise<unknown>;

export interface DatabaseOptions {
  /** Connections in the PostgreSQL pool (KEYWARD_DATABASE_POOL); SQLite has one writer. */
  readonly poolSize?: number;
  /** Told of every store call: the hot path's key reads (`key_lookup`) and every Kysely query. */
  readonly observe?: StoreObserver | undefined;
}

/** See DatabaseOptions.observe: `seconds` the call took, `failed` when it threw. */
export type StoreObserver = (operation: "key_lookup" | "query", seconds: number, failed: boolean) => void;

/** Kysely's `log` option for an observer: every query's duration, and whether it failed. */
function kyselyLog(observe: StoreObserver | undefined): Pick<KyselyConfig, "log"> {
  if (observe === undefined) return {};
  return { log: (event) => observe("query", event.queryDurationMillis / 1000, event.level === "error") };
}

/** The hot path's read, timed for the observer; a synchronous read (SQLite) stays synchronous. */
function timedRead(read: PreparedRead, observe: StoreObserver | undefined): PreparedRead {
  if (observe === undefined) return read;
  return (parameters) => {
    const started = performance.now();
    let result: MaybePromise<unknown>;
    try {
      result = read(parameters);
    } catch (error) {
      observe("key_lookup", (performance.now() - started) / 1000, true);
      throw error;
    }
    if (!(result instanceof Promise)) {
      observe("key_lookup", (performance.now() - started) / 1000, false);
      return result;
    }
    return result.then(
      (row) => {
        observe("key_lookup", (performance.now() - started) / 1000, false);
        return row;
      },
      (error: unknown) => {
        observe("key_lookup", (performance.now() - started) / 1000, true);
        throw error;
      },
    );
  };
}

/**
 * The only file that knows which database engine is behind Kysely.
 * `sqlite:<path>` opens (and creates) an SQLite file in WAL mode; `postgres://…` a pool of
 * connections to PostgreSQL. Either is tried before this returns, so that a database that cannot
 * be used stops start-up with one line naming it.
 */
export async function openDatabase(url: string, options: DatabaseOptions = {}): Promise<StoreConnections> {
  if (isPostgresUrl(url)) return openPostgres(url, options.poolSize ?? DEFAULT_POOL_SIZE, options.observe);
  const path = sqlitePath(url);
  if (path === undefined)
    throw new Error(`unsupported database URL (expected sqlite:<path> or postgres://…)`);
  let sqlite: SQLite.Database | undefined;
  let reader: SQLite.Database | undefined;
  try {
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true });
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new Error("is a directory");
    }
    sqlite = new SQLite(path);
    sqlite.pragma("journal_mode = WAL");
    // FULL: a commit that returned survives a power loss, not only a process crash.
    sqlite.pragma("synchronous = FULL");
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("foreign_keys = ON");
    probeWrite(sqlite);
    reader = path === ":memory:" ? undefined : openReader(path);
  } catch (error) {
    sqlite?.close();
    // One line naming the file: "a directory", "not a database", "readonly" are all the operator needs.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`database ${path}: ${reason}`, { cause: error });
  }
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: reusingStatements(sqlite) }),
    ...kyselyLog(options.observe),
  });
  const queryOnly = reader && queryOnlyConnection(reader, options.observe);
  let closing: Promise<void> | undefined;
  return {
    db,
    queryOnly,
    probe: () => probe(db),
    close() {
      closing ??= (async () => {
        // The read-write connection last: the last one out checkpoints the WAL, and it is the one that writes.
        reader?.close();
        await db.destroy();
      })();
      return closing;
    },
  };
}

/**
 * The connection as Kysely sees it, with a statement cache: Kysely prepares every query anew,
 * so the same SQL text is prepared once and reused instead (better-sqlite3 runs statements
 * synchronously, so one is never in use twice at a time). It remembers statements, never
 * results: nothing here can answer a decision.
 */
function reusingStatements(sqlite: SQLite.Database) {
  const statements = new Map<string, SQLite.Statement>();
  return {
    prepare(sql: string) {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (statements.size < MAX_CACHED_STATEMENTS) statements.set(sql, statement);
      }
      return statement;
    },
    close: () => {
      sqlite.close();
    },
  };
}

const MAX_CACHED_STATEMENTS = 1000;

function queryOnlyConnection(
  reader: SQLite.Database,
  observe: StoreObserver | undefined,
): QueryOnlyConnection {
  return {
    prepare(sql) {
      const statement = reader.prepare(sql);
      return timedRead((parameters) => statement.get(...parameters), observe);
    },
  };
}

/**
 * Writes and rolls back, so that a file SQLite could open only read-only (permissions, a read-only
 * mount) stops start-up instead of failing the first IssueKey: SQLite opens such a file without
 * complaint, and BEGIN IMMEDIATE alone succeeds on it.
 */
function probeWrite(sqlite: SQLite.Database): void {
  sqlite.exec("begin immediate");
  try {
    const version = sqlite.pragma("user_version", { simple: true }) as number;
    sqlite.pragma(`user_version = ${version}`);
  } finally {
    sqlite.exec("rollback");
  }
}

function openReader(path: string): SQLite.Database {
  const reader = new SQLite(path);
  reader.pragma("busy_timeout = 5000");
  reader.pragma("query_only = ON");
  return reader;
}

/**
 * Begins a write transaction on `connection`. SQLite's BEGIN IMMEDIATE takes the
 * file's write lock at once (waiting up to busy_timeout), so with several server
 * processes on one file a read-then-write such as the workspace key limit cannot
 * interleave with another process's writes; a plain BEGIN would take the lock only
 * at the first write, and fail with SQLITE_BUSY if another process wrote meanwhile.
 * PostgreSQL has no file lock: its transactions lock the rows they read for a write
 * instead (see lockedForWrite).
 */
export async function beginWrite(connection: Kysely<Database>): Promise<void> {
  await (isPostgres(connection) ? sql`begin` : sql`begin immediate`).execute(connection);
}

/**
 * A transaction's read of a row it may then write. On PostgreSQL (READ COMMITTED) it takes the
 * row's lock (FOR UPDATE) until the commit, so that no other transaction or usage flush writes
 * it between this read and the write (a flush's `credits_remaining - ?` would otherwise be
 * overwritten by the value read before it), and concurrent IssueKeys of one workspace take turns
 * on its key limit. SQLite needs nothing: BEGIN IMMEDIATE already holds the whole file.
 */
export function lockedForWrite<Q extends { forUpdate(): Q }>(db: Kysely<Database>, query: Q): Q {
  return isPostgres(db) ? query.forUpdate() : query;
}

/**
 * The schema Kysely's migrator keeps its tables in: PostgreSQL's current schema (the first of the
 * search_path), named so that the migrator never takes another schema's tables for its own;
 * undefined on SQLite, which has one.
 */
export async function migrationSchema(db: Kysely<Database>): Promise<string | undefined> {
  if (!isPostgres(db)) return undefined;
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (schema === undefined || schema === null) throw new Error("no current schema (an empty search_path)");
  return schema;
}

/**
 * Tells the other replicas of a PostgreSQL database about a change, inside its transaction: NOTIFY
 * is delivered only when the transaction commits, and dropped with a savepoint rolled back to. The
 * payload (store/change-notice.ts) gets the current schema added, so that deployments in schemas
 * of their own ignore each other's. Nothing on SQLite: one file has one server (its workers evict
 * each other over IPC).
 */
export async function notifyChange(db: Kysely<Database>, change: ChangeNotice): Promise<void> {
  if (!isPostgres(db)) return;
  const payload = encodeChangeNotice(change);
  await sql`select pg_notify(${CHANGE_CHANNEL}, (cast(${payload} as jsonb) || jsonb_build_object('schema', current_schema()))::text)`.execute(
    db,
  );
}

/** A replica's LISTEN connection (see openChangeListener). */
export interface ChangeListener {
  /** The schema whose notices are this replica's (see decodeChangeNotice). */
  readonly schema: string;
  /** Asks the server a trivial question: rejects when the connection no longer answers. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface ChangeListenerHandlers {
  /** Every payload on the channel, in the order the server sent them. */
  readonly notice: (payload: string) => void;
  /** Called once when the connection fails or ends for any reason but close(). */
  readonly lost: (error: unknown) => void;
}

/**
 * One dedicated connection (not from the pool: a pooled connection is lent to queries and may be
 * dropped by the pool, and LISTEN belongs to a session) that LISTENs on the change channel. Named
 * `applicationName` in pg_stat_activity. Rejects when it cannot connect or listen.
 */
export async function openChangeListener(
  url: string,
  applicationName: string,
  handlers: ChangeListenerHandlers,
): Promise<ChangeListener> {
  const client = new pg.Client({
    connectionString: url,
    application_name: applicationName,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: LISTEN_QUERY_TIMEOUT_MS,
    keepAlive: true,
  });
  let listening = false;
  let closed = false;
  const lose = (error: unknown) => {
    if (closed) return;
    closed = true;
    client.end().catch(() => undefined);
    if (listening) handlers.lost(error); // before, the rejection below says it
  };
  client.on("error", lose);
  client.on("end", () => lose(new Error("the connection ended")));
  client.on("notification", (message) => {
    if (message.channel === CHANGE_CHANNEL) handlers.notice(message.payload ?? "");
  });
  try {
    await client.connect();
    const { rows } = await client.query<{ schema: string | null }>("select current_schema() as schema");
    await client.query(`listen ${CHANGE_CHANNEL}`);
    if (closed) throw new Error("the connection ended");
    listening = true;
    return {
      schema: rows[0]?.schema ?? "",
      async ping() {
        try {
          await client.query("select 1");
        } catch (error) {
          lose(error); // a query timeout leaves the socket open: a connection that does not answer is lost
          throw error;
        }
      },
      close() {
        closed = true;
        return client.end().catch(() => undefined);
      },
    };
  } catch (error) {
    closed = true;
    await client.end().catch(() => undefined);
    throw new Error(`listen on ${redactedUrl(url)}: ${reasonOf(error)}`, { cause: error });
  }
}

/** The same one-row read on either engine: it needs the connection and Keyward's keys table. */
async function probe(db: Kysely<Database>): Promise<void> {
  await sql`select 1 from api_keys limit 1`.execute(db);
}

/** Whether Kysely speaks to PostgreSQL, for the few statements the engines plan or type differently. */
/**
 * Whether a statement failed only because another transaction conflicted with it: PostgreSQL broke a
 * deadlock by failing it (40P01), or could not serialize it (40001). Running it again may succeed.
 * SQLite's writers take the file lock before they read (beginWrite), so they never fail this way.
 */
export function isTransientConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "40P01" || code === "40001";
}

export function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

const DEFAULT_POOL_SIZE = 10;
/** How long a connection may take to open, or a caller may wait for a free one in the pool. */
const CONNECT_TIMEOUT_MS = 5_000;
/** How long the server may run one statement, lock waits included (statement_timeout). */
const STATEMENT_TIMEOUT_MS = 10_000;
/** How long the client waits for an answer: a backstop for a connection that died silently. */
const QUERY_TIMEOUT_MS = 15_000;
/** How long the LISTEN connection may take to answer a ping before it is taken for lost. */
const LISTEN_QUERY_TIMEOUT_MS = 2_000;
const PG_INT8 = 20;
const PG_NUMERIC = 1700;

async function openPostgres(
  url: string,
  poolSize: number,
  observe: StoreObserver | undefined,
): Promise<StoreConnections> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    application_name: "keyward",
    // This pool's only: counts and millisecond times are int8, sums numeric; both within 2^53, read
    // as numbers (pg's global pg.types stays untouched for any other user of pg in the process).
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        (oid === PG_INT8 || oid === PG_NUMERIC) && format !== "binary"
          ? Number
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // A connection that breaks (the server restarts, the network drops) emits "error": unheard, that
  // would end the process. pg-pool listens while a connection is idle; this listens while one is in
  // use. The query that was running, or the next, fails instead, as a StoreError.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  try {
    const { rows } = await pool.query<{ read_only: string }>(
      "select current_setting('transaction_read_only') as read_only",
    );
    // A standby, or default_transaction_read_only: fail now, not at the first IssueKey.
    if (rows[0]?.read_only === "on") throw new Error("the database is read-only");
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(`database ${redactedUrl(url)}: ${reasonOf(error)}`, { cause: error });
  }
  const db = new Kysely<Database>({
    dialect: new CurrentSchemaPostgresDialect({ pool }),
    ...kyselyLog(observe),
  });
  let closing: Promise<void> | undefined;
  return {
    db,
    queryOnly: postgresQueryOnly(pool, observe),
    probe: () => probe(db),
    close() {
      closing ??= db.destroy(); // ends the pool
      return closing;
    },
  };
}

/** The hot path's reads as named prepared statements: parsed once per connection, then one round trip. */
function postgresQueryOnly(pool: pg.Pool, observe: StoreObserver | undefined): QueryOnlyConnection {
  let prepared = 0;
  return {
    prepare(text) {
      const name = `keyward_read_${++prepared}`;
      return timedRead(
        async (values) => (await pool.query({ name, text, values: [...values] })).rows[0],
        observe,
      );
    },
  };
}

/** One line: a refused connection (an AggregateError over IPv4 and IPv6) has no message, only a code. */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return error.message !== "" ? error.message : (code ?? error.name);
}
