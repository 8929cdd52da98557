/**
 * Finds the presented key among request headers: `x-api-key`, else
 * `authorization: Bearer <key>`. Header names match case-insensitively.
 * Returns undefined when neither carries a key.
 */
export function credentialFromHeaders(headers: Readonly<Record<string, string>>): string | undefined {
  let bearer: string | undefined;
  for (const name in headers) {
    // Lower-case only names of the two lengths that can match; most headers are skipped unread.
    const lower = name.length === 9 || name.length === 13 ? name.toLowerCase() : "";
    if (lower === "x-api-key") {
      const value = (headers[name] as string).trim();
      if (value !== "") return value;
    } else if (lower === "authorization") {
      bearer = bearerToken(headers[name] as string);
    }
  }
  return bearer;
}

/** The token of an `authorization: Bearer <token>` value (scheme case-insensitive). */
export function bearerToken(value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed.length < 8 || trimmed.slice(0, 7).toLowerCase() !== "bearer ") return undefined;
  const token = trimmed.slice(7).trim();
  return token === "" ? undefined : token;
}
