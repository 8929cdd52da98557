import { type Command, type CommanderError, Option } from "commander";
import { type Clients, type Connection, createClients, describeError } from "./client.js";

// The shape every server command shares: its group, its flags, its --help example, its exit codes.

/** The flags every server command takes, as commander parses them. */
export interface ServerOptions extends Connection {
  readonly json?: boolean;
}

/** How the examples pass the admin key: from the environment, never as a flag. */
export const WITH_ADMIN_KEY = 'KEYWARD_ADMIN_KEY="$(cat admin.key)"';

/** A group of server commands (`keys`, `workspaces`, `audit`) whose usage errors exit with code 2. */
export function commandGroup(program: Command, name: string, description: string, example: string): Command {
  return (
    program
      .command(name)
      .description(description)
      .addHelpText("after", exampleText(example))
      // Set before the subcommands are created: `.command()` copies these to each of them. A hint
      // rather than the whole help, which would bury the one line that says what was wrong.
      .showHelpAfterError("(add --help for usage and an example)")
      .exitOverride(exitOnUsageError)
  );
}

/** commander exits 1 on a usage error; 2 keeps "you typed it wrong" apart from "the call failed". */
function exitOnUsageError(error: CommanderError): never {
  process.exit(error.exitCode === 0 ? 0 : 2);
}

/** A subcommand of a group, with an example at the end of its --help. Its action is set by serverAction. */
export function serverCommand(group: Command, nameAndArgs: string, description: string, example: string) {
  return group.command(nameAndArgs).description(description).addHelpText("after", exampleText(example));
}

/**
 * Adds the shared flags (after the command's own, so --help lists them last) and the action: `run`
 * gets the clients, the parsed options and the positional arguments. Any failure becomes one line
 * on stderr and exit code 1, set rather than exiting at once so that stdout already written is flushed.
 */
export function serverAction<O extends ServerOptions>(
  command: Command,
  run: (clients: Clients, options: O, args: string[]) => Promise<void>,
): Command {
  return withServerOptions(command).action(async (...params: unknown[]) => {
    const self = params.at(-1) as Command;
    const options = self.opts<O>();
    try {
      await run(createClients(options), options, self.processedArgs as string[]);
    } catch (error) {
      process.stderr.write(`${describeError(error, options)}\n`);
      process.exitCode = 1;
    }
  });
}

/** Refuses a command line that would send nothing, as a usage error (exit 2). */
export function requireChanges(command: Command, paths: readonly string[]): void {
  if (paths.length === 0) {
    command.error("error: nothing to update; give at least one of the flags listed by --help", {
      exitCode: 2,
    });
  }
}

const SERVER_OPTIONS = "Server options:";

function withServerOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--server <host:port>", "Keyward gRPC address")
        .env("KEYWARD_SERVER")
        .default("localhost:50051")
        .helpGroup(SERVER_OPTIONS),
    )
    .addOption(
      new Option(
        "--admin-key <key>",
        "admin key; prefer the environment variable, which keeps it out of shell history and ps",
      )
        .env("KEYWARD_ADMIN_KEY")
        .helpGroup(SERVER_OPTIONS),
    )
    .addOption(
      new Option("--ca <file>", "CA certificate (PEM) to trust for the server's certificate; implies TLS")
        .env("KEYWARD_SERVER_CA")
        .helpGroup(SERVER_OPTIONS),
    )
    .addOption(
      new Option(
        "--client-cert <file>",
        "client certificate (PEM) for a server that requires one; implies TLS",
      )
        .env("KEYWARD_CLIENT_CERT")
        .helpGroup(SERVER_OPTIONS),
    )
    .addOption(
      new Option("--client-key <file>", "the client certificate's private key (PEM)")
        .env("KEYWARD_CLIENT_KEY")
        .helpGroup(SERVER_OPTIONS),
    )
    .addOption(new Option("--json", "print the response as proto3 JSON").helpGroup(SERVER_OPTIONS));
}

function exampleText(example: string): string {
  return `\nExample:\n  $ ${example}\n`;
}
