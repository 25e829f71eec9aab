/**
 * Recovery points (docs/recovery-points.md): the images of every volume of a protected server,
 * taken at one checkpoint by one backup run, committed together. The record is written only when
 * every volume's image record exists (each image's own commit point); images of a run that failed
 * part-way stay as single-volume images and no record is written.
 */
import { z } from 'zod';
import { ConflictError, IntegrityError, NotFoundError, ValidationError } from '../errors.ts';
import type { ImageRecord, ImageRecordStore } from '../image/image-records.ts';
import type { StepLog } from '../ports.ts';
import type { CommitRecoveryPointInput, CommittedRecoveryPoint } from '../orchestration/step-state.ts';

/** Version of the stored record (docs/recovery-points.md); a reader refuses versions it does not know. */
export const RECOVERY_POINT_VERSION = 1;
/** Prefix of recovery point ids: `rp-<backupId>`, one per backup run. */
export const RECOVERY_POINT_ID_PREFIX = 'rp-';

export const recoveryPointImageSchema = z
  .object({
    volumeId: z.string().min(1),
    /** The volume's device on the source server (`rbp:source-device`), or `disk<N>`. */
    device: z.string().min(1),
    imageId: z.string().min(1),
    snapshotId: z.string().min(1),
    kind: z.enum(['full', 'incremental']),
  })
  .strict();
export type RecoveryPointImage = z.infer<typeof recoveryPointImageSchema>;

export const recoveryPointSchema = z
  .object({
    version: z.literal(RECOVERY_POINT_VERSION),
    recoveryPointId: z.string().startsWith(RECOVERY_POINT_ID_PREFIX),
    serverId: z.string().min(1),
    backupId: z.string().min(1),
    /** ISO-8601 UTC: the earliest image time of its volumes. */
    createdAt: z.iso.datetime(),
    checkpointId: z.string().min(1).optional(),
    images: z.array(recoveryPointImageSchema).min(1),
    /**
     * Who started the run (backup-request.ts: `plan:<plan>`, `schedule:<name>`, `api:<principal>`,
     * `manual`). A plan's expiry deletes only points whose trigger is `plan:<that plan>`
     * (retention-apply.ts). Absent on points written before points recorded it: those are left to
     * an explicit `retention apply`.
     */
    trigger: z.string().min(1).optional(),
  })
  .strict();
export type RecoveryPoint = z.infer<typeof recoveryPointSchema>;

/** One image of a recovery point, by volume and image id. */
export interface RecoveryPointImageRef {
  readonly volumeId: string;
  readonly imageId: string;
}

/** What detaching an image did to the recovery point that named it. */
export interface DetachedImage {
  readonly recoveryPointId: string;
  /** `narrowed`: the point keeps its other images; `removed`: it was the point's last image. */
  readonly outcome: 'narrowed' | 'removed';
}

/** What one call of the image index backfill may spend; no page starts once either is spent. */
export interface IndexBackfillBudget {
  /** Pages of the store read at most (the position is saved after each). */
  readonly pages: number;
  /** Store requests at most (reads and writes); a page's own requests are bounded by its size. */
  readonly requests: number;
}

export interface RecoveryPointStore {
  /**
   * Writes the record unless one with its id exists. The same record again is success (`exists`);
   * a different record under the same id is a ConflictError.
   */
  put(point: RecoveryPoint): Promise<'created' | 'exists'>;
  /** NotFoundError when there is none. */
  get(recoveryPointId: string): Promise<RecoveryPoint>;
  /** The server's recovery points, oldest first (empty when it has none). */
  listByServer(serverId: string): Promise<RecoveryPoint[]>;
  /** One page of the server's recovery points, newest first (one Query per page in DynamoDB). */
  pageByServer(
    serverId: string,
    page: { readonly limit: number; readonly token?: string | undefined },
  ): Promise<{ readonly points: RecoveryPoint[]; readonly nextToken?: string }>;
  /**
   * Takes the image out of the recovery point that names it, before the image is deleted
   * (lambdas/core/lifecycle/image-deletion.ts). First, always, the image is recorded as detached
   * (listDetached) until clearDetached, also when no point names it yet: a Commit Recovery Point
   * racing the deletion reads that mark after writing its point and takes the image out itself
   * (detachedAmong, detachFromPoint; docs/recovery-points.md, "A commit racing a deletion"), and a
   * deletion that stops after this step is found and finished by the next expiry. Then, in one
   * atomic write, the point is narrowed to its other images (its id, server and createdAt
   * unchanged) or, with its last image, removed. Undefined when no point names the image (never
   * in one, or already detached): idempotent. `servers`: where to look for the point when the
   * image has no index item (a point written before points indexed their images): those servers'
   * points.
   */
  detachImage(image: RecoveryPointImageRef, servers?: readonly string[]): Promise<DetachedImage | undefined>;
  /**
   * The keys (imageRefKey) of those of `images` that are recorded as detached (a deletion of each
   * has started); a bounded number of batched reads per call.
   */
  detachedAmong(images: readonly RecoveryPointImageRef[]): Promise<ReadonlySet<string>>;
  /**
   * Takes the image out of the named point (narrowed, or removed with its last image), without
   * recording it as detached: the commit of that point does this for images a deletion has
   * started on. Undefined when the point does not exist or no longer names the image.
   */
  detachFromPoint(recoveryPointId: string, image: RecoveryPointImageRef): Promise<DetachedImage | undefined>;
  /**
   * The point that names each of `images`, found exactly through the images' index items (by
   * imageRefKey; an image no point names is absent): a bounded number of batched reads per call,
   * whatever server the point is filed under. Points written before points indexed their images
   * are found once backfillImageIndex has finished.
   */
  pointsOfImages(images: readonly RecoveryPointImageRef[]): Promise<ReadonlyMap<string, RecoveryPoint>>;
  /**
   * Writes the index items of points written before points indexed their images, resumably: pages
   * of the store within `budget` per call, its position kept in the store after each page, so the
   * pass runs once over all calls. `done`: every point is indexed (a call then costs one read). A
   * budget of no pages only reads where the pass stands.
   */
  backfillImageIndex(
    budget: IndexBackfillBudget,
  ): Promise<{ readonly done: boolean; readonly indexed: number }>;
  /** The images detached and not yet cleared, ordered by volume id then image id. */
  listDetached(): Promise<RecoveryPointImageRef[]>;
  /** Forgets a detached image once its deletion is complete (idempotent). */
  clearDetached(image: RecoveryPointImageRef): Promise<void>;
}

/** The recovery point without `image`: undefined when it was the point's last image. */
export function withoutImage(point: RecoveryPoint, image: RecoveryPointImageRef): RecoveryPoint | undefined {
  const images = point.images.filter((i) => i.volumeId !== image.volumeId || i.imageId !== image.imageId);
  return images.length === 0 ? undefined : { ...point, images };
}

/** Whether the recovery point names `image`. */
export function namesImage(point: RecoveryPoint, image: RecoveryPointImageRef): boolean {
  return point.images.some((i) => i.volumeId === image.volumeId && i.imageId === image.imageId);
}

/** `volumeId/imageId`: an image reference as one string (a set's key). */
export function imageRefKey(image: RecoveryPointImageRef): string {
  return `${image.volumeId}/${image.imageId}`;
}

/** Which images are live: committed and not being deleted. */
export interface ImageLiveness {
  /** The keys (imageRefKey) of those of `images` that are live; a bounded number of batched reads per call. */
  liveImages(images: readonly RecoveryPointImageRef[]): Promise<ReadonlySet<string>>;
}

/**
 * The points as they may be shown: each narrowed to its live images, and a point with none left
 * out. One liveness read for all of them. A point can still name a gone image in the store (a
 * commit that raced the image's deletion, or a point written before images were detached on
 * deletion), so what is read is narrowed, whatever the store holds.
 */
export async function narrowToLiveImages(
  points: readonly RecoveryPoint[],
  liveness: ImageLiveness | undefined,
): Promise<RecoveryPoint[]> {
  if (liveness === undefined || points.length === 0) return [...points];
  const live = await liveness.liveImages(points.flatMap((p) => p.images));
  return points.flatMap((point) => {
    const images = point.images.filter((i) => live.has(imageRefKey(i)));
    if (images.length === 0) return [];
    return [images.length === point.images.length ? point : { ...point, images }];
  });
}

/** Orders image references by volume id, then image id. */
export function byImageRef(a: RecoveryPointImageRef, b: RecoveryPointImageRef): number {
  const x = `${a.volumeId}\u0000${a.imageId}`;
  const y = `${b.volumeId}\u0000${b.imageId}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Devices of replica volumes (`rbp:source-device`), by volume id; absent when a volume has none. */
export interface VolumeDevices {
  devicesOf(volumeIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
}

export function recoveryPointIdFor(backupId: string): string {
  return `${RECOVERY_POINT_ID_PREFIX}${backupId}`;
}

/** The errors every RecoveryPointStore raises, with the same messages (the contract suite checks them). */
export const recoveryPointErrors = {
  missing: (recoveryPointId: string) =>
    new NotFoundError(`recovery point ${recoveryPointId} does not exist`, { context: { recoveryPointId } }),
  different: (recoveryPointId: string) =>
    new ConflictError(`recovery point ${recoveryPointId} already has a different record`, {
      context: { recoveryPointId },
    }),
  version: (recoveryPointId: string, version: unknown) =>
    new IntegrityError(`recovery point ${recoveryPointId} has unknown record version ${String(version)}`, {
      context: { recoveryPointId },
    }),
};

/** Parses a stored record; IntegrityError for a version this code does not know or a broken shape. */
export function readRecoveryPoint(recoveryPointId: string, raw: unknown): RecoveryPoint {
  const version = (raw as { version?: unknown } | undefined)?.version;
  if (version !== RECOVERY_POINT_VERSION) throw recoveryPointErrors.version(recoveryPointId, version);
  const parsed = recoveryPointSchema.safeParse(raw);
  if (!parsed.success) {
    throw new IntegrityError(`recovery point ${recoveryPointId} is malformed: ${parsed.error.message}`, {
      context: { recoveryPointId },
    });
  }
  return parsed.data;
}

/**
 * Whether `stored` is `point` with some of its images taken out (by deletions). A stored point
 * without a trigger (written by the same run before points recorded it, then re-committed) is
 * compared without the trigger.
 */
export function isNarrowingOf(stored: RecoveryPoint, point: RecoveryPoint): boolean {
  const keep = new Set(stored.images.map(imageRefKey));
  const { trigger: _trigger, ...untriggered } = point;
  return sameRecoveryPoint(stored, {
    ...(stored.trigger === undefined ? untriggered : point),
    images: point.images.filter((i) => keep.has(imageRefKey(i))),
  });
}

/** Field-by-field equality, for idempotent re-commits. */
export function sameRecoveryPoint(a: RecoveryPoint, b: RecoveryPoint): boolean {
  return JSON.stringify(recoveryPointSchema.parse(a)) === JSON.stringify(recoveryPointSchema.parse(b));
}

/**
 * Every volume's device: its `rbp:source-device` tag, else `disk<N>` (N: its position among the
 * volumes ordered by id). ValidationError when two volumes claim the same device.
 */
export function assignDevices(
  volumeIds: readonly string[],
  tagged: ReadonlyMap<string, string>,
): Map<string, string> {
  const ordered = [...volumeIds].sort();
  const devices = new Map<string, string>();
  const owner = new Map<string, string>();
  ordered.forEach((volumeId, index) => {
    const device = tagged.get(volumeId) ?? `disk${index}`;
    const other = owner.get(device);
    if (other !== undefined) {
      throw new ValidationError(`volumes ${other} and ${volumeId} both say they are device ${device}`, {
        context: { device },
      });
    }
    owner.set(device, volumeId);
    devices.set(volumeId, device);
  });
  return devices;
}

/** Orders a recovery point's images: by device, then volume id (a stable order for restores and listings). */
export function byDevice(a: RecoveryPointImage, b: RecoveryPointImage): number {
  if (a.device !== b.device) return a.device < b.device ? -1 : 1;
  return a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0;
}

export interface CommitRecoveryPointRequest {
  readonly backupId: string;
  readonly serverId: string;
  /** Every volume of the run; each must have its image committed. */
  readonly volumeIds: readonly string[];
  /** The image each volume committed in this run, by volume id. */
  readonly imageIds: ReadonlyMap<string, string>;
  readonly checkpointId?: string;
  /** The run's trigger (`$.backup.trigger`), stored on the point. */
  readonly trigger?: string;
}

export interface CommitRecoveryPointDeps {
  readonly records: Pick<ImageRecordStore, 'getImageRecord'>;
  readonly points: Pick<RecoveryPointStore, 'put' | 'get' | 'detachedAmong' | 'detachFromPoint'>;
  readonly devices: VolumeDevices;
  /** Which images are live after the point is written (images a deletion has taken are detached). */
  readonly liveness: ImageLiveness;
}

/**
 * After a point is written: takes out of it every image whose deletion has started, one that is
 * recorded as detached or is no longer live, read in that order (docs/recovery-points.md, "A
 * commit racing a deletion": a deletion records the image as detached before it looks for the
 * image's point, and marks the record `deleting` before it forgets that mark; the commit writes
 * its point before it reads either). Returns the point as it is now (undefined: removed).
 */
export async function detachDeletedImages(
  points: CommitRecoveryPointDeps['points'],
  liveness: ImageLiveness,
  point: RecoveryPoint,
  log?: StepLog,
): Promise<RecoveryPoint | undefined> {
  const marked = await points.detachedAmong(point.images);
  const live = await liveness.liveImages(point.images);
  let current: RecoveryPoint | undefined = point;
  for (const image of point.images) {
    const key = imageRefKey(image);
    if (!marked.has(key) && live.has(key)) continue;
    const detached = await points.detachFromPoint(point.recoveryPointId, image);
    log?.info('image being deleted taken out of its recovery point', {
      recoveryPointId: point.recoveryPointId,
      volumeId: image.volumeId,
      imageId: image.imageId,
      outcome: detached?.outcome ?? 'already out',
    });
    current = current === undefined ? undefined : withoutImage(current, image);
  }
  return current;
}

/** The stored point with this id, or undefined when there is none; any other failure is thrown. */
export async function storedPoint(
  points: Pick<RecoveryPointStore, 'get'>,
  recoveryPointId: string,
): Promise<RecoveryPoint | undefined> {
  try {
    return await points.get(recoveryPointId);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/**
 * Commits the recovery point of a run: re-reads every volume's image record (ValidationError when
 * a volume has no image in this run, NotFoundError when its image is not committed: nothing is
 * written either way), then writes the record, then takes out of it any image a deletion started
 * on meanwhile (detachDeletedImages). Re-running it is a no-op that succeeds; a re-run whose image
 * was deleted after the point was written only repeats that check. Returns the point as written
 * and as stored after that check (narrowed, or removed when every image of it was deleted).
 */
export async function commitRecoveryPoint(
  deps: CommitRecoveryPointDeps,
  request: CommitRecoveryPointRequest,
  log?: StepLog,
): Promise<CommittedPoint> {
  const recoveryPointId = recoveryPointIdFor(request.backupId);
  const missing = request.volumeIds.filter((v) => !request.imageIds.has(v));
  if (missing.length > 0) {
    throw new ValidationError(
      `recovery point ${recoveryPointId}: no image of ${missing.join(', ')} in this run; not committing`,
      { context: { recoveryPointId } },
    );
  }
  const records: ImageRecord[] = [];
  for (const volumeId of request.volumeIds) {
    const imageId = request.imageIds.get(volumeId)!;
    try {
      records.push(await deps.records.getImageRecord(volumeId, imageId));
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      // A retry or redrive after the point was written, whose image was deleted since: the point's
      // check (below) may not have run, so it runs now.
      const written = await storedPoint(deps.points, recoveryPointId);
      if (written !== undefined) return checked(deps, written, log);
      throw new NotFoundError(
        `recovery point ${recoveryPointId}: image ${imageId} of ${volumeId} is not committed; not committing`,
        { cause: error, context: { recoveryPointId, volumeId, imageId } },
      );
    }
  }
  const devices = assignDevices(request.volumeIds, await deps.devices.devicesOf(request.volumeIds));
  const images = records
    .map((record): RecoveryPointImage => ({
      volumeId: record.volumeId,
      device: devices.get(record.volumeId)!,
      imageId: record.imageId,
      snapshotId: record.snapshotId,
      kind: record.kind,
    }))
    .sort(byDevice);
  const createdAt = records.map((r) => r.createdAt).sort()[0]!;
  const point: RecoveryPoint = {
    version: RECOVERY_POINT_VERSION,
    recoveryPointId,
    serverId: request.serverId,
    backupId: request.backupId,
    createdAt,
    ...(request.checkpointId === undefined ? {} : { checkpointId: request.checkpointId }),
    images,
    ...(request.trigger === undefined ? {} : { trigger: request.trigger }),
  };
  let outcome: 'created' | 'exists' | 'narrowed';
  try {
    outcome = await deps.points.put(point);
  } catch (error) {
    // A re-run after a deletion took one of the point's images out of it: the stored point is this
    // one narrowed, which is success; its check runs again.
    if (!(error instanceof ConflictError)) throw error;
    // Only "no such point" means the ids collided; a failed read (throttled) is thrown as it is,
    // so the step is retried.
    const stored = await storedPoint(deps.points, recoveryPointId);
    if (stored === undefined || !isNarrowingOf(stored, point)) throw error;
    outcome = 'narrowed';
  }
  log?.info('recovery point committed', { recoveryPointId, outcome, volumes: images.length });
  return checked(deps, point, log);
}

/** What a commit left: the point it wrote, and the point as stored after the check. */
export interface CommittedPoint {
  readonly written: RecoveryPoint;
  /** Undefined: the point was removed, every image of it deleted while it was committed. */
  readonly stored: RecoveryPoint | undefined;
}

async function checked(
  deps: CommitRecoveryPointDeps,
  written: RecoveryPoint,
  log?: StepLog,
): Promise<CommittedPoint> {
  const stored = await detachDeletedImages(deps.points, deps.liveness, written, log);
  if (stored === undefined) {
    log?.info('recovery point removed: every image of it was deleted while it was committed', {
      recoveryPointId: written.recoveryPointId,
    });
  }
  return { written, stored };
}

/** The replica volume tag naming the volume's device on the source server (docs/replica-tags.md). */
export const SOURCE_DEVICE_TAG = 'rbp:source-device';

/** VolumeDevices over a reader of volume tags (EC2 DescribeVolumes in AWS). */
export function volumeDevicesFromTags(
  volumeTags: (
    volumeIds: readonly string[],
  ) => Promise<readonly { readonly volumeId: string; readonly tags: Readonly<Record<string, string>> }[]>,
): VolumeDevices {
  return {
    async devicesOf(volumeIds) {
      const devices = new Map<string, string>();
      for (const { volumeId, tags } of await volumeTags(volumeIds)) {
        const device = tags[SOURCE_DEVICE_TAG];
        if (device !== undefined && device !== '') devices.set(volumeId, device);
      }
      return devices;
    },
  };
}

/**
 * Commit Recovery Point, the state machine's step after "Back Up Volumes": the run's every volume
 * (`backup.volumeIds`) with the image its iteration committed (`volumes`), then commitRecoveryPoint.
 */
export async function commitRecoveryPointStep(
  deps: CommitRecoveryPointDeps,
  { backup, checkpoint, volumes }: CommitRecoveryPointInput,
  log: StepLog,
): Promise<CommittedRecoveryPoint> {
  const { written, stored } = await commitRecoveryPoint(
    deps,
    {
      backupId: backup.backupId,
      serverId: backup.recoveryPointServerId ?? backup.serverId,
      volumeIds: backup.volumeIds,
      imageIds: new Map(volumes.map((v) => [v.volumeId, v.imageId])),
      ...(checkpoint === undefined ? {} : { checkpointId: checkpoint.checkpointId }),
      trigger: backup.trigger,
    },
    log,
  );
  // As stored: images a deletion took out meanwhile are not named (nor a point it removed).
  const images = stored?.images ?? [];
  return {
    recoveryPointId: written.recoveryPointId,
    serverId: written.serverId,
    createdAt: written.createdAt,
    images,
    imageIds: images.map((i) => i.imageId),
    ...(stored === undefined ? { removed: true as const } : {}),
  };
}
