import { isIPv4, isIPv6 } from "node:net";

// A minimal CIDR check for the management API, until domain/cidr.ts (the matcher that enforcement
// uses) lands; the two are to be reconciled into one parser.

/**
 * A CIDR or a bare address in canonical text (a bare address becomes /32 or /128, IPv6 lower case),
 * or undefined when it is neither. Zone ids (`fe80::1%eth0`) are refused: they mean nothing off the host.
 */
export function normalizeCidr(text: string): string | undefined {
  const slash = text.indexOf("/");
  const address = (slash === -1 ? text : text.slice(0, slash)).toLowerCase();
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (address.includes("%")) return undefined;
  const bits = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (bits === 0) return undefined;
  if (prefixText === undefined) return `${address}/${bits}`;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return undefined;
  return `${address}/${Number(prefixText)}`;
}
