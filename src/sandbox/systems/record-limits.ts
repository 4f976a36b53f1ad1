/**
 * How the sandbox systems keep their memory bounded under hours of demo traffic: each append-only
 * record list (orders, events, messages, …) keeps its newest `maxKeptRecords` entries, and idempotency
 * keys are forgotten once their window has passed, as the real APIs forget them.
 */

/** The most entries an append-only record list keeps; the oldest are dropped first. */
export const maxKeptRecords = 50_000;

/** Appends `record`; past `max` entries, drops the oldest and hands each dropped one to `dropped` (to unindex it). */
export function appendKept<T>(list: T[], record: T, dropped?: (record: T) => void, max = maxKeptRecords): void {
  list.push(record);
  while (list.length > max) {
    const oldest = list.shift() as T;
    dropped?.(oldest);
  }
}

/** Adds `record` to a map kept in insertion order; past `max` entries, deletes the oldest inserted (and hands it to `dropped`). */
export function setKept<K, V>(
  map: Map<K, V>,
  key: K,
  record: V,
  dropped?: (record: V) => void,
  max = maxKeptRecords,
): void {
  map.set(key, record);
  for (const [oldestKey, oldest] of map) {
    if (map.size <= max) return;
    map.delete(oldestKey);
    dropped?.(oldest);
  }
}

/**
 * Stores an idempotency key's record, then forgets the keys whose window has passed. The map is kept
 * in the order the records were made (a reused key moves to the end), so the sweep stops at the first
 * key still inside its window: each insert costs only the keys it evicts.
 */
export function rememberIdempotencyKey<R extends { createdAt: number }>(
  keys: Map<string, R>,
  key: string,
  record: R,
  windowMs: number,
): void {
  keys.delete(key);
  keys.set(key, record);
  for (const [oldestKey, oldest] of keys) {
    if (oldest.createdAt + windowMs > record.createdAt) return;
    keys.delete(oldestKey);
  }
}
