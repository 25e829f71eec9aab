import type { ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';

/**
 * The image reference of test image `n` of a volume: ids and creation times in the order of `n`.
 * Kept apart from catalog-fixtures.ts (which builds the API handler and so loads the X-Ray SDK)
 * so that the catalog benchmarks run without its async hooks, as the catalog Lambda does.
 */
export function imageAt(volumeId: string, n: number): ImageRef {
  const createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
  return { volumeId, imageId: `img-${String(n).padStart(4, '0')}`, createdAt };
}
