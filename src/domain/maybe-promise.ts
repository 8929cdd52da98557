/**
 * A value now, or a promise of it later. Used only along the decision path (the store's lookup by
 * hash, the key cache, authorize(), decideCheck() and the handlers that answer with them): a cache
 * hit, a hash known to be absent and a synchronous SQLite read are answered in the same tick,
 * without a promise and the microtask it costs on every call. Everything else is plainly async;
 * a caller off that path simply awaits.
 */
export type MaybePromise<T> = T | Promise<T>;
