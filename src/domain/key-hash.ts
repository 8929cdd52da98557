import { hash, timingSafeEqual } from "node:crypto";

/** SHA-256 of a key, hex. Only this is stored; the key itself never is. */
export function hashKey(key: string): string {
  return hash("sha256", key, "hex");
}

/** Compares two hex hashes in constant time. */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}
