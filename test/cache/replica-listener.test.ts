import { describe, expect, it, vi } from "vitest";
import type { Invalidation } from "../../src/cache/invalidation.js";
import { type OpenListener, startReplicaListener } from "../../src/cache/replica-listener.js";
import { createLogger } from "../../src/log.js";
import type { ChangeListenerHandlers } from "../../src/store/database.js";

// The reconnect loop of a replica's LISTEN connection, over a fake connection: what the caches are
// told, in which order, and when. The real connection: test/store/change-notice.test.ts and
// test/process/replicas.test.ts.

/** A fake LISTEN connection that fails `failing` times before each success, and a record of it all. */
function fakeDatabase(failing = 0) {
  const events: string[] = [];
  const lines: string[] = [];
  let handlers: ChangeListenerHandlers | undefined;
  let failuresLeft = failing;
  const open: OpenListener = async (h) => {
    events.push("open");
    if (failuresLeft > 0) {
      failuresLeft--;
      throw new Error("connect ECONNREFUSED");
    }
    handlers = h;
    return { schema: "ours", ping: async () => undefined, close: async () => undefined };
  };
  const options = {
    open,
    log: createLogger("info", (line) => lines.push(line)),
    apply: (change: Invalidation) => events.push(`apply ${change.all ? "all" : change.hashes.join(",")}`),
    distrust: () => events.push("distrust"),
    trust: async () => {
      events.push("trust");
    },
  };
  return {
    options,
    events,
    lines,
    notice: (payload: string) => handlers?.notice(payload),
    lose: (failures: number) => {
      failuresLeft = failures;
      handlers?.lost(new Error("terminating connection due to administrator command"));
    },
  };
}

describe("startReplicaListener", () => {
  it("distrusts the caches until it listens, then applies this schema's notices only", async () => {
    const db = fakeDatabase();
    const listener = await startReplicaListener(db.options);
    expect(listener.listening).toBe(true);
    db.notice(JSON.stringify({ h: ["aa", "bb"], schema: "ours" }));
    db.notice(JSON.stringify({ h: ["cc"], schema: "theirs" }));
    db.notice(JSON.stringify({ all: true, schema: "ours" }));
    expect(db.events).toEqual(["distrust", "open", "trust", "apply aa,bb", "apply all"]);
    await listener.close();
  });

  it("on a lost connection distrusts at once, retries with backoff, and trusts only once it listens again", async () => {
    const db = fakeDatabase();
    const listener = await startReplicaListener(db.options);
    db.events.length = 0;
    const lostAt = performance.now();
    db.lose(2); // two reconnections fail: attempts after 100, 200 and 400 ms of backoff
    expect(db.events).toEqual(["distrust"]);
    expect(listener.listening).toBe(false);
    await vi.waitFor(() => expect(db.events.at(-1)).toBe("trust"), { timeout: 3000, interval: 10 });
    expect(performance.now() - lostAt).toBeGreaterThanOrEqual(690);
    expect(db.events).toEqual(["distrust", "open", "open", "open", "trust"]);
    expect(listener.listening).toBe(true);
    const levels = db.lines.map((line) => (JSON.parse(line) as { level: string; msg: string }).level);
    expect(levels).toEqual(["warn", "info"]); // one line on the loss, one on the recovery
    await listener.close();
  });

  it("starts distrusted and keeps retrying when the first LISTEN fails", async () => {
    const db = fakeDatabase(1);
    const listener = await startReplicaListener(db.options);
    expect(listener.listening).toBe(false);
    expect(db.events).toEqual(["distrust", "open"]);
    await vi.waitFor(() => expect(db.events.at(-1)).toBe("trust"), { timeout: 3000, interval: 10 });
    await listener.close();
  });

  it("does not trust a connection lost as it opened, and tries again", async () => {
    const events: string[] = [];
    let opens = 0;
    const listener = await startReplicaListener({
      open: async (handlers) => {
        events.push("open");
        if (++opens === 1) handlers.lost(new Error("terminated")); // before the caller sees it
        return { schema: "ours", ping: async () => undefined, close: async () => undefined };
      },
      log: createLogger("error", () => undefined),
      apply: () => undefined,
      distrust: () => events.push("distrust"),
      trust: async () => {
        events.push("trust");
      },
    });
    expect(events).toEqual(["distrust", "open", "distrust"]);
    await vi.waitFor(() => expect(events.at(-1)).toBe("trust"), { timeout: 3000, interval: 10 });
    expect(events).toEqual(["distrust", "open", "distrust", "open", "trust"]);
    await listener.close();
  });

  it("stops retrying once closed", async () => {
    const db = fakeDatabase();
    const listener = await startReplicaListener(db.options);
    db.lose(100);
    await listener.close();
    const opened = db.events.filter((event) => event === "open").length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(db.events.filter((event) => event === "open").length).toBe(opened);
  });
});
