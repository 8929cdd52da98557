import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { servingField } from "../support/log-lines.js";

// The README's own command, through npm: `npm start` compiles what changed (prestart) and runs the
// compiled server, not the TypeScript sources through a loader.

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

it("`npm start` serves from dist/ with no TypeScript loader, and drains on SIGTERM", async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-npm-start-"));
  const child = spawn("npm", ["start", "--silent"], {
    env: {
      ...process.env,
      KEYWARD_LISTEN: "127.0.0.1:0",
      KEYWARD_HTTP_LISTEN: "off",
      KEYWARD_WORKERS: "1",
      KEYWARD_DATABASE: `sqlite:${join(dir, "keyward.db")}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group: SIGTERM reaches npm and the server alike, as from a terminal
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  // "close": npm and the server it started have both exited (both held the output pipes).
  const closed = new Promise((resolve) => child.on("close", resolve));
  try {
    const pid = await vi.waitFor(
      () => {
        const pid = servingField(output, "pid")[0];
        if (pid === undefined) throw new Error(`not serving yet:\n${output}`);
        return Number(pid);
      },
      { timeout: 60_000, interval: 100 },
    );
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    expect(commandLine.slice(1, 2)).toEqual(["dist/main.js"]);
    expect(commandLine.join(" ")).not.toMatch(/tsx|\.ts\b/);
    process.kill(-(child.pid as number), "SIGTERM");
    await closed;
    expect(output).toContain('"msg":"keyward stopped"');
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), "SIGKILL");
  }
}, 90_000);
