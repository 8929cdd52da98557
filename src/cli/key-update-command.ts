import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import { KeySchema } from "../gen/keyward/v1/key_pb.js";
import { UpdateKeyResponseSchema } from "../gen/keyward/v1/key_service_pb.js";
import {
  requireChanges,
  type ServerOptions,
  serverAction,
  serverCommand,
  WITH_ADMIN_KEY,
} from "./command.js";
import { metadataEntry, timestamp } from "./flags.js";
import { printKey } from "./key-output.js";
import { addLimitOptions, creditsOf, type LimitOptions } from "./limit-flags.js";
import { printJson } from "./output.js";

// `keyward keys update`: the FieldMask names exactly the flags given, so a field left off the command
// line is left alone on the server (UpdateKey changes the masked fields only).

export interface KeyUpdateOptions extends ServerOptions, LimitOptions {
  readonly name?: string;
  readonly description?: string;
  readonly scope?: string[];
  readonly class?: string[];
  readonly expires?: Timestamp;
  /** false with --no-expiry; commander's default of true for a lone `--no-` flag means "not given". */
  readonly expiry?: boolean;
  readonly owner?: string;
  readonly meta?: Record<string, string>;
}

/** The new values and the mask naming them, from the flags given; an empty mask when none were. */
export function keyUpdate(keyId: string, options: KeyUpdateOptions) {
  const key = create(KeySchema, { keyId });
  const paths: string[] = [];
  const masked = <T>(path: string, value: T): T => {
    paths.push(path);
    return value;
  };
  if (options.name !== undefined) key.name = masked("name", options.name);
  if (options.description !== undefined) key.description = masked("description", options.description);
  if (options.scope !== undefined) key.scopes = masked("scopes", options.scope);
  if (options.class !== undefined) key.classes = masked("classes", options.class);
  if (options.expires !== undefined) key.expireTime = masked("expire_time", options.expires);
  // --no-expiry: expire_time named in the mask but unset in the key clears it.
  if (options.expiry === false) masked("expire_time", undefined);
  if (options.owner !== undefined) key.ownerId = masked("owner_id", options.owner);
  if (options.meta !== undefined) key.metadata = masked("metadata", options.meta);
  if (options.tier !== undefined) key.tier = masked("tier", options.tier);
  // A `--no-…` flag names the path with the field unset: the limit is removed.
  if (options.rateLimit !== undefined) key.rateLimit = masked("rate_limit", options.rateLimit || undefined);
  if (options.monthlyQuota !== undefined) key.monthlyQuota = masked("monthly_quota", options.monthlyQuota);
  if (options.credits !== undefined) key.credits = masked("credits", creditsOf(options));
  if (options.allowCidr !== undefined) key.allowedCidrs = masked("allowed_cidrs", options.allowCidr || []);
  return { key, updateMask: create(FieldMaskSchema, { paths }) };
}

/** Adds `keyward keys update <key_id>`. */
export function registerKeyUpdate(keys: Command): void {
  const command = serverCommand(
    keys,
    "update <key_id>",
    "change a key's name, scopes, classes, expiry, owner, metadata or limits; takes effect on the next Authorize",
    `${WITH_ADMIN_KEY} keyward keys update key_123 --scope invoices:read --expires 2030-01-31T00:00:00Z`,
  )
    .option("--name <name>", "new name")
    .option("--description <text>", "new description")
    .option("--scope <scope...>", "replace the scopes with these (repeatable)")
    .option("--class <class...>", "replace the classes with these (repeatable)")
    .option("--expires <time>", "new RFC 3339 expiry", timestamp)
    .addOption(new Option("--no-expiry", "remove the expiry: the key never expires").conflicts("expires"))
    .option("--owner <id>", "new owner")
    .option("--meta <key=value>", "replace all metadata with these labels (repeatable)", metadataEntry);
  addLimitOptions(command)
    .option("--no-rate-limit", "remove the key's own rate limit: its tier's applies")
    .option("--no-credits", "the key is no longer credit-limited")
    .option("--no-allow-cidr", "allow any client address");
  serverAction(command, async ({ keys }, options: KeyUpdateOptions, [keyId = ""]) => {
    if (options.refill !== undefined && !options.credits) {
      command.error("error: --refill needs --credits (the balance and its refill are set together)", {
        exitCode: 2,
      });
    }
    const request = keyUpdate(keyId, options);
    requireChanges(command, request.updateMask.paths);
    const response = await keys.updateKey(request);
    if (options.json) printJson(UpdateKeyResponseSchema, response);
    else if (response.key !== undefined) printKey(response.key);
  });
}
