import { hash, timingSafeEqual } from "node:crypto";

/** SHA-256 of a key, hex. Only this is stored; the key itself never is. */
export function hashKey(key: string): string {
  return hash("sha256", key, "hex");
}

/**
 * SHA-256 of a key as 32 latin1 characters: what caches are indexed by. The same hash as
 * hashKey, in half the memory of hex, which counts at a million cached keys (bench scenario 7).
 */
export function digestKey(key: string): string {
  return hash("sha256", key, "binary"); // "binary" is latin1
}

/** The digest (see digestKey) of a stored hex hash. */
export function digestOfHash(keyHash: string): string {
  return Buffer.from(keyHash, "hex").toString("latin1");
}

/** The stored hex hash of a digest (see digestKey). */
export function hashOfDigest(digest: string): string {
  return Buffer.from(digest, "latin1").toString("hex");
}

/** Compares two hex hashes in constant time. */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}
