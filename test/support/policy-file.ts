import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";

/** The orders API's routes that the forward-auth and gateway tests ask about. */
export const ORDERS_POLICY = `
rules:
  - path: /v1/status
    public: true
  - methods: [POST]
    path: /v1/orders
    scopes: [orders:write]
  - methods: [GET]
    path: /v1/orders/**
    scopes: [orders:read]
`;

/**
 * Writes a route policy file before the tests of the enclosing block (or file) and removes it after
 * them; returns its path, valid from the first beforeAll on (pass `() => ({ KEYWARD_POLICY: path() })`
 * to useServer, which reads its env in a later hook).
 */
export function usePolicyFile(text: string): () => string {
  let dir: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "keyward-policy-"));
    writeFileSync(join(dir, "policy.yaml"), text);
  });
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    if (dir === undefined) throw new Error("usePolicyFile: the file exists only while its tests run");
    return join(dir, "policy.yaml");
  };
}
