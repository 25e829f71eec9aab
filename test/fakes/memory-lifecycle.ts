/**
 * In-memory fakes of the lifecycle ports with S3's and DynamoDB's semantics: a bucket that is both
 * the engine's ObjectStore and the collector's LifecycleObjectStore (LastModified from a clock,
 * Object Lock retain-until per key, request counters), image records with a lifecycle status, the
 * collection fence and checkpoints.
 *
 * The bucket is versioned, as the image bucket is (Object Lock requires versioning): a DeleteObjects
 * without version ids never fails for a lock; S3 adds a delete marker and the version stays
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeletingObjectVersions.html). So a deleted
 * key disappears from GET and LIST, and a version still locked is kept in `lockedVersions` (a
 * version without a lock is left to the noncurrent-version expiration, which the fake does at once).
 */
import { ConflictError, NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import type { BackupLease, GcCoordination, GcFence } from '../../lambdas/core/lifecycle/gc-fence.ts';
import { INITIAL_FENCE } from '../../lambdas/core/lifecycle/gc-fence.ts';
import type { GcCheckpoint, GcCheckpointStore } from '../../lambdas/core/lifecycle/gc.ts';
import type { RetentionRuleStore, StoredRetention } from '../../lambdas/core/lifecycle/retention-apply.ts';
import type {
  DeleteOutcome,
  LegalHoldChange,
  LegalHoldWrite,
  LifecycleImage,
  LifecycleImageRecords,
  LifecycleObjectStore,
  ListPage,
  ObjectInfo,
} from '../../lambdas/core/lifecycle/ports.ts';
import { DELETE_OBJECTS_MAX_KEYS, LIST_MAX_KEYS } from '../../lambdas/core/lifecycle/ports.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import type {
  ObjectStore,
  PutIfAbsentResult,
  PutObjectRequest,
} from '../../lambdas/core/store/object-store.ts';

export interface BucketCounters {
  puts: number;
  gets: number;
  rangeGets: number;
  lists: number;
  deleteRequests: number;
  keysDeleted: number;
  retentionRequests: number;
}

interface StoredObject {
  body: Uint8Array;
  lastModified: Date;
  retainUntil?: Date;
}

/** A settable clock. */
export class ManualClock implements Clock {
  constructor(public time: number) {}
  now(): Date {
    return new Date(this.time);
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export class MemoryBucket implements ObjectStore, LifecycleObjectStore {
  readonly objects = new Map<string, StoredObject>();
  readonly counters: BucketCounters = {
    puts: 0,
    gets: 0,
    rangeGets: 0,
    lists: 0,
    deleteRequests: 0,
    keysDeleted: 0,
    retentionRequests: 0,
  };
  /** Versions hidden by a delete marker while still locked (S3 keeps them until the lock ends). */
  readonly lockedVersions: { key: string; retainUntil: Date; size: number }[] = [];
  /** Keys whose deletion is refused with AccessDenied (a bucket policy's Deny, not a lock). */
  readonly deniedDeletes = new Set<string>();
  private sorted: string[] | undefined;

  constructor(
    private readonly clock: Clock,
    /** Retain-until given to every new object (Object Lock default retention), when set. */
    public retainNewUntil?: (now: Date) => Date,
  ) {}

  putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult> {
    this.counters.puts += 1;
    if (this.objects.has(request.key)) return Promise.resolve('exists');
    const now = this.clock.now();
    this.objects.set(request.key, {
      body: new Uint8Array(request.body),
      lastModified: now,
      ...(this.retainNewUntil === undefined ? {} : { retainUntil: this.retainNewUntil(now) }),
    });
    this.sorted = undefined;
    return Promise.resolve('created');
  }

  /** Puts bytes directly (fixtures, a corrupting attacker): no checksum, no conditional. */
  setRaw(key: string, body: Uint8Array, lastModified: Date = this.clock.now()): void {
    const existing = this.objects.get(key);
    this.objects.set(key, { ...existing, body, lastModified });
    this.sorted = undefined;
  }

  get(key: string): Promise<Uint8Array> {
    this.counters.gets += 1;
    const object = this.objects.get(key);
    if (object === undefined)
      return Promise.reject(new NotFoundError(`no object ${key}`, { context: { key } }));
    return Promise.resolve(new Uint8Array(object.body));
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    this.counters.rangeGets += 1;
    const object = this.objects.get(key);
    if (object === undefined)
      return Promise.reject(new NotFoundError(`no object ${key}`, { context: { key } }));
    return Promise.resolve(object.body.slice(start, end));
  }

  private sortedKeys(): string[] {
    this.sorted ??= [...this.objects.keys()].sort();
    return this.sorted;
  }

  list(prefix: string): Promise<string[]> {
    this.counters.lists += 1;
    return Promise.resolve(this.sortedKeys().filter((k) => k.startsWith(prefix)));
  }

  listPage(prefix: string, startAfter: string | undefined, maxKeys: number): Promise<ListPage> {
    if (maxKeys < 1 || maxKeys > LIST_MAX_KEYS) {
      return Promise.reject(
        new ValidationError(`maxKeys ${maxKeys} is outside 1..${LIST_MAX_KEYS}`, { context: { maxKeys } }),
      );
    }
    this.counters.lists += 1;
    const keys = this.sortedKeys();
    const after = startAfter === undefined ? '' : `${startAfter}\u0000`;
    const from = prefix > after ? prefix : after;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    const objects: ObjectInfo[] = [];
    let i = lo;
    for (; i < keys.length && objects.length < maxKeys; i += 1) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      const object = this.objects.get(key)!;
      objects.push({ key, size: object.body.length, lastModified: object.lastModified });
    }
    const isTruncated = i < keys.length && keys[i]!.startsWith(prefix);
    return Promise.resolve({ objects, isTruncated });
  }

  deleteObjects(keys: readonly string[]): Promise<DeleteOutcome> {
    if (keys.length > DELETE_OBJECTS_MAX_KEYS) {
      return Promise.reject(
        new ValidationError(
          `DeleteObjects takes at most ${DELETE_OBJECTS_MAX_KEYS} keys, not ${keys.length}`,
          {
            context: { count: keys.length },
          },
        ),
      );
    }
    this.counters.deleteRequests += 1;
    const now = this.clock.now().getTime();
    const deleted: string[] = [];
    const failed: { key: string; code: string; message: string }[] = [];
    for (const key of keys) {
      const object = this.objects.get(key);
      if (this.deniedDeletes.has(key)) {
        failed.push({ key, code: 'AccessDenied', message: 'Access Denied' });
        continue;
      }
      if (object?.retainUntil !== undefined && object.retainUntil.getTime() > now) {
        this.lockedVersions.push({ key, retainUntil: object.retainUntil, size: object.body.length });
      }
      if (object !== undefined) {
        this.objects.delete(key);
        this.counters.keysDeleted += 1;
        this.sorted = undefined;
      }
      deleted.push(key);
    }
    return Promise.resolve({ deleted, failed });
  }

  extendRetention(keys: readonly string[], until: Date): Promise<void> {
    this.counters.retentionRequests += 1;
    for (const key of keys) {
      const object = this.objects.get(key);
      if (object === undefined) continue;
      if (object.retainUntil === undefined || object.retainUntil < until) object.retainUntil = until;
    }
    return Promise.resolve();
  }

  keys(prefix: string): string[] {
    return this.sortedKeys().filter((k) => k.startsWith(prefix));
  }
}

/** `objects` with its `get` replaced by `get` (a test that watches or fails reads); the rest passes through. */
export function withGet(
  objects: LifecycleObjectStore,
  get: LifecycleObjectStore['get'],
): LifecycleObjectStore {
  return {
    listPage: (...args) => objects.listPage(...args),
    getRange: (...args) => objects.getRange(...args),
    putIfAbsent: (request) => objects.putIfAbsent(request),
    deleteObjects: (keys) => objects.deleteObjects(keys),
    extendRetention: (keys, until) => objects.extendRetention(keys, until),
    get,
  };
}

export class MemoryLifecycleRecords implements LifecycleImageRecords {
  readonly images = new Map<string, LifecycleImage>();

  put(image: LifecycleImage): void {
    this.images.set(`${image.volumeId}/${image.imageId}`, structuredClone(image));
  }

  listImages(): Promise<LifecycleImage[]> {
    return this.all();
  }

  private all(): Promise<LifecycleImage[]> {
    return Promise.resolve(
      [...this.images.values()]
        .sort((a, b) => (`${a.volumeId}/${a.imageId}` < `${b.volumeId}/${b.imageId}` ? -1 : 1))
        .map((i) => structuredClone(i)),
    );
  }

  async listVolume(volumeId: string): Promise<LifecycleImage[]> {
    return (await this.all()).filter((image) => image.volumeId === volumeId);
  }

  async listServer(serverId: string): Promise<LifecycleImage[]> {
    return (await this.all()).filter((image) => image.serverId === serverId);
  }

  getImage(volumeId: string, imageId: string): Promise<LifecycleImage> {
    const image = this.images.get(`${volumeId}/${imageId}`);
    if (image === undefined) {
      return Promise.reject(
        new NotFoundError(`image ${imageId} of ${volumeId} does not exist`, {
          context: { volumeId, imageId },
        }),
      );
    }
    return Promise.resolve(structuredClone(image));
  }

  /** What the adapter writes with a hold besides `legalHold`, by record (volumeId/imageId). */
  readonly holdDetails = new Map<string, Omit<LegalHoldChange, 'legalHold'>>();

  markDeleting(volumeId: string, imageId: string): Promise<'marked' | 'missing' | 'held'> {
    const key = `${volumeId}/${imageId}`;
    const image = this.images.get(key);
    if (image === undefined) return Promise.resolve('missing');
    // The adapter's condition: a live record under legal hold is not marked.
    if (image.status === 'live' && image.legalHold === true) return Promise.resolve('held');
    this.images.set(key, { ...image, status: 'deleting' });
    return Promise.resolve('marked');
  }

  setLegalHold(volumeId: string, imageId: string, change: LegalHoldChange): Promise<LegalHoldWrite> {
    const key = `${volumeId}/${imageId}`;
    const image = this.images.get(key);
    if (image === undefined) return Promise.resolve('missing');
    if (image.status === 'deleting') return Promise.resolve('deleting');
    const { legalHold: _held, ...rest } = image;
    this.images.set(key, change.legalHold ? { ...rest, legalHold: true } : rest);
    const { changedAt, changedBy } = change;
    this.holdDetails.set(key, {
      changedAt,
      changedBy,
      ...(change.legalHold && change.reason !== undefined ? { reason: change.reason } : {}),
    });
    return Promise.resolve('changed');
  }

  deleteImage(volumeId: string, imageId: string): Promise<void> {
    this.images.delete(`${volumeId}/${imageId}`);
    return Promise.resolve();
  }
}

export class MemoryGcCoordination implements GcCoordination {
  fence: GcFence = INITIAL_FENCE;
  readonly leases = new Map<string, BackupLease>();

  getFence(): Promise<GcFence> {
    return Promise.resolve({ ...this.fence });
  }

  swapFence(expected: GcFence, next: GcFence): Promise<boolean> {
    const same =
      this.fence.epoch === expected.epoch &&
      this.fence.phase === expected.phase &&
      this.fence.runId === expected.runId;
    if (same) this.fence = { ...next };
    return Promise.resolve(same);
  }

  putLease(lease: BackupLease): Promise<void> {
    this.leases.set(lease.backupId, { ...lease });
    return Promise.resolve();
  }

  deleteLease(backupId: string): Promise<void> {
    this.leases.delete(backupId);
    return Promise.resolve();
  }

  listLeases(): Promise<BackupLease[]> {
    return Promise.resolve([...this.leases.values()]);
  }

  /** The commit transaction: writes only if the fence is idle at `expected.epoch` (a ConditionCheck). */
  commitUnderFence(expected: GcFence, write: () => void): void {
    if (this.fence.phase !== 'idle' || this.fence.epoch !== expected.epoch) {
      throw new ConflictError('TransactionCanceled: fence condition failed', {
        context: { epoch: expected.epoch },
      });
    }
    write();
  }
}

export class MemoryCheckpoints implements GcCheckpointStore {
  readonly saved = new Map<string, GcCheckpoint>();
  saves = 0;

  load(runId: string): Promise<GcCheckpoint | undefined> {
    const checkpoint = this.saved.get(runId);
    return Promise.resolve(checkpoint === undefined ? undefined : structuredClone(checkpoint));
  }

  save(checkpoint: GcCheckpoint): Promise<void> {
    this.saves += 1;
    this.saved.set(checkpoint.runId, structuredClone(checkpoint));
    return Promise.resolve();
  }
}

/** Stored default retention rules, one entry per server, replaced whole. */
export class MemoryRetentionRules implements RetentionRuleStore {
  readonly stored = new Map<string, StoredRetention>();

  get(serverId: string): Promise<StoredRetention | undefined> {
    const stored = this.stored.get(serverId);
    return Promise.resolve(stored === undefined ? undefined : structuredClone(stored));
  }

  put(stored: StoredRetention): Promise<void> {
    this.stored.set(stored.serverId, structuredClone(stored));
    return Promise.resolve();
  }
}
