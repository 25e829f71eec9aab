/**
 * Build Catalog, the state machine's step after the commit: reads the image through the chunk
 * store (which also proves it readable) and writes its catalog: changed file versions, application
 * records and the image's catalog record (status and counts). Damage inside the image is recorded,
 * not thrown; only store failures fail the step (retryable ones are retried by the state machine).
 */
import type { ImageRecordStore } from '../image/image-records.ts';
import type { ImageStore } from '../image/image-store.ts';
import type { StepLog } from '../ports.ts';
import type { CatalogInput, CatalogOutput } from '../orchestration/step-state.ts';
import { catalogImage } from './catalog-image.ts';
import type { CatalogStore } from './catalog-store.ts';

export interface CatalogStepDeps {
  readonly records: ImageRecordStore;
  readonly images: ImageStore;
  readonly catalog: CatalogStore;
}

export async function catalogImageStep(
  deps: CatalogStepDeps,
  { volumeId, imageId }: CatalogInput,
  log: StepLog,
): Promise<CatalogOutput> {
  // With the latest earlier finished image and the chunks that changed since (catalog-image.ts).
  const result = await catalogImage(deps, { volumeId, imageId });
  log.info('image catalogued', {
    imageId,
    status: result.status,
    counts: result.counts,
    changes: result.changes,
    errorCount: result.errorCount,
    warnings: result.warnings,
    skipped: result.partitions.map((p) => p.skipped),
  });
  return {
    volumeId,
    imageId,
    status: result.status,
    counts: result.counts,
    changes: result.changes,
    errorCount: result.errorCount,
    warningCount: result.warnings.length,
    applicationCount: result.applicationCount,
  };
}
