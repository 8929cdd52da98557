import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * Keyward keys look like `kw_live_<43 random base62><6 checksum base62>`.
 * The random part carries 256 bits; the checksum (CRC32 over everything before
 * it) lets Authorize reject typos and garbage without a store lookup, and the
 * fixed shape lets secret scanners recognise a leaked key.
 */
export type Environment = "live" | "test";

export const DEFAULT_PREFIX = "kw";
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LENGTH = 43; // ⌈256 / log2(62)⌉
const CHECKSUM_LENGTH = 6; // 62^6 > 2^32, so any CRC32 fits
const TAIL_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH;
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;
const TAIL_PATTERN = /^[0-9A-Za-z]+$/;
const DISPLAY_LENGTH = 6; // random characters shown in key_prefix

// Unanchored and without the checksum: a key inside other text, with a typo or cut short, is still
// a secret as long as its random part is all there.
const KEY_SHAPE = new RegExp(`[a-z0-9]_(?:live|test)_[0-9A-Za-z]{${RANDOM_LENGTH},}`);

const KEY_SHAPES = new RegExp(KEY_SHAPE.source, "g");

/** Whether text carries something shaped like a Keyward key (prefix, environment, the random part), anywhere in it. */
export function containsKeyShape(text: string): boolean {
  return KEY_SHAPE.test(text);
}

/** The text with everything shaped like a key replaced. */
export function replaceKeyShapes(text: string, replacement: string): string {
  return text.replace(KEY_SHAPES, replacement);
}

/** Longest string that can be a key; anything longer is rejected before hashing. */
export const MAX_KEY_LENGTH = 16 + "_live_".length + TAIL_LENGTH;

/** A message naming what is wrong with a key prefix, or undefined when it is valid. */
export function prefixError(prefix: string): string | undefined {
  if (PREFIX_PATTERN.test(prefix)) return undefined;
  const shown = containsKeyShape(prefix) ? "" : ` "${prefix.slice(0, 32)}"`; // a key pasted here is not echoed
  return `prefix${shown} must be 1–16 characters of a–z and 0–9, starting with a letter`;
}

/** Generates a new key. The caller must have validated the prefix. */
export function generateKey(prefix: string, environment: Environment): string {
  const body = `${prefix}_${environment}_${randomBase62(RANDOM_LENGTH)}`;
  return body + checksum(body);
}

/** What a well-formed key says about itself. */
export interface KeyShape {
  readonly prefix: string;
  readonly environment: Environment;
}

/** Parses a presented key; undefined when it is not a well-formed Keyward key. */
export function parseKey(candidate: string): KeyShape | undefined {
  if (candidate.length > MAX_KEY_LENGTH) return undefined;
  const envStart = candidate.indexOf("_") + 1;
  const tailStart = candidate.indexOf("_", envStart) + 1;
  if (envStart < 2 || tailStart === 0 || candidate.length - tailStart !== TAIL_LENGTH) return undefined;
  const environment = candidate.slice(envStart, tailStart - 1);
  if (environment !== "live" && environment !== "test") return undefined;
  const prefix = candidate.slice(0, envStart - 1);
  if (!PREFIX_PATTERN.test(prefix) || !TAIL_PATTERN.test(candidate.slice(tailStart))) return undefined;
  const checksumStart = candidate.length - CHECKSUM_LENGTH;
  if (checksum(candidate.slice(0, checksumStart)) !== candidate.slice(checksumStart)) return undefined;
  return { prefix, environment };
}

/** The non-secret part of a key shown in listings: prefix, environment and a few random characters. */
export function displayPrefix(key: string): string {
  const tailStart = key.indexOf("_", key.indexOf("_") + 1) + 1;
  return key.slice(0, tailStart + DISPLAY_LENGTH);
}

/** The key prefix (`kw`) of a display prefix (`kw_live_AbC123`). */
export function prefixOfDisplay(display: string): string {
  return display.slice(0, display.indexOf("_"));
}

function checksum(body: string): string {
  let value = crc32(body);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/**
 * Random base62 text from crypto.randomBytes. Rejection sampling keeps every
 * character uniform: bytes ≥ 248 (= 4 × 62) are skipped.
 */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length + 8)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}
