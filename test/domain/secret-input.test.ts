import { describe, expect, it } from "vitest";
import { containsKeyShape, generateKey } from "../../src/domain/key-format.js";
import { pageOf, pageRequest } from "../../src/domain/page-token.js";
import { scopeError } from "../../src/domain/scope.js";
import { keyShapedError, quoted, withoutKeys } from "../../src/domain/secret-input.js";
import { workspaceError } from "../../src/domain/workspace.js";

// Issue #10, defect 6: what counts as a key in input, and how it is kept out of messages.

const key = generateKey("kw", "live");
const random = key.slice("kw_live_".length, "kw_live_".length + 43);

describe("containsKeyShape", () => {
  it("sees a key alone, inside text, with a bad checksum, cut after its random part, and of any prefix", () => {
    const typo = `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`;
    for (const text of [
      key,
      `Bearer ${key}`,
      `orders:${key}`,
      typo,
      key.slice(0, -6),
      generateKey("acme", "test"),
    ]) {
      expect(containsKeyShape(text), text).toBe(true);
    }
  });

  it("leaves identifiers and display prefixes alone", () => {
    for (const text of [
      "key_7fQ2a9bXk3LmNp0RsTuVwXyZ",
      "kw_live_AbC123",
      "acme-prod",
      "orders:read",
      key.slice(0, 40),
    ]) {
      expect(containsKeyShape(text), text).toBe(false);
    }
  });
});

describe("quoted and keyShapedError", () => {
  it("quote an ordinary value, cut, and withhold one carrying a key whole", () => {
    expect(quoted("acme", 64)).toBe('"acme"');
    expect(quoted("x".repeat(100), 3)).toBe('"xxx"');
    // A cut at 20 would leave part of the key that the shape check could no longer see.
    expect(quoted(`${"x".repeat(15)} ${key}`, 20)).not.toContain(random.slice(0, 4));
    expect(quoted(key, 64)).not.toContain(random);
  });

  it("refuse by field name, never by value", () => {
    expect(keyShapedError("owner_id", "team-a")).toBeUndefined();
    const message = keyShapedError("owner_id", key);
    expect(message).toContain("owner_id");
    expect(message).not.toContain(random);
  });

  it("replace every key in kept text", () => {
    const text = withoutKeys(`curl ${key} and ${key}`);
    expect(text).toContain("curl");
    expect(text).not.toContain(random);
  });
});

describe("messages that quote input", () => {
  it("withhold a key given as a scope or a workspace, and refuse a key-shaped workspace", () => {
    expect(scopeError(key)).not.toContain(random);
    expect(scopeError(`orders:${key}`)).not.toContain(random);
    const refused = workspaceError(key); // the workspace pattern itself admits a key
    expect(refused).toContain("looks like a Keyward key");
    expect(refused).not.toContain(random);
  });

  it("keep filters out of page tokens: a token carries a fingerprint of them", () => {
    const request = pageRequest(1, "", ["acme", key]);
    if (!request.ok) throw new Error(request.error.message);
    const { nextPageToken } = pageOf([{ id: "a" }, { id: "b" }], request.value, (item) => ({
      time: 1,
      id: item.id,
    }));
    expect(nextPageToken).not.toBe("");
    expect(Buffer.from(nextPageToken, "base64url").toString("utf8")).not.toContain(random);
    expect(pageRequest(1, nextPageToken, ["acme", key]).ok).toBe(true);
    expect(pageRequest(1, nextPageToken, ["acme", "other"]).ok).toBe(false);
  });
});
