import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { keyFields, keyRow } from "../../src/cli/key-output.js";
import { KeySchema } from "../../src/gen/keyward/v1/key_pb.js";

// How `keys get` and `keys list` show a key's usage, without a server.

const usedKey = create(KeySchema, {
  keyId: "key_1",
  usage: { requestsToday: 5n, requestsThisMonth: 42n, deniedThisMonth: 2n },
  lastUsedTime: timestampFromMs(Date.UTC(2026, 2, 4, 5, 6, 7, 890)),
});

const shown = (fields: readonly (readonly [string, string | undefined])[]) =>
  Object.fromEntries(fields.filter(([, value]) => value !== undefined));

describe("key usage output", () => {
  it("keys get: the counts and the last use, last among the fields", () => {
    const fields = keyFields(usedKey);
    expect(fields.slice(-4)).toEqual([
      ["requests_today", "5"],
      ["requests_this_month", "42"],
      ["denied_this_month", "2"],
      ["last_used_time", "2026-03-04T05:06:07Z"],
    ]);
  });

  it("keys get: zeros and `never` for a key never used", () => {
    const fields = shown(keyFields(create(KeySchema, { keyId: "key_2", usage: {} })));
    expect(fields).toMatchObject({
      requests_today: "0",
      requests_this_month: "0",
      denied_this_month: "0",
      last_used_time: "never",
    });
  });

  it("keys get: no counts when the response carries no usage, rather than zeros", () => {
    const fields = shown(keyFields(create(KeySchema, { keyId: "key_3" })));
    expect(Object.keys(fields)).not.toContain("requests_today");
    expect(Object.keys(fields)).not.toContain("denied_this_month");
    expect(Object.keys(fields)).not.toContain("last_used_time");
  });

  it("keys list: requests this month in the REQ/MONTH column, `-` when not known", () => {
    expect(keyRow(usedKey)).toContain("42");
    expect(keyRow(usedKey).indexOf("42")).toBe(7);
    expect(keyRow(create(KeySchema, { keyId: "key_3" }))[7]).toBe("-");
  });
});
