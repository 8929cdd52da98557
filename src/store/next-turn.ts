/**
 * Resolves after one turn of the event loop (I/O callbacks, then setImmediate), where an `await`
 * alone runs only microtasks: better-sqlite3 runs each statement synchronously on the loop, so long
 * store work yields here to let waiting requests in.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
