/** The DynamoDB keys of a version item (docs/catalog.md), computed the same way by every store. */
import {
  directoryPartitionKey,
  nameIndexPartitionKey,
  nameIndexSortKey,
  versionSortKey,
} from './catalog-keys.ts';
import type { NameIndexPosition } from './catalog-store.ts';
import type { CatalogItem } from './catalog-types.ts';

export interface CatalogItemKeys {
  readonly pk: string;
  readonly sk: string;
  readonly gsi1pk: string;
  readonly gsi1sk: string;
}

export function keysOf(item: CatalogItem): CatalogItemKeys {
  return {
    pk: directoryPartitionKey(item.volumeId, item.partition, item.dir),
    sk: versionSortKey(item.name, item.version),
    gsi1pk: nameIndexPartitionKey(item.volumeId, item.name),
    gsi1sk: nameIndexSortKey(item.partition, item.path, item.version),
  };
}

export function namePositionOf(item: CatalogItem): NameIndexPosition {
  const keys = keysOf(item);
  return { indexSk: keys.gsi1sk, pk: keys.pk, sk: keys.sk };
}
