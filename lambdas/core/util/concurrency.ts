/**
 * Bounded parallelism: runs `task` over `items` with at most `limit` in flight and returns the
 * results in input order. The first failure stops new work from starting and is rethrown once
 * the tasks already running have settled (so nothing keeps writing after the caller saw the error).
 * Written here rather than taken from p-limit/p-map: it is twenty lines and the stop-on-first-error
 * plus drain-before-throw behaviour is what the range worker relies on.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await task(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => worker());
  await Promise.all(workers);
  if (failure !== undefined) throw failure.error;
  return results;
}
