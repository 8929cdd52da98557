import { afterEach, describe, expect, it, vi } from "vitest";
import { fail, ok } from "../../src/domain/outcome.js";
import { type ChangeNotice, decodeChangeNotice, encodeChangeNotice } from "../../src/store/change-notice.js";
import { type ChangeListener, openChangeListener } from "../../src/store/database.js";
import { createKyselyKeyStore } from "../../src/store/kysely-key-store.js";
import { perTestDatabase, TEST_DIALECT } from "../support/databases.js";
import { makeKey, makeWorkspace, seed } from "../support/fixtures.js";

// A change tells other replicas with NOTIFY inside its own transaction (issue 14): delivered on
// commit only. LISTEN/NOTIFY is PostgreSQL's; on SQLite one file has one server, whose workers evict
// each other over IPC (test/process/invalidation-fence.test.ts), so those tests are skipped there.
const database = perTestDatabase();
const onSqlite = TEST_DIALECT === "sqlite";
const listeners: ChangeListener[] = [];

afterEach(async () => {
  for (const listener of listeners.splice(0)) await listener.close();
});

/** A LISTEN connection of its own on the test's database, and every notice it decoded so far. */
async function listen() {
  const heard: ChangeNotice[] = [];
  const listener = await openChangeListener(database.temp.url, "keyward-test-listen", {
    notice: (payload) => {
      const change = decodeChangeNotice(payload, listener.schema);
      if (change !== undefined) heard.push(change);
    },
    lost: () => undefined,
  });
  listeners.push(listener);
  return heard;
}

/** Long enough for a notice of a commit to have arrived on a local server, many times over. */
const quietMs = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("change notices (NOTIFY)", () => {
  it.skipIf(onSqlite)("reach a listener on another connection only once the change commits", async () => {
    const store = createKyselyKeyStore((await database.open()).db, undefined);
    const { key } = makeKey();
    await seed(store, { keys: [key] });
    const heard = await listen();

    const committed = store.transaction(async (tx) => {
      await tx.updateKey({ ...key, name: "renamed" });
      await sleep(quietMs); // the transaction is open: nothing may have been delivered yet
      expect(heard).toEqual([]);
      return ok(undefined);
    });
    expect((await committed).ok).toBe(true);
    await vi.waitFor(() => expect(heard).toEqual([{ hashes: [key.keyHash], all: false }]), {
      timeout: 2000,
      interval: 10,
    });
  });

  it.skipIf(onSqlite)("send nothing for a change rolled back", async () => {
    const store = createKyselyKeyStore((await database.open()).db, undefined);
    const { key } = makeKey();
    const { key: other } = makeKey();
    await seed(store, { keys: [key, other] });
    const heard = await listen();

    const refused = await store.transaction(async (tx) => {
      await tx.updateKey({ ...key, name: "never" });
      return fail("failed_precondition", "changed my mind");
    });
    expect(refused.ok).toBe(false);
    // A later commit's notice arrives; the rolled-back one, which would have come first, never does.
    await store.transaction(async (tx) => ok(await tx.updateKey({ ...other, name: "kept" })));
    await vi.waitFor(() => expect(heard.length).toBeGreaterThan(0), { timeout: 2000, interval: 10 });
    await sleep(quietMs);
    expect(heard).toEqual([{ hashes: [other.keyHash], all: false }]);
  });

  it.skipIf(onSqlite)("say `all` for a workspace change, and a new key's hash for an insert", async () => {
    const store = createKyselyKeyStore((await database.open()).db, undefined);
    const acme = makeWorkspace("acme");
    await seed(store, { workspaces: [acme] });
    const heard = await listen();
    const { key } = makeKey({ workspace: "acme" });

    await store.transaction(async (tx) => ok(await tx.updateWorkspace({ ...acme, status: "suspended" })));
    await store.transaction(async (tx) => ok(await tx.insertKey(key)));
    await vi.waitFor(() => expect(heard.length).toBe(2), { timeout: 2000, interval: 10 });
    expect(heard).toEqual([
      { hashes: [], all: true },
      { hashes: [key.keyHash], all: false },
    ]);
  });
});

describe("a change notice's payload", () => {
  it("names the hashes, or everything when they would not fit in PostgreSQL's 8000 bytes", () => {
    const few = ["a".repeat(64), "b".repeat(64)];
    expect(decodeChangeNotice(encodeChangeNotice({ hashes: few, all: false }), "s")).toEqual({
      hashes: few,
      all: false,
    });
    const many = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(64, "0"));
    const payload = encodeChangeNotice({ hashes: many, all: false });
    expect(Buffer.byteLength(payload)).toBeLessThan(7700);
    expect(decodeChangeNotice(payload, "s")).toEqual({ hashes: [], all: true });
  });

  it("is ignored when sent for another schema, and read as everything when unreadable", () => {
    const payload = JSON.stringify({ h: ["a".repeat(64)], schema: "theirs" });
    expect(decodeChangeNotice(payload, "ours")).toBeUndefined();
    expect(decodeChangeNotice("not json", "ours")).toEqual({ hashes: [], all: true });
  });
});
