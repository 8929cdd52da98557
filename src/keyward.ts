import type { Registry } from "prom-client";
import { cachedKeyStore } from "./cache/cached-key-store.js";
import { applyInvalidation, type InvalidationBus } from "./cache/invalidation.js";
import { createKeyCache, type KeyCache } from "./cache/key-cache.js";
import { listenerName, type ReplicaListener, startReplicaListener } from "./cache/replica-listener.js";
import { type Config, readTierFile } from "./config.js";
import { ConfigurationError } from "./configuration-error.js";
import { isPostgresUrl, redactedUrl } from "./database-url.js";
import { type Clock, systemClock } from "./domain/clock.js";
import { createLimitBook } from "./domain/limit-book.js";
import type { LimitGate } from "./domain/limit-gate.js";
import { missingTiersError } from "./domain/tiers.js";
import { limitPart } from "./domain/usage-delta.js";
import { createUsageTally } from "./domain/usage-tally.js";
import { Authorization } from "./gen/envoy/service/auth/v3/external_auth_pb.js";
import { Health } from "./gen/grpc/health/v1/health_pb.js";
import { AuditService } from "./gen/keyward/v1/audit_service_pb.js";
import { AuthorizeService } from "./gen/keyward/v1/authorize_service_pb.js";
import { KeyService } from "./gen/keyward/v1/key_service_pb.js";
import { WorkspaceService } from "./gen/keyward/v1/workspace_service_pb.js";
import type { Logger } from "./log.js";
import type { Scrape } from "./metrics/cluster-metrics.js";
import type { EntryPoint } from "./metrics/decision-metrics.js";
import { createProcessMetrics, type ProcessMetrics } from "./metrics/process-metrics.js";
import { watchPolicyFile } from "./policy/policy-file.js";
import { serverLimitGate } from "./process/server-limit-gate.js";
import { startUsageFlush } from "./process/usage-flush.js";
import { startServer } from "./server.js";
import {
  openChangeListener,
  openDatabase,
  type StoreConnections,
  type StoreObserver,
} from "./store/database.js";
import { createKyselyKeyStore } from "./store/kysely-key-store.js";
import { migrateToLatest } from "./store/migrate.js";
import { tiersInUse } from "./store/tier-queries.js";
import { addUsage, readUsage } from "./store/usage-queries.js";
import { startTracing, type Tracing, tracedForwardAuth, tracedServices } from "./tracing/tracing.js";
import { auditService } from "./transport/audit-service.js";
import { authorizeService } from "./transport/authorize-service.js";
import { decisionObserver } from "./transport/decision-observer.js";
import { envoyCheckService } from "./transport/envoy-check-service.js";
import { forwardAuthHandler } from "./transport/forward-auth.js";
import { healthService } from "./transport/health-service.js";
import { keyService } from "./transport/key-service.js";
import { createReadiness } from "./transport/readiness.js";
import { reflectionServices } from "./transport/reflection-service.js";
import { serveTls } from "./transport/tls.js";
import { workspaceService } from "./transport/workspace-service.js";
import { VERSION } from "./version.js";

/** A running Keyward: its ports, its cache (for tests and metrics) and a graceful stop. */
export interface Keyward {
  readonly grpcPort: number;
  readonly httpPort: number | undefined;
  /** The metrics listener's port, when KEYWARD_METRICS_LISTEN is set. */
  readonly metricsPort: number | undefined;
  readonly cache: KeyCache;
  /** Health goes NOT_SERVING, in-flight calls finish (up to the drain timeout), the connections close. */
  stop(): Promise<void>;
  /** SIGHUP: reads the route policy and tier files again; a broken or unsafe file is refused with a log line. */
  reload(): Promise<void>;
}

export interface KeywardOptions {
  /** How changes reach the caches of other processes; none when this is the only one. */
  readonly invalidations?: ((cache: KeyCache) => InvalidationBus) | undefined;
  /** Where decisions count against limits when another process holds the book (a cluster worker). */
  readonly limitGate?: LimitGate | undefined;
  /**
   * How a scrape is answered when other processes' metrics belong in it (a cluster worker asks its
   * primary, metrics/cluster-metrics.ts); none answers with this process's registry alone.
   */
  readonly clusterMetrics?: ((own: Registry) => () => Promise<Scrape>) | undefined;
}

/** Opens and migrates the store, wires the services and starts both listeners. */
export async function startKeyward(
  config: Config,
  log: Logger,
  clock: Clock = systemClock,
  options: KeywardOptions = {},
): Promise<Keyward> {
  const metrics = createProcessMetrics(VERSION);
  const tracing = await startTracing(
    config.tracing,
    { version: VERSION, dbSystem: isPostgresUrl(config.database) ? "postgresql" : "sqlite" },
    log,
  );
  const database = await openDatabase(config.database, {
    poolSize: config.databasePool,
    observe: tracing ? bothObservers(metrics.store, tracing.observeStore) : metrics.store,
  }).catch(async (error: unknown) => {
    await tracing?.shutdown();
    throw error;
  });
  try {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) log.info("migrations applied", { migrations: applied });
    const tiersMissing = missingTiersError(config.tiers, await tiersInUse(database.db));
    if (tiersMissing !== undefined) throw new ConfigurationError("KEYWARD_TIERS", tiersMissing);
    return await serve(config, log, clock, database, metrics, tracing, options);
  } catch (error) {
    await database.close();
    await tracing?.shutdown();
    throw error;
  }
}

/** Metrics and spans from the one observer openDatabase takes; only with traces on, so the usual path calls one. */
function bothObservers(first: StoreObserver, second: StoreObserver): StoreObserver {
  return (operation, seconds, failed) => {
    first(operation, seconds, failed);
    second(operation, seconds, failed);
  };
}

async function serve(
  config: Config,
  log: Logger,
  clock: Clock,
  database: StoreConnections,
  metrics: ProcessMetrics,
  tracing: Tracing | undefined,
  options: KeywardOptions,
): Promise<Keyward> {
  // The key cache's misses (findKeyByHash) read on the query-only connection, all else on the read-write one.
  const store = createKyselyKeyStore(database.db, database.queryOnly, { onBatch: metrics.batch });
  const cache = createKeyCache({ load: store.findKeyByHash, clock, ...config.cache });
  metrics.watchCache(() => ({ ...cache.stats, keys: cache.size.keys, absent: cache.size.missing }));
  // Usage is tallied in every process; the limit book is one per server: this process's, unless it is
  // a worker and the primary holds it. Both are flushed from here, behind the decision path.
  const tally = createUsageTally();
  const book =
    options.limitGate === undefined ? createLimitBook({ maxKeys: config.cache.maxKeys }) : undefined;
  const usage = startUsageFlush({
    drains: book ? [tally.drain, () => book.drain().map(limitPart)] : [tally.drain],
    write: (deltas) => addUsage(database.db, deltas),
    intervalMs: config.usageFlushMs,
    log,
  });
  const gate: LimitGate =
    book === undefined
      ? (options.limitGate as LimitGate) // set: no book was made
      : await serverLimitGate(
          config,
          log,
          book,
          clock,
          (keyId, now) => readUsage(database.db, keyId, now),
          usage,
        );
  // `tiers` is replaced by a SIGHUP that reads a good KEYWARD_TIERS file (reload below).
  const limits = { gate, tiers: config.tiers, tally };
  metrics.watchUsageFlush(usage.stats);
  const managed = cachedKeyStore(store, cache, options.invalidations?.(cache));
  const apis = [AuthorizeService, KeyService, WorkspaceService, AuditService, Authorization];
  const policy =
    config.envoy.policyPath && watchPolicyFile(config.envoy.policyPath, log, config.envoy.policyReloadMs);
  const checkSettings = {
    credentialHeaders: config.envoy.credentialHeaders,
    defaultRoute: config.envoy.defaultRoute,
    policy: () => (policy ? policy.current() : undefined),
    headerPrefix: config.envoy.headerPrefix,
    trustedProxies: config.envoy.trustedProxies,
  };
  const observeDecisions = (entry: EntryPoint) =>
    decisionObserver(entry, metrics.decisions(entry), log, config.decisionLogSample);
  const health = healthService([...apis, Health].map((service) => service.typeName));
  const services = tracedServices(tracing, [
    authorizeService({ resolver: cache, clock, limits, observe: observeDecisions("authorize") }),
    envoyCheckService({
      resolver: cache,
      clock,
      limits,
      options: { ...checkSettings, removeCredential: config.envoy.removeCredential },
      observe: observeDecisions("check"),
    }),
    keyService({ store: managed, resolver: cache, clock, log, tiers: () => limits.tiers }),
    workspaceService({ store: managed, resolver: cache, clock, log, tiers: () => limits.tiers }),
    auditService({ store: managed, resolver: cache, clock }),
    health.served,
    ...reflectionServices([...apis, Health]),
  ]);
  let serving = true;
  // Other replicas' changes on PostgreSQL: a process on its own listens itself; a cluster worker
  // (options.invalidations set) hears them from its primary, which listens once for all its workers.
  const replica =
    options.invalidations === undefined && isPostgresUrl(config.database)
      ? await listenForReplicas(config, log, cache)
      : undefined;
  // The cache's age is limited exactly while the LISTEN connection is down (listenForReplicas, or the
  // primary's `distrust` to a worker).
  const invalidationDegraded = () => cache.maxAgeMs !== undefined;
  metrics.watchDegraded(invalidationDegraded, () => gate.local?.() === true);
  const ownMetrics = async (): Promise<Scrape> => ({ text: await metrics.registry.metrics() });
  const tls = config.tls && serveTls(config.tls, log, config.tls.reloadMs);
  const server = await startServer({
    services,
    grpcAddress: config.listen,
    httpAddress: config.httpListen,
    isServing: () => serving,
    invalidationDegraded,
    rateLimitsLocal: () => gate.local?.() === true,
    // A worker's cache is distrusted by its primary's `distrust` (cache/invalidation.ts), so
    // invalidationDegraded reads the listener's state in every process.
    readiness: createReadiness({
      isServing: () => serving,
      probeStore: database.probe,
      invalidationDegraded,
      clock,
    }),
    log,
    tls,
    messageLimits: config.messageLimits,
    // The same decisions as Check, for gateways that ask over plain HTTP.
    forwardAuth: tracedForwardAuth(
      tracing,
      forwardAuthHandler({
        resolver: cache,
        clock,
        limits,
        log,
        options: checkSettings,
        observe: observeDecisions("forward_auth"),
      }),
    ),
    metrics: options.clusterMetrics?.(metrics.registry) ?? ownMetrics,
    metricsAddress: config.metricsListen,
  }).catch(async (error: unknown) => {
    tls?.close();
    await replica?.close();
    throw error;
  });
  log.info("keyward serving", {
    grpc: config.listen.replace(/:\d+$/, `:${server.grpcPort}`),
    http: config.httpListen?.replace(/:\d+$/, `:${server.httpPort}`) ?? "off",
    metrics:
      config.metricsListen?.replace(/:\d+$/, `:${server.metricsPort}`) ??
      (config.httpListen === undefined ? "off" : "on the http listener"),
    database: redactedUrl(config.database),
    pid: process.pid,
    version: VERSION,
    tls: tls ? (tls.mutual ? "client certificates required" : "on") : "off",
    cache: { keys: config.cache.maxKeys, ttl_ms: config.cache.ttlMs, absent: config.cache.maxMissing },
    tiers: config.tiersPath ?? "defaults",
    policy: config.envoy.policyPath ?? "none",
    redis: config.redisUrl === undefined ? "off" : redactedUrl(config.redisUrl),
    decision_log_sample: config.decisionLogSample,
    traces: config.tracing ? redactedUrl(config.tracing.tracesUrl) : "off",
  });
  const reloadTiers = async (path: string) => {
    const read = readTierFile(path);
    if ("error" in read) {
      log.error("tier file refused; the tiers in force stay", { path, error: read.error });
      return;
    }
    const missing = missingTiersError(read.tiers, await tiersInUse(database.db));
    if (missing !== undefined) {
      log.error("tier file refused; the tiers in force stay", { path, error: missing });
      return;
    }
    limits.tiers = read.tiers;
    log.info("tiers reloaded", { path, tiers: [...read.tiers.keys()] });
  };
  let stopping: Promise<void> | undefined;
  return {
    grpcPort: server.grpcPort,
    httpPort: server.httpPort,
    metricsPort: server.metricsPort,
    cache,
    async reload() {
      if (policy) policy.reload();
      if (config.tiersPath !== undefined)
        await reloadTiers(config.tiersPath).catch((error: unknown) =>
          log.error("tier file not reloaded", { error }),
        );
    },
    stop() {
      stopping ??= (async () => {
        serving = false;
        health.setServing(false);
        health.close();
        if (policy) policy.close();
        tls?.close();
        await server.drain(config.drainTimeoutMs);
        await replica?.close(); // after the last call: until then other replicas' changes still evict
        await gate.close?.(); // a worker's unspent leases go back to the primary's book before it flushes
        await usage.stop(); // after the last call, before the store closes: SIGTERM loses no count
        await database.close();
        await tracing?.shutdown(); // last: the spans of the calls the drain waited for go out
        log.info("keyward stopped");
      })();
      return stopping;
    },
  };
}

/** This process's LISTEN connection, applying other replicas' changes to its one cache. */
function listenForReplicas(config: Config, log: Logger, cache: KeyCache): Promise<ReplicaListener> {
  return startReplicaListener({
    open: (handlers) => openChangeListener(config.database, listenerName(), handlers),
    log,
    apply: (change) => applyInvalidation(cache, change),
    distrust: () => cache.limitAge(config.staleBoundMs),
    async trust() {
      cache.clear(); // first: until it is empty, an entry from before the loss must stay distrusted
      cache.limitAge(undefined);
    },
  });
}
