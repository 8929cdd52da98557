import { readFileSync } from "node:fs";

/** The bash block between `<!-- name:start -->` and `<!-- name:end -->` in the README. */
export function readmeBlock(name: string): string {
  const readme = readFileSync("README.md", "utf8");
  const block = new RegExp(
    `<!-- ${name}:start -->\\s*\`\`\`bash\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`,
  ).exec(readme);
  if (!block?.[1]) throw new Error(`README.md has no ${name} block`);
  return block[1];
}
