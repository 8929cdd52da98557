/** The longest address text looked at; longer is not an address (the longest IPv6 text is 45). */
const MAX_ADDRESS_CHARS = 64;

/** Most proxies KEYWARD_TRUSTED_PROXIES may name: more is a misconfiguration, not a network. */
export const MAX_TRUSTED_PROXIES = 10;

/**
 * The end client's address, for a key's allowed CIDRs, or undefined when it cannot be known.
 *
 * With no trusted proxies (the default) it is the address of the connection the gateway received
 * (Envoy's `attributes.source.address`): `x-forwarded-for` is written by whoever sends the request,
 * so trusting it would let any client claim any address. With N trusted proxies in front of the
 * gateway, each appends the address it received the request from, so the Nth entry from the right
 * of `x-forwarded-for` is the one the outermost trusted proxy saw; fewer than N entries means the
 * request did not come through them, and the client is unknown.
 */
export function clientAddress(
  source: string | undefined,
  forwardedFor: string | undefined,
  trustedProxies: number,
): string | undefined {
  if (trustedProxies === 0) return plausible(source);
  if (forwardedFor === undefined) return undefined;
  let end = forwardedFor.length;
  // Walk from the right, N entries, without splitting the whole (client-written) header.
  for (let hop = 1; hop <= trustedProxies; hop++) {
    const comma = forwardedFor.lastIndexOf(",", end - 1);
    if (hop === trustedProxies) return plausible(forwardedFor.slice(comma + 1, end));
    if (comma < 0) return undefined;
    end = comma;
  }
  return undefined;
}

function plausible(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  return trimmed === "" || trimmed.length > MAX_ADDRESS_CHARS ? undefined : trimmed;
}
