/** The largest cost one request may count: far beyond any tier, and exact in a double. */
export const MAX_COST = 1_000_000;

/**
 * A request's cost against its key's limits from its wire form: unset (0, or "" in a route's
 * `keyward.cost`) is 1; otherwise a whole number from 1 to MAX_COST, or an error message naming `field`.
 */
export function requestCost(field: string, value: bigint | string): number | { readonly error: string } {
  if (value === 0n || value === "") return 1;
  const n = typeof value === "bigint" ? value : /^[0-9]{1,7}$/.test(value) ? BigInt(value) : -1n;
  if (n < 1n || n > BigInt(MAX_COST))
    return { error: `${field} must be a whole number from 1 to ${MAX_COST}` };
  return Number(n);
}
