import { scopesError } from "./scope.js";
import { keyShapedError, quoted } from "./secret-input.js";

// Validation of the key fields a caller sets, shared by IssueKey and UpdateKey.
// Each returns a message naming what is wrong, or undefined. Every one of these is stored, so none may
// carry a key (keyShapedError); scopes cannot, being lower case.

const LIMITS = {
  name: 200,
  description: 2000,
  ownerId: 200,
  scopes: 100,
  classes: 100,
  metadata: 64,
} as const;
const CLASS_PATTERN = /^[A-Za-z0-9_.:/-]{1,100}$/;
const METADATA_KEY_MAX = 128;
const METADATA_VALUE_MAX = 1024;

export function nameError(name: string): string | undefined {
  if (name.trim() === "") return "name is required";
  if ([...name].length > LIMITS.name) return `name is longer than ${LIMITS.name} characters`;
  return keyShapedError("name", name);
}

export function descriptionError(description: string): string | undefined {
  return [...description].length > LIMITS.description
    ? `description is longer than ${LIMITS.description} characters`
    : keyShapedError("description", description);
}

export function scopeListError(scopes: readonly string[]): string | undefined {
  if (scopes.length > LIMITS.scopes) return `at most ${LIMITS.scopes} scopes`;
  return scopesError(scopes);
}

export function classesError(classes: readonly string[]): string | undefined {
  if (classes.length > LIMITS.classes) return `at most ${LIMITS.classes} classes`;
  for (const cls of classes) {
    if (!CLASS_PATTERN.test(cls)) {
      return `invalid class ${quoted(cls, 100)}: 1–100 characters of letters, digits, _ . : / -`;
    }
    const keyShaped = keyShapedError("a class", cls); // the pattern admits a key
    if (keyShaped !== undefined) return keyShaped;
  }
  return undefined;
}

export function ownerIdError(ownerId: string): string | undefined {
  if (ownerId.length > LIMITS.ownerId) return `owner_id is longer than ${LIMITS.ownerId} characters`;
  if (hasControlCharacter(ownerId)) return "owner_id must not contain control characters";
  return keyShapedError("owner_id", ownerId);
}

// owner_id travels to upstreams as a header value (x-keyward-owner-id): no CR, LF, NUL or other controls.
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

export function metadataError(metadata: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(metadata);
  if (keys.length > LIMITS.metadata) return `at most ${LIMITS.metadata} metadata entries`;
  for (const key of keys) {
    if (key === "" || key.length > METADATA_KEY_MAX)
      return `metadata keys must be 1–${METADATA_KEY_MAX} characters`;
    const value = metadata[key] as string;
    if (value.length > METADATA_VALUE_MAX) {
      return `metadata value of ${quoted(key, METADATA_KEY_MAX)} is longer than ${METADATA_VALUE_MAX} characters`;
    }
    const keyShaped =
      keyShapedError("a metadata key", key) ??
      keyShapedError(`metadata value of ${quoted(key, METADATA_KEY_MAX)}`, value);
    if (keyShaped !== undefined) return keyShaped;
  }
  return undefined;
}
