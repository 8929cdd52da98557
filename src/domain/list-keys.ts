import { type Admin, checkWorkspace } from "./admin-access.js";
import type { ApiKey, KeyStatus } from "./key.js";
import type { Environment } from "./key-format.js";
import type { KeyStore } from "./key-store.js";
import { fail, type Outcome, ok } from "./outcome.js";
import { decodePageToken, encodePageToken, pageSize } from "./page-token.js";

export interface ListKeysInput {
  /** "" for the admin's own workspace. */
  readonly workspace: string;
  readonly pageSize: number;
  readonly pageToken: string;
  readonly status: KeyStatus | undefined;
  readonly environment: Environment | undefined;
  readonly namePrefix: string;
  readonly ownerId: string;
}

export interface KeyPage {
  readonly keys: readonly ApiKey[];
  /** "" on the last page. */
  readonly nextPageToken: string;
  readonly totalSize: number;
}

/** Lists a workspace's keys, newest first, one page at a time. */
export async function listKeys(
  store: KeyStore,
  admin: Admin,
  input: ListKeysInput,
): Promise<Outcome<KeyPage>> {
  const workspace = input.workspace === "" && !admin.global ? admin.workspace : input.workspace;
  if (workspace === "") return fail("invalid_argument", "workspace is required for a global admin");
  const denied = checkWorkspace(admin, workspace);
  if (denied !== undefined) return { ok: false, error: denied };
  const size = pageSize(input.pageSize);
  if (typeof size === "string") return fail("invalid_argument", size);
  const fingerprint = JSON.stringify([
    workspace,
    input.status,
    input.environment,
    input.namePrefix,
    input.ownerId,
  ]);
  const position = decodePageToken(input.pageToken, fingerprint);
  if ("error" in position) return fail("invalid_argument", position.error);

  const { keys, total } = await store.listKeys({
    workspace,
    status: input.status,
    environment: input.environment,
    namePrefix: input.namePrefix,
    ownerId: input.ownerId,
    after: position.cursor,
    limit: size + 1,
  });
  const page = keys.slice(0, size);
  const last = page.at(-1);
  const nextPageToken =
    keys.length > size && last !== undefined
      ? encodePageToken({ time: last.createTime, id: last.keyId }, fingerprint)
      : "";
  return ok({ keys: page, nextPageToken, totalSize: total });
}
