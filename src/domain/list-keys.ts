import { type Admin, listingWorkspace } from "./admin-access.js";
import type { KeyStatus } from "./key.js";
import type { Environment } from "./key-format.js";
import type { KeyStore } from "./key-store.js";
import { type KeyView, viewKeys } from "./key-view.js";
import { type Outcome, ok } from "./outcome.js";
import { pageOf, pageRequest } from "./page-token.js";

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
  /** With their usage, read for the whole page at once. */
  readonly keys: readonly KeyView[];
  /** "" on the last page. */
  readonly nextPageToken: string;
  readonly totalSize: number;
}

/** Lists a workspace's keys, newest first, one page at a time, with their usage as of `now`. */
export async function listKeys(
  store: KeyStore,
  admin: Admin,
  input: ListKeysInput,
  now: number,
): Promise<Outcome<KeyPage>> {
  const workspace = listingWorkspace(admin, input.workspace);
  if (!workspace.ok) return workspace;
  const request = pageRequest(input.pageSize, input.pageToken, [
    workspace.value,
    input.status,
    input.environment,
    input.namePrefix,
    input.ownerId,
  ]);
  if (!request.ok) return request;
  const { keys, total } = await store.listKeys({
    workspace: workspace.value,
    status: input.status,
    environment: input.environment,
    namePrefix: input.namePrefix,
    ownerId: input.ownerId,
    after: request.value.cursor,
    limit: request.value.size + 1,
  });
  const { page, nextPageToken } = pageOf(keys, request.value, (key) => ({
    time: key.createTime,
    id: key.keyId,
  }));
  return ok({ keys: await viewKeys(store, page, now), nextPageToken, totalSize: total });
}
