import type { Logger } from "../log.js";
import { decodeChangeNotice } from "../store/change-notice.js";
import type { ChangeListener, ChangeListenerHandlers } from "../store/database.js";
import type { Invalidation } from "./invalidation.js";

/** Opens one LISTEN connection (store/database.ts, openChangeListener, bound to the database URL). */
export type OpenListener = (handlers: ChangeListenerHandlers) => Promise<ChangeListener>;

export interface ReplicaListenerOptions {
  readonly open: OpenListener;
  readonly log: Logger;
  /** Applies another replica's change to every cache of this replica. */
  readonly apply: (change: Invalidation) => void;
  /** The notices may have been missed: every cache of this replica stops trusting old entries. */
  readonly distrust: () => void;
  /**
   * Listening again: every cache of this replica forgets everything (it may have missed notices), and
   * only then trusts its entries again. Resolves once that is done.
   */
  readonly trust: () => Promise<void>;
  /** How often the connection is asked whether it still answers (a silently dead one hears nothing). */
  readonly pingMs?: number;
}

/** The replica's side of cross-replica invalidation; `listening` is false while degraded. */
export interface ReplicaListener {
  readonly listening: boolean;
  close(): Promise<void>;
}

/** How this process's LISTEN connection is named in pg_stat_activity (application_name). */
export function listenerName(): string {
  return `keyward-listen-${process.pid}`;
}

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
const PING_MS = 1000;

/**
 * Keeps one LISTEN connection for this replica (issue 14) and turns every notice of another
 * replica's change into evictions. Starts distrusted, and trusts once the first LISTEN is in place
 * (resolving then, or after the first attempt fails). When the connection is lost (an error, its
 * end, or a ping unanswered), the caches are distrusted at once, and it reconnects with backoff
 * (FIRST_BACKOFF_MS doubling to MAX_BACKOFF_MS); once LISTEN is back the caches are cleared and
 * trusted again, in that order, since notices sent meanwhile are lost.
 * test/process/replicas.test.ts terminates the connection from the server.
 */
export async function startReplicaListener(options: ReplicaListenerOptions): Promise<ReplicaListener> {
  const { log } = options;
  let current: ChangeListener | undefined;
  let closed = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  options.distrust();

  const ping = setInterval(() => {
    current?.ping().catch(() => undefined); // a failed ping ends the connection: `lost` follows
  }, options.pingMs ?? PING_MS);
  ping.unref();

  function lost(error: unknown) {
    current = undefined;
    if (closed) return;
    options.distrust();
    log.warn(
      "lost the connection that hears other replicas' changes; cached keys are trusted for KEYWARD_STALE_BOUND at most until it is back",
      {
        error: error instanceof Error ? error.message : String(error),
      },
    );
    schedule();
  }

  function schedule() {
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** failures);
    failures++;
    retry = setTimeout(() => void connect(true), backoff);
  }

  async function connect(reconnecting: boolean): Promise<void> {
    let listener: ChangeListener | undefined;
    // Lost before this attempt could trust it: `lost` has scheduled the next one already.
    let gone = false;
    try {
      listener = await options.open({
        notice(payload) {
          // Before open resolves, a notice is dropped: trust() below clears everything after it anyway.
          const change = listener && decodeChangeNotice(payload, listener.schema);
          if (change !== undefined) options.apply(change);
        },
        lost(error) {
          gone = true;
          lost(error);
        },
      });
    } catch (error) {
      if (closed) return;
      if (failures === 0)
        log.warn("cannot listen for other replicas' changes yet; retrying", { error: String(error) });
      schedule();
      return;
    }
    if (closed || gone) {
      await listener.close();
      return;
    }
    current = listener;
    await options.trust();
    failures = 0;
    if (reconnecting) log.info("listening for other replicas' changes again; caches cleared");
  }

  await connect(false);
  return {
    get listening() {
      return current !== undefined;
    },
    async close() {
      closed = true;
      clearInterval(ping);
      clearTimeout(retry);
      await current?.close();
    },
  };
}
