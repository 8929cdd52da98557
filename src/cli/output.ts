import { type DescEnum, type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";

// Generic output: aligned tables, "field: value" listings and canonical proto3 JSON. What goes in
// them is decided next to each command (keys-commands.ts, …).

/** Prints a message in the proto3 JSON mapping (camelCase names, enum names, RFC 3339 times), as grpcurl does. */
export function printJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void {
  process.stdout.write(`${JSON.stringify(toJson(schema, message), null, 2)}\n`);
}

/** Prints rows under a header, each column as wide as its widest cell, two spaces apart. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const cells = [headers, ...rows].map((row) => row.map(printable));
  // reduce rather than Math.max(...): `--all` can bring more rows than a call has room for arguments.
  const widths = headers.map((_, column) =>
    cells.reduce((widest, row) => Math.max(widest, (row[column] ?? "").length), 0),
  );
  for (const row of cells) {
    const padded = row.map((cell, column) => cell.padEnd(widths[column] ?? 0));
    process.stdout.write(`${padded.join("  ").trimEnd()}\n`);
  }
}

/** Prints one record vertically, `field: value`, values aligned; fields given as undefined are left out. */
export function printFields(fields: readonly (readonly [string, string | undefined])[]): void {
  const shown = fields.filter((field): field is readonly [string, string] => field[1] !== undefined);
  const width = Math.max(...shown.map(([name]) => name.length)) + 1;
  for (const [name, value] of shown) {
    process.stdout.write(`${`${name}:`.padEnd(width)} ${printable(value)}\n`);
  }
}

/** A timestamp as RFC 3339 in UTC to the second (--json has the exact time); `fallback` when unset. */
export function formatTime(time: Timestamp | undefined, fallback = "-"): string {
  if (time === undefined) return fallback;
  return new Date(timestampMs(time)).toISOString().replace(/\.\d+Z$/, "Z");
}

/** An enum value without its shared prefix (`KEY_STATUS_ACTIVE` → `ACTIVE`); the number if unknown. */
export function enumName(schema: DescEnum, value: number): string {
  const name = schema.value[value]?.name;
  if (name === undefined) return String(value);
  return name.slice(schema.sharedPrefix?.length ?? 0);
}

/** A list for one cell: comma-separated, `-` when empty so that columns never collapse. */
export function formatList(values: readonly string[]): string {
  return values.length === 0 ? "-" : values.join(",");
}

/** `k=v,k2=v2` for a metadata map, keys sorted so the output is stable. */
export function formatMap(map: Readonly<Record<string, string>>): string {
  return formatList(
    Object.keys(map)
      .sort()
      .map((key) => `${key}=${map[key]}`),
  );
}

/**
 * Names, descriptions and metadata are set by other admins and may hold newlines or terminal escape
 * sequences; printed raw they could break the table or rewrite the operator's screen.
 */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\uFFFD");
}
