/**
 * The two more images the lifecycle tests on the local stack take of the API fixture's replica
 * (after its img-a and img-b): each after debugfs wrote a new version of one file, a day apart, so
 * that retention and collection have four images with shared and unshared chunks.
 */
import type { FileVersion, LocalApiProduct } from '../support/local-product.ts';

/** The file debugfs writes before each of the two backups. */
export const NEW_FILE = '/docs/notes.txt';

export const NEW_FILE_VERSIONS: readonly FileVersion[] = [
  { imageId: 'img-c', createdAt: '2026-03-03T00:00:00.000Z', text: 'third state\n'.repeat(500) },
  { imageId: 'img-d', createdAt: '2026-03-04T00:00:00.000Z', text: 'fourth state\n'.repeat(9000) },
];

/** The arguments of `rbp retention apply --volume <the replica> --keep-last 2`, then `more`. */
export function keepLastTwo(product: LocalApiProduct, ...more: string[]): string[] {
  return ['retention', 'apply', '--volume', product.api.volumeId, '--keep-last', '2', ...more];
}

/** What `--keep-last 2` does to the four images, newest first: [imageId, outcome]. */
export const KEEP_LAST_TWO_OUTCOMES = [
  ['img-d', 'kept'],
  ['img-c', 'kept'],
  ['img-b', 'deleted'],
  ['img-a', 'deleted'],
];
