import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { parseAllDocuments } from "yaml";

// The YAML files under deploy/, parsed once, and the walking helpers both deploy tests use
// (deploy-config.test.ts, gateway-config.test.ts).

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DEPLOY = join(ROOT, "deploy");

export function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/** The value at a path of keys and indexes, or undefined where the path leaves the tree. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let node = value;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

export function listAt(value: unknown, ...path: (string | number)[]): unknown[] {
  const list = at(value, ...path);
  if (!Array.isArray(list)) throw new Error(`expected a list at ${path.join(".")}`);
  return list;
}

/** Every document of a YAML text, failing on any error or warning (duplicate keys included). */
export function parseYaml(text: string, where: string): unknown[] {
  return Array.from(parseAllDocuments(text), (document) => {
    const problems = [...document.errors, ...document.warnings].map((problem) => problem.message);
    if (problems.length > 0) throw new Error(`${where}: ${problems.join("; ")}`);
    return document.toJS() as unknown;
  });
}

/** The YAML files under deploy/, relative to it, sorted. */
export const yamlFiles = readdirSync(DEPLOY, { recursive: true, encoding: "utf8" })
  .filter((file) => /\.ya?ml$/.test(file))
  .sort();

/** Every document of every YAML file under deploy/, by file. */
export const documents = new Map(
  yamlFiles.map((file) => [file, parseYaml(readFileSync(join(DEPLOY, file), "utf8"), `deploy/${file}`)]),
);

/** Every document of the files directly in a folder of deploy/ (not in its subfolders: k8s/replicated/). */
export function documentsUnder(folder: string): unknown[] {
  return [...documents]
    .filter(([file]) => file.startsWith(`${folder}/`) && !file.slice(folder.length + 1).includes("/"))
    .flatMap(([, docs]) => docs);
}

/** The one resource of a kind directly in a folder of deploy/. */
export function resource(folder: string, kind: string): unknown {
  const found = documentsUnder(folder).filter((doc) => at(doc, "kind") === kind);
  expect(found, `one ${kind} under deploy/${folder}`).toHaveLength(1);
  return found[0];
}
