/**
 * Runs `task` for every item, at most `limit` at a time, and returns the results in the order of
 * `items`. After the first failure no further item is started, but those under way are awaited
 * (nothing runs on unseen); then it is thrown.
 */
export async function mapAtMost<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const index = next++;
      await task(items[index]!).then(
        (result) => (results[index] = result),
        (error: unknown) => (failure ??= { error }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
