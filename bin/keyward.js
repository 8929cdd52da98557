#!/usr/bin/env node
// The `keyward` command: the compiled CLI in dist/, which `npm install` builds (the `prepare` script).
import { existsSync } from "node:fs";

const cli = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("keyward: dist/ is missing; run `npm run build` in the keyward checkout\n");
  process.exit(1);
}
await import(cli.href);
