#!/usr/bin/env node
// The `keyward` command. Runs the TypeScript sources through tsx, so a checkout works right after npm install.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
