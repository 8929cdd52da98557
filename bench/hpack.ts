// HPACK (RFC 7541) for bench/h2-unary-client.ts: encoding a constant request header block, and
// decoding the server's answers (dynamic table and Huffman strings included), which is all a
// client that only reads `:status`, `grpc-status` and `grpc-message` needs.

/** The static table (RFC 7541 Appendix A), index 1 … 61. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ...[
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
  ].map((name): [string, string] => [name, name === "accept-encoding" ? "gzip, deflate" : ""]),
];

// The Huffman code (RFC 7541 Appendix B) is canonical: codes are handed out in order of length,
// and by symbol within a length. Its code lengths, symbols 0 … 255, are all it takes to decode.
// biome-ignore format: a table, 32 symbols a line
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];

/** Per code length: the first code, how many codes, and where their symbols start in SYMBOLS. */
const SYMBOLS = [...CODE_LENGTHS.keys()].sort(
  (a, b) => (CODE_LENGTHS[a] as number) - (CODE_LENGTHS[b] as number) || a - b,
);
const FIRST_CODE: number[] = [];
const COUNT: number[] = [];
const FIRST_INDEX: number[] = [];
{
  let code = 0;
  let index = 0;
  for (let length = 1; length <= 30; length++) {
    FIRST_CODE[length] = code;
    FIRST_INDEX[length] = index;
    while (index < SYMBOLS.length && CODE_LENGTHS[SYMBOLS[index] as number] === length) index++;
    COUNT[length] = index - (FIRST_INDEX[length] as number);
    code = (code + (COUNT[length] as number)) * 2;
  }
}

function huffmanDecode(bytes: Buffer): string {
  let text = "";
  let code = 0;
  let length = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const offset = code - (FIRST_CODE[length] as number);
      if (offset < (COUNT[length] as number)) {
        text += String.fromCharCode(SYMBOLS[(FIRST_INDEX[length] as number) + offset] as number);
        code = 0;
        length = 0;
      } else if (length === 30) throw new Error("HPACK: invalid Huffman code (or EOS)");
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (the start of EOS).
  if (length > 7 || code !== 2 ** length - 1) throw new Error("HPACK: invalid Huffman padding");
  return text;
}

/**
 * A header block of literal fields without indexing and without Huffman coding: it leaves the
 * peer's dynamic table alone, so the same bytes can start every request on a connection.
 */
export function encodeHeaderBlock(headers: Readonly<Record<string, string>>): Buffer {
  const parts: Buffer[] = [];
  const string = (text: string) => {
    const bytes = Buffer.from(text, "latin1");
    return Buffer.concat([integer(bytes.length, 7, 0), bytes]);
  };
  for (const [name, value] of Object.entries(headers))
    parts.push(Buffer.from([0]), string(name.toLowerCase()), string(value));
  return Buffer.concat(parts);
}

function integer(value: number, prefixBits: number, flags: number): Buffer {
  const max = 2 ** prefixBits - 1;
  if (value < max) return Buffer.from([flags | value]);
  const bytes = [flags | max];
  let rest = value - max;
  for (; rest >= 128; rest = Math.floor(rest / 128)) bytes.push((rest % 128) + 128);
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Decodes header blocks of one connection, in the order they arrived (they share a dynamic table). */
export class HpackDecoder {
  private table: [string, string][] = [];
  private size = 0;
  private block: Buffer = Buffer.alloc(0);
  private at = 0;

  /**
   * `maxSize` is the SETTINGS_HEADER_TABLE_SIZE this side advertised (the client sends none: the
   * default, 4,096); the peer may lower it with a dynamic table size update.
   */
  constructor(private maxSize = 4096) {}

  /** The dynamic table's size as RFC 7541 §4.1 counts it: name + value + 32 octets per entry. */
  get tableSize(): number {
    return this.size;
  }

  decode(block: Buffer): [string, string][] {
    this.block = block;
    this.at = 0;
    const fields: [string, string][] = [];
    while (this.at < block.length) {
      const first = block[this.at] as number;
      if (first & 0x80) fields.push(this.entry(this.integer(7)));
      else if (first & 0x40) {
        const field = this.literal(6);
        this.insert(field);
        fields.push(field);
      } else if (first & 0x20) {
        this.maxSize = this.integer(5);
        this.evict();
      } else fields.push(this.literal(4)); // without indexing, or never indexed
    }
    return fields;
  }

  private literal(prefixBits: number): [string, string] {
    const index = this.integer(prefixBits);
    const name = index === 0 ? this.string() : this.entry(index)[0];
    return [name, this.string()];
  }

  private entry(index: number): [string, string] {
    const field = index <= STATIC_TABLE.length ? STATIC_TABLE[index - 1] : this.table[index - 62];
    if (index === 0 || field === undefined) throw new Error(`HPACK: no table entry ${index}`);
    return [field[0], field[1]];
  }

  private insert(field: [string, string]): void {
    this.table.unshift(field);
    this.size += field[0].length + field[1].length + 32;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.maxSize) {
      const [name, value] = this.table.pop() as [string, string];
      this.size -= name.length + value.length + 32;
    }
  }

  private integer(prefixBits: number): number {
    const max = 2 ** prefixBits - 1;
    let value = (this.block[this.at++] as number) & max;
    if (value < max) return value;
    for (let shift = 1; ; shift *= 128) {
      const byte = this.block[this.at++];
      if (byte === undefined) throw new Error("HPACK: truncated integer");
      value += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) return value;
    }
  }

  private string(): string {
    const huffman = ((this.block[this.at] as number) & 0x80) !== 0;
    const length = this.integer(7);
    const bytes = this.block.subarray(this.at, this.at + length);
    if (bytes.length !== length) throw new Error("HPACK: truncated string");
    this.at += length;
    return huffman ? huffmanDecode(bytes) : bytes.toString("latin1");
  }
}
