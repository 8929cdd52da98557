import { describe, expect, it } from "vitest";
import { useServer } from "../support/use-server.js";

// Paging through 2,500 keys returns each exactly once while keys are being issued concurrently.

const server = useServer({ workspace: "paging" });

/** Issues `count` keys with `parallel` calls in flight; returns their ids. */
async function issueMany(count: number, parallel: number, name: string): Promise<string[]> {
  const { keys } = server.clients(server.admin);
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const n = next++;
        const issued = await keys.issueKey({ workspace: "paging", name: `${name} ${n}` });
        ids.push(issued.key?.keyId ?? "");
      }
    }),
  );
  return ids;
}

describe("ListKeys paging", () => {
  it("returns every existing key exactly once while others are being issued", async () => {
    const existing = new Set(await issueMany(2500, 16, "existing"));
    const { keys } = server.clients(server.admin);
    const bootstrapped = await keys.listKeys({
      namePrefix: "test admin",
    });
    for (const key of bootstrapped.keys) existing.add(key.keyId);
    expect(existing.size).toBe(2501);

    const concurrent = issueMany(300, 2, "concurrent");
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await keys.listKeys({ workspace: "paging", pageSize: 97, pageToken });
      seen.push(...page.keys.map((k) => k.keyId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "" && pages < 100);
    const added = new Set(await concurrent);

    expect(new Set(seen).size).toBe(seen.length); // nothing twice
    for (const id of existing) expect(seen).toContain(id); // nothing that existed is missed
    for (const id of seen) expect(existing.has(id) || added.has(id)).toBe(true);
  });
});
