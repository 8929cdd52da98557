/** The store could not be reached or could not complete an operation. Answered as UNAVAILABLE. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(operation: string, cause: unknown) {
    super(`store failed to ${operation}`, { cause });
  }
}
