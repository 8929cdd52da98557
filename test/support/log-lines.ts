// Reads a server's JSON log lines (src/log.ts) as the tests need them.

/** Every line of `output` that is a JSON object whose `msg` is `msg`, parsed. */
export function loggedLines(output: string, msg: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{") || !line.includes(`"msg":${JSON.stringify(msg)}`)) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg === msg) lines.push(parsed);
    } catch {
      // a line cut short by a kill: not a whole entry
    }
  }
  return lines;
}

/** The `keyward serving` lines' field `field` (grpc, http, metrics, pid), one per serving process. */
export function servingField(output: string, field: string): string[] {
  return loggedLines(output, "keyward serving").map((line) => String(line[field]));
}
