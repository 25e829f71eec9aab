/** In-memory RecoveryPointStore with the DynamoDB adapter's semantics (errors, order, idempotence, detaching). */
import type { ImageRecordStore } from '../../lambdas/core/image/image-records.ts';
import type {
  DetachedImage,
  ImageLiveness,
  IndexBackfillBudget,
  RecoveryPoint,
  RecoveryPointImageRef,
  RecoveryPointStore,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import {
  byImageRef,
  imageRefKey,
  namesImage,
  recoveryPointErrors,
  sameRecoveryPoint,
  withoutImage,
} from '../../lambdas/core/recovery-points/recovery-points.ts';

export class MemoryRecoveryPointStore implements RecoveryPointStore {
  readonly points = new Map<string, RecoveryPoint>();
  /** put calls, for tests that count writes. */
  puts = 0;

  put(point: RecoveryPoint): Promise<'created' | 'exists'> {
    this.puts += 1;
    const existing = this.points.get(point.recoveryPointId);
    if (existing === undefined) {
      this.points.set(point.recoveryPointId, structuredClone(point));
      return Promise.resolve('created');
    }
    if (sameRecoveryPoint(existing, point)) return Promise.resolve('exists');
    return Promise.reject(recoveryPointErrors.different(point.recoveryPointId));
  }

  get(recoveryPointId: string): Promise<RecoveryPoint> {
    const point = this.points.get(recoveryPointId);
    if (point === undefined) return Promise.reject(recoveryPointErrors.missing(recoveryPointId));
    return Promise.resolve(structuredClone(point));
  }

  listByServer(serverId: string): Promise<RecoveryPoint[]> {
    const key = (p: RecoveryPoint) => `${p.createdAt}#${p.recoveryPointId}`;
    return Promise.resolve(
      [...this.points.values()]
        .filter((p) => p.serverId === serverId)
        .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
        .map((p) => structuredClone(p)),
    );
  }

  /** Newest first; the token is the last point's sort position (createdAt#id), as the adapter's key is. */
  async pageByServer(
    serverId: string,
    page: { readonly limit: number; readonly token?: string | undefined },
  ): Promise<{ readonly points: RecoveryPoint[]; readonly nextToken?: string }> {
    const key = (p: RecoveryPoint) => `${p.createdAt}#${p.recoveryPointId}`;
    const after = page.token;
    const rest = (await this.listByServer(serverId))
      .reverse()
      .filter((p) => after === undefined || key(p) < after);
    const points = rest.slice(0, page.limit);
    return rest.length > page.limit ? { points, nextToken: key(points.at(-1)!) } : { points };
  }

  /** Detached images not yet cleared, by `volumeId/imageId`. */
  readonly detached = new Map<string, RecoveryPointImageRef>();

  /**
   * @param pause awaited between detachImage's mark and its search for the point (the adapter's
   *   separate writes), so an interleaving test can run other calls in between.
   */
  constructor(private readonly pause: () => Promise<void> = () => Promise.resolve()) {}

  async detachImage(image: RecoveryPointImageRef): Promise<DetachedImage | undefined> {
    this.detached.set(imageRefKey(image), { volumeId: image.volumeId, imageId: image.imageId });
    await this.pause();
    const point = [...this.points.values()].find((p) => namesImage(p, image));
    return point === undefined ? undefined : this.narrow(point, image);
  }

  detachedAmong(images: readonly RecoveryPointImageRef[]): Promise<ReadonlySet<string>> {
    return Promise.resolve(new Set(images.map(imageRefKey).filter((key) => this.detached.has(key))));
  }

  detachFromPoint(recoveryPointId: string, image: RecoveryPointImageRef): Promise<DetachedImage | undefined> {
    const point = this.points.get(recoveryPointId);
    return Promise.resolve(
      point === undefined || !namesImage(point, image) ? undefined : this.narrow(point, image),
    );
  }

  private narrow(point: RecoveryPoint, image: RecoveryPointImageRef): DetachedImage {
    const narrowed = withoutImage(point, image);
    if (narrowed === undefined) this.points.delete(point.recoveryPointId);
    else this.points.set(point.recoveryPointId, narrowed);
    return {
      recoveryPointId: point.recoveryPointId,
      outcome: narrowed === undefined ? 'removed' : 'narrowed',
    };
  }

  /**
   * Points written "before points indexed their images": pointsOfImages finds them only once
   * backfillImageIndex has run (the adapter's missing RP#IMAGE items).
   */
  readonly unindexed = new Set<string>();

  pointsOfImages(images: readonly RecoveryPointImageRef[]): Promise<ReadonlyMap<string, RecoveryPoint>> {
    const found = new Map<string, RecoveryPoint>();
    for (const point of this.points.values()) {
      if (this.unindexed.has(point.recoveryPointId)) continue;
      for (const image of images) {
        if (namesImage(point, image)) found.set(imageRefKey(image), structuredClone(point));
      }
    }
    return Promise.resolve(found);
  }

  backfillImageIndex(
    budget: IndexBackfillBudget,
  ): Promise<{ readonly done: boolean; readonly indexed: number }> {
    if (budget.pages === 0) return Promise.resolve({ done: this.unindexed.size === 0, indexed: 0 });
    const indexed = [...this.unindexed].reduce((n, id) => n + (this.points.get(id)?.images.length ?? 0), 0);
    this.unindexed.clear();
    return Promise.resolve({ done: true, indexed });
  }

  listDetached(): Promise<RecoveryPointImageRef[]> {
    return Promise.resolve([...this.detached.values()].map((i) => ({ ...i })).sort(byImageRef));
  }

  clearDetached(image: RecoveryPointImageRef): Promise<void> {
    this.detached.delete(imageRefKey(image));
    return Promise.resolve();
  }
}

/** Liveness over an in-memory ImageRecordStore (no `deleting` status there): an image with a record is live. */
export function recordsLiveness(records: Pick<ImageRecordStore, 'getImageRecord'>): ImageLiveness {
  return {
    async liveImages(images) {
      const live = new Set<string>();
      for (const image of images) {
        const found = await records.getImageRecord(image.volumeId, image.imageId).catch(() => undefined);
        if (found !== undefined) live.add(imageRefKey(image));
      }
      return live;
    },
  };
}
