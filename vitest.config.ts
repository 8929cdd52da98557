import { configDefaults, defineConfig } from "vitest/config";
import { postgresReachableOnce, TEST_POSTGRES_URL } from "./test/support/postgres-server.js";

/**
 * The suites that run once per database engine (issue 14): the store's, the cache's, those whose
 * answers come from the store through a server, and the process suites whose subject is what a
 * cluster of workers writes to the store (or reads from it at start-up); the rest (transport, the
 * other processes, deploy) run on SQLite only. A suite gets the run's engine from
 * test/support/databases.ts (perTestDatabase, tempDatabase; useServer uses it), reaches the
 * database behind a server through test/support/raw-sql.ts, and skips what only one engine has
 * with `it.skipIf(TEST_DIALECT …)`.
 */
const EVERY_DATABASE = [
  "test/store/**/*.test.ts",
  "test/cache/key-cache.test.ts",
  "test/process/{crash-durability,decision-no-write,lease-release,tiers-in-use,usage-durability}.test.ts",
  "test/envoy/{check-allowed,check-denials,check-outage,route-requirements}.test.ts",
  "test/http/{forward-auth,forward-auth-limits}.test.ts",
  `test/rpc/{${[
    "allowed-cidrs",
    "audit-trail",
    "bad-input",
    "key-lifecycle",
    "key-limits",
    "key-management",
    "key-paging",
    "key-usage",
    "management-auth",
    "quotas-and-credits",
    "rate-limits",
    "readiness",
    "restart",
    "secret-input",
    "store-outage",
    "tracing",
    "workspaces",
  ].join(",")}}.test.ts`,
];

/**
 * Suites that need PostgreSQL itself (several replicas on one database, issue 14): in the postgres
 * project only, and so skipped with its one line when no server answers.
 */
const POSTGRES_ONLY = ["test/process/replicas.test.ts"];

// Without a server the PostgreSQL project is left out, and postgresReachable says so in one line
// (under CI=true it throws instead: CI never skips it).
const postgres = await postgresReachableOnce();

export default defineConfig({
  test: {
    // Processes started by tests run the compiled server and CLI: build them first.
    globalSetup: ["test/support/build-dist.ts"],
    // Integration tests start real servers and child processes; give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "sqlite",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...POSTGRES_ONLY],
        },
      },
      ...(postgres
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                include: [...EVERY_DATABASE, ...POSTGRES_ONLY],
                env: { KEYWARD_TEST_DATABASE: "postgres", KEYWARD_TEST_POSTGRES_URL: TEST_POSTGRES_URL },
              },
            },
          ]
        : []),
    ],
  },
});
