/** Ids for new backups and restores: `<prefix>-<UTC time>-<random>`, time-ordered as text. */
import type { Clock } from '../ports.ts';
import type { IdSource } from './api-ports.ts';

/** Random bytes per id: 64 bits make two ids of the same millisecond collide with odds of 2^-64. */
export const ID_RANDOM_BYTES = 8;

export function timeOrderedIds(clock: Clock, randomBytes: (count: number) => Uint8Array): IdSource {
  return {
    newId(prefix) {
      const time = clock.now().toISOString().replace(/[-:.]/g, '').replace('T', 't').replace('Z', 'z');
      const random = Buffer.from(randomBytes(ID_RANDOM_BYTES)).toString('hex');
      return `${prefix}-${time}-${random}`;
    },
  };
}
