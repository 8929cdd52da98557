import { readFileSync } from "node:fs";

/** Keyward's version, from the package.json beside src/ and dist/ (read once, at start-up). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
