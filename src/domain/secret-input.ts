import { containsKeyShape, replaceKeyShapes } from "./key-format.js";
import { fail, type Refusal } from "./outcome.js";

// A secret pasted into the wrong field must not travel any further: not back in an error message
// (which clients log), not into the server's log, not into a stored column (issue #10, defect 6).
// Every message that quotes an input goes through quoted(); every identifier and stored text field
// goes through keyShapedError(). test/rpc/secret-input.test.ts pastes a live key into each field.

const WITHHELD = "<withheld: shaped like a Keyward key>";

/** An input value to quote in a message: in quotes and cut to `max` characters, or withheld whole when it carries a key. */
export function quoted(value: string, max: number): string {
  // Checked before cutting: a cut could leave most of a key that the shape check no longer sees.
  return containsKeyShape(value) ? WITHHELD : `"${value.slice(0, max)}"`;
}

/** A message refusing a field that carries a key, without its value; undefined when it carries none. */
export function keyShapedError(field: string, value: string): string | undefined {
  return containsKeyShape(value)
    ? `${field} looks like a Keyward key; a key is never shown or stored, only its hash`
    : undefined;
}

/** An identifier that carries a key refused as invalid_argument, without its value; undefined when it carries none. */
export function refuseKeyShaped(field: string, value: string): Refusal | undefined {
  const error = keyShapedError(field, value);
  return error === undefined ? undefined : fail("invalid_argument", error);
}

/** Text that is kept or written whatever it says (a header, a log line), with every key in it replaced. */
export function withoutKeys(text: string): string {
  return replaceKeyShapes(text, WITHHELD);
}
