import { authorize, type Decision, type Limits } from "./authorize.js";
import { bearerToken } from "./credential.js";
import { parseKey } from "./key-format.js";
import type { KeyResolver } from "./key-resolver.js";
import type { MaybePromise } from "./maybe-promise.js";
import { requestCost } from "./request-cost.js";
import { requiredScopesError } from "./request-limits.js";
import {
  MAX_ROUTE_PATH_LENGTH,
  matchRoute,
  type RoutePolicy,
  type RouteRequirements,
} from "./route-policy.js";

/** What to do when neither the route nor the policy file says anything. */
export type DefaultRoute = "deny" | "allow-authenticated";

export interface CheckSettings {
  /** Lower-case header names that may carry the key, in order; `authorization` means a Bearer token. */
  readonly credentialHeaders: readonly string[];
  /** The policy file in force, if any (it may be reloaded between calls). */
  readonly policy: () => RoutePolicy | undefined;
  readonly defaultRoute: DefaultRoute;
}

/** An Envoy CheckRequest, reduced to what the decision reads. */
export interface CheckInput {
  readonly method: string;
  /** As Envoy sends it: with the query string. */
  readonly path: string;
  /** A request header by lower-case name. */
  readonly header: (name: string) => string | undefined;
  readonly contextExtensions: Readonly<Record<string, string>>;
  /** The end client's address (see clientAddress), undefined when unknown. */
  readonly clientIp: string | undefined;
}

export interface CheckResult {
  readonly decision: Decision;
  /** The route is public: allowed without looking at credentials. */
  readonly public: boolean;
  /** The header that carried the key, so that it can be kept from the upstream. */
  readonly credentialHeader: string | undefined;
  /** What the route required. */
  readonly requirements: RouteRequirements;
}

const NONE: readonly string[] = Object.freeze([]);
/**
 * The context_extensions a route states its requirements with, by short name (forward auth takes
 * the same from the auth URL's query parameters). Any of the first four replaces the policy file;
 * `cost` only sets what the request counts against a key's limits.
 */
export const ROUTE_EXTENSIONS = {
  scopes: "keyward.scopes",
  class: "keyward.class",
  workspace: "keyward.workspace",
  public: "keyward.public",
  cost: "keyward.cost",
} as const;
const EXTENSION_KEYS = [
  ROUTE_EXTENSIONS.scopes,
  ROUTE_EXTENSIONS.class,
  ROUTE_EXTENSIONS.workspace,
  ROUTE_EXTENSIONS.public,
] as const;
const QUERY_KEY_NAMES = new Set(["api_key", "apikey", "api-key", "x-api-key", "access_token"]);
const AUTHENTICATED: RouteRequirements = { public: false, scopes: NONE, className: "", workspace: "" };

/** A route's requirements were configured wrongly (a bad scope in context_extensions). */
export class RouteConfigError extends Error {}

/**
 * Decides an Envoy Check: the route's requirements come from the route's
 * context_extensions, else the first matching policy rule, else the default.
 * Public routes are allowed without a key; a key in the query string is refused.
 */
export function decideCheck(
  input: CheckInput,
  settings: CheckSettings,
  resolver: KeyResolver,
  now: number,
  limits?: Limits,
): MaybePromise<CheckResult> {
  const requirements = routeRequirements(input, settings);
  if (requirements === undefined) return denied("route_not_allowed", AUTHENTICATED);
  if (requirements.public) {
    // Credentials are not checked here, but a key that was sent is still kept from the upstream.
    const [, credentialHeader] = findCredential(input, settings.credentialHeaders);
    return {
      decision: { reason: "allowed", key: undefined, missingScopes: NONE },
      public: true,
      credentialHeader,
      requirements,
    };
  }
  if (credentialInQuery(input.path)) return denied("credential_in_query", requirements);
  const [credential, credentialHeader] = findCredential(input, settings.credentialHeaders);
  const cost = costOf(input.contextExtensions);
  const decision = authorize(
    {
      credential,
      requiredScopes: requirements.scopes,
      className: requirements.className,
      workspace: requirements.workspace,
      clientIp: input.clientIp,
      cost,
      dryRun: false,
    },
    resolver,
    now,
    limits,
  );
  const result = (d: Decision): CheckResult => ({
    decision: d,
    public: false,
    credentialHeader,
    requirements,
  });
  return decision instanceof Promise ? decision.then(result) : result(decision);
}

function denied(
  reason: "route_not_allowed" | "credential_in_query",
  requirements: RouteRequirements,
): CheckResult {
  return {
    decision: { reason, key: undefined, missingScopes: NONE },
    public: false,
    credentialHeader: undefined,
    requirements,
  };
}

// A frozen extensions object (forward auth keeps one per auth URL, transport/route-query.ts) is
// read once: its requirements and cost, or the error they make, are kept with it.
const readExtensions = new WeakMap<object, ExtensionTerms>();

interface ExtensionTerms {
  readonly requirements: RouteRequirements | undefined | RouteConfigError;
  readonly cost: number | RouteConfigError;
}

function extensionTerms(extensions: Readonly<Record<string, string>>): ExtensionTerms {
  const frozen = Object.isFrozen(extensions);
  const kept = frozen ? readExtensions.get(extensions) : undefined;
  if (kept !== undefined) return kept;
  let requirements: ExtensionTerms["requirements"];
  try {
    requirements = extensionRequirements(extensions);
  } catch (error) {
    if (!(error instanceof RouteConfigError)) throw error;
    requirements = error;
  }
  const parsed = requestCost(
    `context_extensions ${ROUTE_EXTENSIONS.cost}`,
    extensions[ROUTE_EXTENSIONS.cost] ?? "",
  );
  const cost = typeof parsed === "number" ? parsed : new RouteConfigError(parsed.error);
  const terms = { requirements, cost };
  if (frozen) readExtensions.set(extensions, terms);
  return terms;
}

function costOf(extensions: Readonly<Record<string, string>>): number {
  const { cost } = extensionTerms(extensions);
  if (cost instanceof RouteConfigError) throw cost;
  return cost;
}

function routeRequirements(input: CheckInput, settings: CheckSettings): RouteRequirements | undefined {
  const { requirements } = extensionTerms(input.contextExtensions);
  if (requirements instanceof RouteConfigError) throw requirements;
  if (requirements !== undefined) return requirements;
  const policy = settings.policy();
  // Denied rather than left to the default route: an allowing default must not apply to a path
  // that a stricter rule might have matched.
  if (policy !== undefined && input.path.length > MAX_ROUTE_PATH_LENGTH) return undefined;
  const rule = policy && matchRoute(policy, input.method, input.path);
  if (rule !== undefined) return rule;
  return settings.defaultRoute === "allow-authenticated" ? AUTHENTICATED : undefined;
}

/** The requirements a route's extensions state, or undefined when they state none (the policy decides). */
function extensionRequirements(extensions: Readonly<Record<string, string>>): RouteRequirements | undefined {
  if (EXTENSION_KEYS.some((key) => extensions[key] !== undefined)) {
    const scopes = (extensions["keyward.scopes"] ?? "")
      .split(",")
      .map((scope) => scope.trim())
      .filter((scope) => scope !== "");
    const bad = requiredScopesError("context_extensions keyward.scopes", scopes);
    if (bad !== undefined) throw new RouteConfigError(bad);
    return {
      public: extensions["keyward.public"] === "true",
      scopes,
      className: extensions["keyward.class"] ?? "",
      workspace: extensions["keyward.workspace"] ?? "",
    };
  }
  return undefined;
}

function findCredential(
  input: CheckInput,
  names: readonly string[],
): [string | undefined, string | undefined] {
  for (const name of names) {
    const value = input.header(name);
    if (value === undefined) continue;
    const credential = name === "authorization" ? bearerToken(value) : value.trim();
    if (credential !== undefined && credential !== "") return [credential, name];
  }
  return [undefined, undefined];
}

/** Whether the query string carries something that is, or is named like, an API key. */
function credentialInQuery(path: string): boolean {
  const start = path.indexOf("?");
  if (start === -1) return false;
  for (const pair of path.slice(start + 1).split("&")) {
    const split = pair.indexOf("=");
    const name = safeDecode(split === -1 ? pair : pair.slice(0, split));
    const value = split === -1 ? "" : safeDecode(pair.slice(split + 1));
    if (QUERY_KEY_NAMES.has(name.toLowerCase()) && value !== "") return true;
    if (parseKey(value) !== undefined || parseKey(name) !== undefined) return true; // `?token=<key>`, `?<key>`
  }
  return false;
}

function safeDecode(text: string): string {
  // Most query strings have nothing to decode: skip the regex and the decoder for them.
  if (!text.includes("%") && !text.includes("+")) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}
