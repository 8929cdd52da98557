import { fail, type Outcome, ok } from "./outcome.js";

/**
 * A key's allowed client networks (issue 12 `allowed_cidrs`). Every address is held as 128 bits, an IPv4
 * address as its IPv4-mapped IPv6 form (::ffff:a.b.c.d) and an IPv4 prefix /p as /(96 + p), so that
 * `::ffff:10.1.2.3` matches `10.0.0.0/8` and `10.1.2.3` matches `::ffff:0:0/96` without special cases.
 */

/** At most this many CIDRs per key, so that a match costs a bounded number of comparisons. */
export const MAX_CIDRS = 100;
/** Longer client addresses are not parsed and match nothing (the longest textual IPv6 is 45 characters). */
export const MAX_ADDRESS_LENGTH = 64;

/** A validated network: its canonical text (a bare address gets /32 or /128) and its 128-bit form. */
export interface Cidr {
  /** Canonical text: IPv4 dotted, IPv6 in RFC 5952 form, always with a prefix length. */
  readonly text: string;
  /** The network as four 32-bit words, host bits zero. */
  readonly words: readonly [number, number, number, number];
  /** Prefix length over all 128 bits (an IPv4 /8 is 104). */
  readonly bits: number;
}

/**
 * Parses one CIDR or bare address. Host bits set (10.1.2.3/8) are refused with the network that was
 * probably meant, unless `clearHostBits`: for values stored before this parser checked them.
 */
export function parseCidr(input: string, clearHostBits = false): Outcome<Cidr> {
  if (input.length > MAX_ADDRESS_LENGTH + 4)
    return fail("invalid_argument", "not an IP address or CIDR: too long");
  const slash = input.indexOf("/");
  const address = slash < 0 ? input : input.slice(0, slash);
  const words = new Uint32Array(4);
  const kind = parseAddress(address, words);
  if (kind === undefined) return fail("invalid_argument", `not an IP address or CIDR: ${quote(input)}`);
  const max = kind === 4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const digits = input.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(digits) || Number(digits) > max) {
      return fail("invalid_argument", `${quote(input)}: the prefix length must be 0 to ${max}`);
    }
    length = Number(digits);
  }
  const bits = kind === 4 ? 96 + length : length;
  const network = mask(words, bits);
  const text = `${formatAddress(network, kind)}/${length}`;
  if (!clearHostBits && network.some((w, i) => w !== words[i])) {
    return fail("invalid_argument", `${quote(input)} has host bits set; did you mean ${text}?`);
  }
  const [w0 = 0, w1 = 0, w2 = 0, w3 = 0] = network;
  return ok({ text, words: [w0, w1, w2, w3], bits });
}

/** Parses a list (at most MAX_CIDRS), naming the first bad entry; duplicates are kept once. */
export function parseCidrs(inputs: readonly string[], clearHostBits = false): Outcome<Cidr[]> {
  if (inputs.length > MAX_CIDRS)
    return fail("invalid_argument", `at most ${MAX_CIDRS} CIDRs (got ${inputs.length})`);
  const seen = new Map<string, Cidr>();
  for (const input of inputs) {
    const parsed = parseCidr(input, clearHostBits);
    if (!parsed.ok) return parsed;
    seen.set(parsed.value.text, parsed.value);
  }
  return ok([...seen.values()]);
}

/**
 * A matcher for validated networks: true when the client address is inside one of them. An address that
 * does not parse (junk, a zone id, too long) matches nothing. It reuses one scratch buffer, so it does not
 * allocate per call and must not be shared across threads (Node has none here).
 */
export function compileCidrs(cidrs: readonly Cidr[]): (ip: string) => boolean {
  const count = cidrs.length;
  // Signed words, so that every mask, network and address word stays a small integer to V8 (an unsigned
  // word above 2^31 is a heap number, which made a match over 100 CIDRs several times slower).
  const networks = new Int32Array(count * 4);
  const masks = new Int32Array(count * 4);
  cidrs.forEach((cidr, n) => {
    for (let i = 0; i < 4; i++) {
      networks[n * 4 + i] = cidr.words[i] as number;
      masks[n * 4 + i] = wordMask(cidr.bits, i);
    }
  });
  const scratch = new Int32Array(4);
  return (ip) => {
    if (ip.length > MAX_ADDRESS_LENGTH || parseAddress(ip, scratch) === undefined) return false;
    const a0 = scratch[0] as number;
    const a1 = scratch[1] as number;
    const a2 = scratch[2] as number;
    const a3 = scratch[3] as number;
    for (let n = 0; n < count * 4; n += 4) {
      if (
        (a3 & (masks[n + 3] as number)) === networks[n + 3] &&
        (a2 & (masks[n + 2] as number)) === networks[n + 2] &&
        (a1 & (masks[n + 1] as number)) === networks[n + 1] &&
        (a0 & (masks[n] as number)) === networks[n]
      ) {
        return true;
      }
    }
    return false;
  };
}

/**
 * A key's stored allowed_cidrs as decisions read them: undefined for none (any address), else a
 * matcher. Stored values were validated when set; one that no longer parses matches nothing, so a
 * key is never opened to every address by a bad value.
 */
export function compileAllowedCidrs(texts: readonly string[]): ((ip: string) => boolean) | undefined {
  if (texts.length === 0) return undefined;
  const parsed = parseCidrs(texts, true);
  return parsed.ok ? compileCidrs(parsed.value) : () => false;
}

/**
 * Parses an IPv4 or IPv6 address into `out` (IPv4 as IPv4-mapped), returning 4 or 6, or undefined for
 * anything else. Exported for the tests and for callers that need the 128-bit form of a client address.
 */
export function parseAddress(text: string, out: Uint32Array | Int32Array): 4 | 6 | undefined {
  if (text.includes(":")) return parseIpv6(text, out) ? 6 : undefined;
  const v4 = parseIpv4(text, 0, text.length);
  if (v4 === undefined) return undefined;
  out[0] = 0;
  out[1] = 0;
  out[2] = 0xffff;
  out[3] = v4;
  return 4;
}

// Strict dotted quad: four decimal octets, no leading zeros (which some parsers read as octal).
function parseIpv4(text: string, start: number, end: number): number | undefined {
  let value = 0;
  let octets = 0;
  let i = start;
  while (octets < 4) {
    let octet = 0;
    const first = i;
    while (i < end && i - first < 3) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      octet = octet * 10 + c;
      i++;
    }
    if (i === first || octet > 255 || (i - first > 1 && text.charCodeAt(first) === 48)) return undefined;
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (text.charCodeAt(i) !== 46) return undefined; // "."
      i++;
    }
  }
  return i === end ? value : undefined;
}

// Scratch for the eight 16-bit groups: filled and read within one parseIpv6 call, never kept.
const groups = new Uint16Array(8);

// One pass over the characters without slicing, splitting or regular expressions: this runs for every
// IPv6 client of a key with allowed CIDRs. Eight groups of 1–4 hex digits; `::` once, for one or more
// zero groups; the last 32 bits may be dotted IPv4. (test/domain/cidr.test.ts checks it against isIP.)
function parseIpv6(text: string, out: Uint32Array | Int32Array): boolean {
  const length = text.length;
  let count = 0;
  let gapAt = -1;
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gapAt = 0;
    i = 2;
  }
  while (i < length) {
    let value = 0;
    let j = i;
    for (; j < length; j++) {
      const digit = hexDigit(text.charCodeAt(j));
      if (digit < 0) break;
      if (j - i === 4) return false;
      value = value * 16 + digit;
    }
    if (j === i) return false;
    if (text.charCodeAt(j) === DOT) {
      const v4 = parseIpv4(text, i, length);
      if (v4 === undefined || count > 6) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      break;
    }
    if (count === 8) return false;
    groups[count++] = value;
    if (j === length) break;
    if (text.charCodeAt(j) !== COLON) return false;
    j++;
    if (text.charCodeAt(j) === COLON) {
      if (gapAt >= 0) return false;
      gapAt = count;
      j++;
    } else if (j === length) {
      return false;
    }
    i = j;
  }
  if (gapAt < 0 ? count !== 8 : count > 7) return false;
  if (gapAt >= 0) {
    // Move the groups after `::` to the end and zero the ones it stands for.
    const zeros = 8 - count;
    for (let k = count - 1; k >= gapAt; k--) groups[k + zeros] = groups[k] as number;
    groups.fill(0, gapAt, gapAt + zeros);
  }
  for (let w = 0; w < 4; w++)
    out[w] = ((groups[2 * w] as number) * 0x10000 + (groups[2 * w + 1] as number)) | 0;
  return true;
}

const COLON = 58;
const DOT = 46;

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  if (code >= 65 && code <= 70) return code - 55; // A-F
  return -1;
}

function wordMask(bits: number, word: number): number {
  const inWord = Math.min(32, Math.max(0, bits - word * 32));
  return inWord === 0 ? 0 : (0xffffffff << (32 - inWord)) >>> 0;
}

function mask(words: Uint32Array, bits: number): Uint32Array {
  return words.map((w, i) => (w & wordMask(bits, i)) >>> 0);
}

// RFC 5952: lower-case hex, no leading zeros, the longest run (of two or more) of zero groups as `::`.
function formatAddress(words: Uint32Array, kind: 4 | 6): string {
  const w3 = words[3] as number;
  if (kind === 4) return `${w3 >>> 24}.${(w3 >>> 16) & 255}.${(w3 >>> 8) & 255}.${w3 & 255}`;
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return `::ffff:${formatAddress(words, 4)}`;
  const groups: number[] = [];
  for (const w of words) groups.push(w >>> 16, w & 0xffff);
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 50 ? `${text.slice(0, 50)}…` : text);
}
