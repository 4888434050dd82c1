/**
 * The statement cache (database.ts) compiles each distinct SQL text once. A list whose length is
 * written into the SQL (`IN (?, ?, …)`, CASE branches, multi-row VALUES) made a new text, and a new
 * compile, for every length a round happened to have: hundreds of shapes per statement (compiling
 * was 4 % of the dispatch thread in a profile under load). Lengths kept to powers of two leave a
 * handful of shapes each.
 */

/** The list for an `IN (…)`, its length rounded up to a power of two by repeating its last value. */
export function inList<T>(values: readonly T[]): T[] {
  if (values.length === 0) return [];
  const padded = values.slice();
  const size = 2 ** Math.ceil(Math.log2(values.length));
  while (padded.length < size) padded.push(values[values.length - 1]);
  return padded;
}

/** `items` in order, in chunks of power-of-two lengths, each at most `max` (the largest first). */
export function powerOfTwoChunks<T>(items: readonly T[], max: number): T[][] {
  const largest = 2 ** Math.floor(Math.log2(Math.max(1, max)));
  const chunks: T[][] = [];
  for (let at = 0; at < items.length;) {
    let size = largest;
    while (size > items.length - at) size /= 2;
    chunks.push(items.slice(at, at + size));
    at += size;
  }
  return chunks;
}
