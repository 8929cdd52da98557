import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { type Issued, type TestCa, testCa } from "./support/certificates.js";

// The TLS variables: read and checked with the rest of the configuration, so that an unusable file
// stops start-up naming its variable (exit 2) instead of failing later in a listener.

let dir: string;
let ca: TestCa;
let server: Issued;
let garbage: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "keyward-config-tls-"));
  ca = testCa(dir, "ca");
  server = ca.server("server");
  garbage = join(dir, "garbage.pem");
  writeFileSync(garbage, "not a certificate\n");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const errorOf = (env: Record<string, string>) => {
  const loaded = loadConfig(env);
  return loaded.ok ? "no error" : loaded.error;
};

describe("loadConfig: TLS", () => {
  it("is off by default, and on with a certificate and its key", () => {
    const off = loadConfig({});
    expect(off.ok && off.config.tls).toBeUndefined();
    const on = loadConfig({ KEYWARD_TLS_CERT: server.certPath, KEYWARD_TLS_KEY: server.keyPath });
    expect(on.ok && on.config.tls).toEqual({
      certPath: server.certPath,
      keyPath: server.keyPath,
      clientCaPath: undefined,
      reloadMs: 5_000,
    });
    const mutual = loadConfig({
      KEYWARD_TLS_CERT: server.certPath,
      KEYWARD_TLS_KEY: server.keyPath,
      KEYWARD_TLS_CLIENT_CA: ca.certPath,
      KEYWARD_TLS_RELOAD: "30s",
    });
    expect(mutual.ok && mutual.config.tls).toMatchObject({ clientCaPath: ca.certPath, reloadMs: 30_000 });
  });

  it.each([
    ["a certificate without a key", () => ({ KEYWARD_TLS_CERT: server.certPath }), "KEYWARD_TLS_KEY="],
    ["a key without a certificate", () => ({ KEYWARD_TLS_KEY: server.keyPath }), "KEYWARD_TLS_CERT="],
    ["a client CA alone", () => ({ KEYWARD_TLS_CLIENT_CA: ca.certPath }), "KEYWARD_TLS_CLIENT_CA="],
    [
      "a missing certificate file",
      () => ({ KEYWARD_TLS_CERT: join(dir, "missing.crt"), KEYWARD_TLS_KEY: server.keyPath }),
      "KEYWARD_TLS_CERT=",
    ],
    [
      "a certificate file without a certificate",
      () => ({ KEYWARD_TLS_CERT: garbage, KEYWARD_TLS_KEY: server.keyPath }),
      "KEYWARD_TLS_CERT=",
    ],
    [
      "the key of another certificate",
      () => ({ KEYWARD_TLS_CERT: server.certPath, KEYWARD_TLS_KEY: ca.keyPath }),
      "KEYWARD_TLS_KEY=",
    ],
    [
      "a client CA file without a certificate",
      () => ({
        KEYWARD_TLS_CERT: server.certPath,
        KEYWARD_TLS_KEY: server.keyPath,
        KEYWARD_TLS_CLIENT_CA: garbage,
      }),
      "KEYWARD_TLS_CLIENT_CA=",
    ],
    [
      "a reload interval of zero",
      () => ({
        KEYWARD_TLS_CERT: server.certPath,
        KEYWARD_TLS_KEY: server.keyPath,
        KEYWARD_TLS_RELOAD: "0s",
      }),
      "KEYWARD_TLS_RELOAD=",
    ],
  ])("refuses %s, naming the variable", (_, env, name) => {
    expect(errorOf(env())).toMatch(new RegExp(`^${name}`));
  });
});
