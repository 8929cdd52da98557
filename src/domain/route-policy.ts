import { compileGlob, type PathGlob } from "./path-glob.js";
import { scopeError } from "./scope.js";

/**
 * What a route needs, from Envoy's per-route context_extensions or from the
 * route policy file: its required scopes, class and workspace, or that it is public.
 */
export interface RouteRequirements {
  readonly public: boolean;
  readonly scopes: readonly string[];
  /** "" when the route names none. */
  readonly className: string;
  readonly workspace: string;
}

/** One rule of the policy file; the first rule matching method and path wins. */
export interface RouteRule extends RouteRequirements {
  /** Upper-case methods; empty for any. */
  readonly methods: readonly string[];
  /** The glob as written, for messages and logs. */
  readonly path: string;
  readonly pattern: PathGlob;
}

export interface RoutePolicy {
  readonly rules: readonly RouteRule[];
}

/**
 * The rules as parsed from YAML: a list of `{ methods, path, scopes, public, class, workspace }`,
 * either at the top level or under `rules:`. Returns the first problem, naming the rule.
 */
export function compilePolicy(document: unknown): { policy: RoutePolicy } | { error: string } {
  const list = Array.isArray(document)
    ? document
    : document !== null &&
        typeof document === "object" &&
        Array.isArray((document as { rules?: unknown }).rules)
      ? (document as { rules: unknown[] }).rules
      : undefined;
  if (list === undefined) return { error: "expected a list of rules (at the top level or under `rules:`)" };
  const rules: RouteRule[] = [];
  for (const [index, raw] of list.entries()) {
    const rule = compileRule(raw);
    if ("error" in rule) return { error: `rule ${index + 1}: ${rule.error}` };
    rules.push(rule.rule);
  }
  return { policy: { rules } };
}

/**
 * The longest path (query string included) that is matched against the rules. Matching is linear in
 * the path length, so this only bounds the work of one Check: 64 KiB is above Envoy's default limit
 * for all request headers together (max_request_headers_kb, 60). Longer paths are denied by the caller.
 */
export const MAX_ROUTE_PATH_LENGTH = 64 * 1024;

/** The first rule matching the request, or undefined. `path` may carry a query string; it is ignored. */
export function matchRoute(policy: RoutePolicy, method: string, path: string): RouteRule | undefined {
  const query = path.indexOf("?");
  const bare = query === -1 ? path : path.slice(0, query);
  for (const rule of policy.rules) {
    if (rule.methods.length > 0 && !rule.methods.includes(method)) continue;
    if (rule.pattern.test(bare)) return rule;
  }
  return undefined;
}

const RULE_KEYS = new Set(["methods", "path", "scopes", "public", "class", "workspace"]);

function compileRule(raw: unknown): { rule: RouteRule } | { error: string } {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return { error: "expected a mapping" };
  const fields = raw as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !RULE_KEYS.has(key));
  if (unknown !== undefined) return { error: `unknown field "${unknown}"` };
  const {
    methods = [],
    path,
    scopes = [],
    public: isPublic = false,
    class: className = "",
    workspace = "",
  } = fields;
  if (typeof path !== "string" || !path.startsWith("/"))
    return { error: "path must be a string starting with /" };
  if (!isStringList(methods)) return { error: "methods must be a list of HTTP methods" };
  if (!isStringList(scopes)) return { error: "scopes must be a list of scopes" };
  const badScope = scopes.map(scopeError).find((error) => error !== undefined);
  if (badScope !== undefined) return { error: badScope };
  if (typeof isPublic !== "boolean") return { error: "public must be true or false" };
  if (typeof className !== "string" || typeof workspace !== "string") {
    return { error: "class and workspace must be strings" };
  }
  return {
    rule: {
      methods: methods.map((method) => method.toUpperCase()),
      path,
      pattern: compileGlob(path),
      scopes,
      public: isPublic,
      className,
      workspace,
    },
  };
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}
