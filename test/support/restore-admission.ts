/**
 * POST /restores over a catalog, for the tests of what the API refuses before a restore job
 * starts (RestoreTooLarge): the restore service with resumable uploads of a given first part size
 * whose calls are never made, a launcher that records what it starts, and the API handler.
 */
import { RestoreService } from '../../lambdas/core/api/restore-service.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import type { ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import type { ResumableUploads } from '../../lambdas/core/file-restore/restore-ports.ts';
import { answerOf, proxyEvent, type Answer } from '../api/api-events.ts';
import { catalogApiHandler, catalogedApiImage } from '../catalog/catalog-fixtures.ts';
import { seededMemoryApi } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryRestoreObjects } from '../file-restore/memory-restore.ts';

/** Restore objects with resumable uploads of `partBytes` first parts (their calls are never made). */
export class ResumableObjects extends MemoryRestoreObjects {
  readonly parts: ResumableUploads;

  constructor(partBytes: number) {
    super();
    this.parts = {
      partBytes,
      start: () => Promise.reject(new Error('not used')),
      putPart: () => Promise.reject(new Error('not used')),
      complete: () => Promise.reject(new Error('not used')),
      objectBytes: () => Promise.resolve(undefined),
    };
  }
}

export interface RestoreAdmission {
  /** The restore jobs written. */
  readonly jobs: MemoryJobStore;
  /** Restore ids the launcher started, in order. */
  readonly launched: string[];
  /** POST /restores of `body` for the image. */
  restore(body: Record<string, unknown>): Promise<Answer>;
}

/**
 * The API over `catalog` and its catalogued image `image`, restoring with parts of `partBytes`;
 * `subtrees`: the restore service reads subdirectory sizes from the catalog too.
 */
export function restoreAdmission(
  catalog: CatalogStore,
  image: ImageRef,
  partBytes: number,
  options: { readonly subtrees?: boolean } = {},
): RestoreAdmission {
  const jobs = new MemoryJobStore();
  const launched: string[] = [];
  const api = seededMemoryApi();
  const restores = new RestoreService({
    jobs,
    objects: new ResumableObjects(partBytes),
    launcher: {
      launch: (event) => {
        launched.push(event.restoreId);
        return Promise.resolve();
      },
    },
    clock: api.clock,
    keyToken: () => 'token',
    ...(options.subtrees === true ? { catalog } : {}),
  });
  const handler = catalogApiHandler(catalog, [catalogedApiImage(image)], { ...api.deps, restores });
  return {
    jobs,
    launched,
    restore: async (body) =>
      answerOf(
        await handler(
          proxyEvent({ method: 'POST', path: '/restores', body: { imageId: image.imageId, ...body } }),
        ),
      ),
  };
}
