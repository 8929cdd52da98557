import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import type { Environment } from "../gen/keyward/v1/key_pb.js";
import { IssueKeyResponseSchema } from "../gen/keyward/v1/key_service_pb.js";
import { type ServerOptions, serverAction, serverCommand, WITH_ADMIN_KEY } from "./command.js";
import { environmentOption, metadataEntry, positiveDuration, timestamp } from "./flags.js";
import { printKey, printSecret, warnSecretShownOnce } from "./key-output.js";
import { addLimitOptions, creditsOf, type LimitOptions } from "./limit-flags.js";
import { printJson } from "./output.js";

// `keyward keys issue`: the one command, with rotate, that prints a secret. Defaults left unset here
// (workspace, environment, prefix) are filled in by the server from the workspace's settings.

interface IssueOptions extends ServerOptions, LimitOptions {
  readonly name: string;
  readonly description?: string;
  readonly workspace?: string;
  readonly scope?: string[];
  readonly class?: string[];
  readonly env?: Environment;
  readonly prefix?: string;
  readonly ttl?: Duration;
  readonly expires?: Timestamp;
  readonly owner?: string;
  readonly meta?: Record<string, string>;
}

/** Adds `keyward keys issue`. */
export function registerKeyIssue(keys: Command): void {
  const command = serverCommand(
    keys,
    "issue",
    "issue a key and print its secret, this once",
    `${WITH_ADMIN_KEY} keyward keys issue --name billing --scope invoices:read invoices:write --ttl 90d`,
  )
    .requiredOption("--name <name>", "what the key is for, 1–200 characters (required)")
    .option("--description <text>", "longer description")
    .option("--workspace <id>", 'workspace of the key; "default" when not given')
    .option("--scope <scope...>", "granted scopes, resource:action (repeatable)")
    .option("--class <class...>", "classes the key may be used for; any when none (repeatable)")
    .addOption(environmentOption("--env <env>", "environment, part of the key's visible prefix"))
    .option("--prefix <prefix>", "key prefix, [a-z][a-z0-9]{0,15}")
    .addOption(
      new Option("--ttl <duration>", "expire after 30d, 12h, 90m, 3600s …")
        .argParser(positiveDuration)
        .conflicts("expires"),
    )
    .option("--expires <time>", "expire at this RFC 3339 time, e.g. 2030-01-31T00:00:00Z", timestamp)
    .option("--owner <id>", "who the key is for (a user, service or team id)")
    .option("--meta <key=value>", "a metadata label (repeatable)", metadataEntry);
  addLimitOptions(command);
  serverAction(command, async ({ keys }, options: IssueOptions) => {
    if (options.refill !== undefined && options.credits === undefined) {
      command.error("error: --refill needs --credits", { exitCode: 2 });
    }
    const credits = creditsOf(options);
    const response = await keys.issueKey({
      name: options.name,
      description: options.description ?? "",
      workspace: options.workspace ?? "",
      scopes: options.scope ?? [],
      classes: options.class ?? [],
      ...(options.env !== undefined && { environment: options.env }),
      prefix: options.prefix ?? "",
      ttl: options.ttl,
      expireTime: options.expires,
      ownerId: options.owner ?? "",
      metadata: options.meta ?? {},
      tier: options.tier ?? "",
      ...(options.rateLimit && { rateLimit: options.rateLimit }),
      // Unset: the workspace's default quota.
      ...(options.monthlyQuota !== undefined && { monthlyQuota: options.monthlyQuota }),
      ...(credits !== undefined && { credits }),
      allowedCidrs: options.allowCidr || [],
    });
    if (options.json) {
      printJson(IssueKeyResponseSchema, response);
      warnSecretShownOnce();
      return;
    }
    if (response.key !== undefined) printKey(response.key);
    printSecret(response.secret);
  });
}
