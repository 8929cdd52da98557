import { defineConfig } from "vitest/config";
import { postgresReachable, TEST_POSTGRES_URL } from "./test/support/postgres-server.js";

/**
 * The suites that run once per database engine (issue 14): every store suite, and the RPC suites
 * listed here; the rest run on SQLite only. A suite added here gets its databases from
 * test/support/databases.ts (perTestDatabase, tempDatabase, useServer) and skips its SQLite-only
 * tests with `it.skipIf(TEST_DIALECT !== "sqlite")`.
 */
const EVERY_DATABASE = ["test/store/**/*.test.ts", "test/rpc/key-lifecycle.test.ts"];

// Without a server the PostgreSQL project is left out, and postgresReachable says so in one line
// (under CI=true it throws instead: CI never skips it).
const postgres = await postgresReachable();

export default defineConfig({
  test: {
    // Processes started by tests run the compiled server and CLI: build them first.
    globalSetup: ["test/support/build-dist.ts"],
    // Integration tests start real servers and child processes; give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts"] } },
      ...(postgres
        ? [
            {
              extends: true as const,
              test: {
                name: "postgres",
                include: EVERY_DATABASE,
                env: { KEYWARD_TEST_DATABASE: "postgres", KEYWARD_TEST_POSTGRES_URL: TEST_POSTGRES_URL },
              },
            },
          ]
        : []),
    ],
  },
});
