import { Command, Option } from "commander";
import { DEFAULT_WORKSPACE } from "../domain/workspace.js";
import { registerAuditCommands } from "./audit-commands.js";
import { registerKeyCommands } from "./keys-commands.js";
import { registerWorkspaceCommands } from "./workspaces-commands.js";

// The `keyward` command. Commands that touch the store directly (migrate, bootstrap) read
// KEYWARD_DATABASE like the server does; everything else talks to a running server. The server and
// the store are imported by the commands that use them, when they run: `--help` and the management
// commands never load them (or better-sqlite3).

const program = new Command("keyward")
  .description("Keyward: API keys for a service mesh — issue, authorize, revoke.")
  .showHelpAfterError();

const databaseOption = () =>
  new Option(
    "--database <url>",
    "store URL, e.g. sqlite:./data/keyward.db or postgres://user@host:5432/db",
  ).env("KEYWARD_DATABASE");

async function databaseUrl(flag: string | undefined): Promise<string> {
  const { loadConfig } = await import("../config.js");
  const loaded = loadConfig({ ...process.env, ...(flag !== undefined && { KEYWARD_DATABASE: flag }) });
  if (!loaded.ok) {
    process.stderr.write(`keyward: ${loaded.error}\n`);
    process.exit(2);
  }
  return loaded.config.database;
}

program
  .command("serve")
  .description("run the server (configured by KEYWARD_* environment variables; see README)")
  .action(async () => {
    const { main: serve } = await import("../main.js");
    await serve();
  });

program
  .command("migrate")
  .description("apply pending database migrations and exit")
  .addOption(databaseOption())
  .action(async (options: { database?: string }) => {
    const url = await databaseUrl(options.database);
    const { openDatabase } = await import("../store/database.js");
    const { migrateToLatest } = await import("../store/migrate.js");
    const database = await openDatabase(url);
    try {
      const applied = await migrateToLatest(database.db);
      process.stdout.write(applied.length > 0 ? `applied: ${applied.join(", ")}\n` : "already up to date\n");
    } finally {
      await database.close();
    }
  });

program
  .command("bootstrap")
  .description(
    "write an admin key (keyward:admin, or keyward:superadmin with --global) straight into the store and print its secret once",
  )
  .addOption(databaseOption())
  .option("--workspace <id>", "workspace the admin key manages", DEFAULT_WORKSPACE)
  .option("--name <name>", "name of the admin key", "bootstrap admin")
  .option("--global", "a global admin (keyward:superadmin): manages workspaces and every workspace's keys")
  .action(async (options: { database?: string; workspace: string; name: string; global?: boolean }) => {
    const { bootstrapAdmin } = await import("./bootstrap.js");
    const { systemClock } = await import("../domain/clock.js");
    const issued = await bootstrapAdmin(
      {
        database: await databaseUrl(options.database),
        workspace: options.workspace,
        name: options.name,
        global: options.global === true,
      },
      systemClock,
    );
    if (!issued.ok) {
      process.stderr.write(`keyward: ${issued.error.message}\n`);
      process.exit(1);
    }
    const key = issued.value.key;
    const scope = key.scopes.join(", ");
    const what = options.global ? "Global admin key" : `Admin key for workspace "${key.workspace}"`;
    process.stdout.write(`${what}: ${key.keyId} (scope ${scope}).\n`);
    process.stdout.write("The secret is shown once, on the next line; it cannot be shown again.\n");
    process.stdout.write(`${issued.value.secret}\n`);
  });

registerKeyCommands(program);
registerWorkspaceCommands(program);
registerAuditCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`keyward: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
