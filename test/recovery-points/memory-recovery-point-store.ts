/** In-memory RecoveryPointStore with the DynamoDB adapter's semantics (errors, order, idempotence, detaching). */
import type {
  DetachedImage,
  RecoveryPoint,
  RecoveryPointImageRef,
  RecoveryPointStore,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import {
  byImageRef,
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

  detachImage(image: RecoveryPointImageRef): Promise<DetachedImage | undefined> {
    const point = [...this.points.values()].find((p) => namesImage(p, image));
    if (point === undefined) return Promise.resolve(undefined);
    const narrowed = withoutImage(point, image);
    if (narrowed === undefined) this.points.delete(point.recoveryPointId);
    else this.points.set(point.recoveryPointId, narrowed);
    this.detached.set(`${image.volumeId}/${image.imageId}`, {
      volumeId: image.volumeId,
      imageId: image.imageId,
    });
    return Promise.resolve({
      recoveryPointId: point.recoveryPointId,
      outcome: narrowed === undefined ? 'removed' : 'narrowed',
    });
  }

  listDetached(): Promise<RecoveryPointImageRef[]> {
    return Promise.resolve([...this.detached.values()].map((i) => ({ ...i })).sort(byImageRef));
  }

  clearDetached(image: RecoveryPointImageRef): Promise<void> {
    this.detached.delete(`${image.volumeId}/${image.imageId}`);
    return Promise.resolve();
  }
}
