import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { killGroup, spawnScript, stopGroup, waitForServing } from "../support/spawn-server.js";

// The README's own command, through npm: `npm start` compiles what changed (prestart) and runs the
// compiled server, not the TypeScript sources through a loader.

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

it("`npm start` serves from dist/ with no TypeScript loader, and drains on SIGTERM", async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-npm-start-"));
  const server = spawnScript(
    "npm start --silent",
    {
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "off",
      KEYWARD_WORKERS: "1",
      KEYWARD_DATABASE: `sqlite:${join(dir, "keyward.db")}`,
    },
    { processGroup: true }, // SIGTERM reaches npm and the server alike, as from a terminal
  );
  try {
    const [pid] = await waitForServing(server, 1, 60_000);
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    expect(commandLine.slice(1, 2)).toEqual(["dist/main.js"]);
    expect(commandLine.join(" ")).not.toMatch(/tsx|\.ts\b/);
    await stopGroup(server);
    expect(server.output()).toContain('"msg":"keyward stopped"');
  } finally {
    await killGroup(server);
  }
}, 90_000);
