/**
 * Deleting one image, and expiry (retention applied, then its deletions carried out).
 *
 * Order (docs/lifecycle.md, "Deleting an image"):
 * 1. refuse, with the reason, an image under legal hold or whose Object Lock retention has not
 *    expired (nothing changes);
 * 2. record the image as detached (first, also when no point names it yet: a commit writing a point
 *    that names it reads that mark afterwards and takes it out), then take the image out of its
 *    recovery point (the point narrowed to its other volumes' images, or removed with its last
 *    one): from now on no listed recovery point names it;
 * 3. mark the record `deleting`: from now on it is neither listed nor restorable;
 * 4. delete the manifest object;
 * 5. delete the record (and its id guard);
 * 6. forget the detached mark.
 * Each step is idempotent. A crash after step 2 leaves a detached mark, after steps 3-4 a `deleting`
 * record, after step 5 a mark without a record: `finishPendingDeletions` (run by every expiry) and
 * `finishSomePendingDeletions` (the daily collection's first step, gc.ts, a budget per run) find
 * each and complete the deletion. Completing one whose record is still live goes through step 1
 * again on the record as it is now: an image put under legal hold (or whose Object Lock retention
 * grew) since the crash is not deleted; its deletion is abandoned (its detached mark forgotten) and
 * it stays live, restorable by id, in no recovery point. Chunks and segments are never deleted
 * here: other images may share them; the collector removes what no live image references. Every image is a complete map of its
 * volume, so deleting one never affects another.
 */
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import type { ObjectLockConfig } from './object-lock.ts';
import { imageLockedUntil } from './object-lock.ts';
import type { RetentionContext, RetentionDecision, RetentionImage, RetentionRules } from './retention.ts';
import { applyRetention } from './retention.ts';
import type { LifecycleImage, LifecycleImageRecords, LifecycleObjectStore } from './ports.ts';
import type {
  IndexBackfillBudget,
  RecoveryPoint,
  RecoveryPointImageRef,
  RecoveryPointStore,
} from '../recovery-points/recovery-points.ts';
import { imageRefKey } from '../recovery-points/recovery-points.ts';
import { pruneVolumeCatalog, type CatalogPruneResult, type CatalogPruningStore } from './catalog-pruning.ts';

/** A deletion refused because the image must be kept (legal hold, Object Lock). Not retryable. */
export class ImageDeletionRefusedError extends ConflictError {}

/** The manifest is still locked in S3 although the record said otherwise; the record stays `deleting`. */
export class ImageStillLockedError extends ConflictError {}

export interface ImageDeletionDeps {
  readonly objects: LifecycleObjectStore;
  readonly records: LifecycleImageRecords;
  readonly clock: Clock;
  /**
   * The file catalog, pruned after deletions (catalog-pruning.ts); absent: catalog items of
   * deleted images stay until a deployment that has it prunes them.
   */
  readonly catalog?: CatalogPruningStore;
  /**
   * The image bucket's Object Lock generations (object-lock.ts): an image is refused deletion until
   * the lock its objects were written with ends. Absent: only a record's own `lockedUntil` counts.
   */
  readonly objectLock?: ObjectLockConfig;
  /**
   * The recovery points (recovery-points.ts): an image leaves its point before it is marked
   * deleting. Absent: recovery points are not touched (a deployment without them).
   */
  readonly recoveryPoints?: Pick<
    RecoveryPointStore,
    | 'listByServer'
    | 'detachImage'
    | 'listDetached'
    | 'clearDetached'
    | 'pointsOfImages'
    | 'backfillImageIndex'
  >;
}

export type ImageDeletionOutcome =
  | { readonly status: 'deleted'; readonly volumeId: string; readonly imageId: string }
  | { readonly status: 'absent'; readonly volumeId: string; readonly imageId: string };

/**
 * The end of an image's Object Lock retention: the later of its record's `lockedUntil` and the
 * lock its generation gave its objects; undefined when neither applies.
 */
export function lockedUntilOf(image: LifecycleImage, objectLock?: ObjectLockConfig): string | undefined {
  const dates = [
    ...(image.lockedUntil === undefined ? [] : [Date.parse(image.lockedUntil)]),
    ...(objectLock === undefined ? [] : [imageLockedUntil(image.createdAt, objectLock).getTime()]),
  ];
  return dates.length === 0 ? undefined : new Date(Math.max(...dates)).toISOString();
}

/** Why an image may not be deleted now, or undefined when it may. */
export function deletionRefusal(
  image: LifecycleImage,
  now: Date,
  objectLock?: ObjectLockConfig,
): string | undefined {
  if (image.legalHold === true) return `image ${image.imageId} of ${image.volumeId} is under legal hold`;
  const lockedUntil = lockedUntilOf(image, objectLock);
  if (lockedUntil !== undefined && Date.parse(lockedUntil) > now.getTime()) {
    return `image ${image.imageId} of ${image.volumeId} is under Object Lock retention until ${lockedUntil}`;
  }
  return undefined;
}

function refused(deps: ImageDeletionDeps, image: LifecycleImage, refusal: string): ImageDeletionRefusedError {
  const { volumeId, imageId } = image;
  return new ImageDeletionRefusedError(`${refusal}; not deleted`, {
    context: {
      volumeId,
      imageId,
      legalHold: image.legalHold === true,
      lockedUntil: lockedUntilOf(image, deps.objectLock),
    },
  });
}

export async function deleteImage(
  deps: ImageDeletionDeps,
  volumeId: string,
  imageId: string,
  /** pruneCatalog false: the caller prunes once after a batch of deletions. */
  options: { readonly pruneCatalog?: boolean } = {},
): Promise<ImageDeletionOutcome> {
  let image: LifecycleImage;
  try {
    image = await deps.records.getImage(volumeId, imageId);
  } catch (error) {
    if (error instanceof NotFoundError) return { status: 'absent', volumeId, imageId };
    throw error;
  }
  if (image.status === 'live') {
    const refusal = deletionRefusal(image, deps.clock.now(), deps.objectLock);
    if (refusal !== undefined) throw refused(deps, image, refusal);
  }
  // Also for a record already `deleting`: one marked before recovery points were detached first.
  // Its servers' points are searched when the image has no index item; what may still be missed
  // is never shown (narrowToLiveImages).
  await deps.recoveryPoints?.detachImage({ volumeId, imageId }, serversOfImage(image));
  if (image.status === 'live' && (await deps.records.markDeleting(volumeId, imageId)) === 'held') {
    // A legal hold written after the read above: the mark's condition refused it, nothing else
    // follows. The detached mark stays; the next pending-deletion pass finds the image held and
    // keeps it (finishPending), forgetting the mark.
    const held = { ...image, legalHold: true };
    throw refused(deps, held, deletionRefusal(held, deps.clock.now(), deps.objectLock)!);
  }
  const outcome = await deps.objects.deleteObjects([image.manifestKey]);
  const failure = outcome.failed[0];
  if (failure !== undefined) {
    throw new ImageStillLockedError(
      `manifest ${image.manifestKey} of image ${imageId} could not be deleted (${failure.code}: ${failure.message}); the image stays marked deleting and the next expiry retries`,
      { context: { volumeId, imageId, key: image.manifestKey, code: failure.code } },
    );
  }
  await deps.records.deleteImage(volumeId, imageId);
  await deps.recoveryPoints?.clearDetached({ volumeId, imageId });
  if (options.pruneCatalog !== false) await pruneCatalogs(deps, [volumeId]);
  return { status: 'deleted', volumeId, imageId };
}

/**
 * Prunes the catalogs of `volumeIds` whose catalog records name images that are no longer live
 * (cheap when there are none: one Query of the volume's catalog records). Run after every deletion;
 * a crash before it leaves those records, so the next expiry or deletion prunes again.
 */
export async function pruneCatalogs(
  deps: ImageDeletionDeps,
  volumeIds: Iterable<string>,
): Promise<CatalogPruneResult[]> {
  const catalog = deps.catalog;
  const volumes = [...new Set(volumeIds)].sort();
  if (catalog === undefined || volumes.length === 0) return [];
  const out: CatalogPruneResult[] = [];
  for (const volumeId of volumes) {
    // Only the volume's own records: a deletion reads its volume, never the fleet.
    const live = (await deps.records.listVolume(volumeId))
      .filter((image) => image.status === 'live')
      .map((image) => `${image.createdAt}#${image.imageId}`);
    const result = await pruneVolumeCatalog(catalog, volumeId, live, { onlyWhenStale: true });
    if (result.pruned) out.push(result);
  }
  return out;
}

/** An image a pending deletion could not finish this time, and why. */
export interface PendingDeletionFailure {
  readonly volumeId: string;
  readonly imageId: string;
  readonly reason: string;
}

/**
 * What is said of an image whose interrupted deletion was abandoned because the image must be kept
 * now (`refusal`: deletionRefusal's reason). The recovery point store has no way to put an image
 * back into the point it was taken out of (the point may be narrowed since, or gone with its last
 * image), so the image stays without one.
 */
export function abandonedDeletionReason(refusal: string): string {
  return `${refusal}; its interrupted deletion is abandoned: the image stays live and restorable by id, in no recovery point`;
}

/** The part of the fleet a scoped expiry finishes deletions in: its volumes and their records. */
export interface PendingDeletionScope {
  readonly volumes: ReadonlySet<string>;
  /** Every record of those volumes (live and deleting), as listVolume or listServer gave them. */
  readonly images: readonly LifecycleImage[];
}

/**
 * Completes every deletion a crash interrupted: images detached from their recovery point (whose
 * record may still be live: the deletion was decided and checked before the detach, and is
 * checked again below), then records
 * left `deleting`. An image that cannot be finished now is reported and left for the next expiry:
 * `stillLocked` when its manifest is still locked, `failed` for any other error (a recovery point
 * record of an unknown version, a detach that lost every attempt); the other images are finished.
 * A detached image whose record is live is checked again first (deletionRefusal on the record as it
 * is now): one under legal hold or Object Lock retention is not deleted but `kept`, its detached
 * mark forgotten so that no later run tries again (abandonedDeletionReason). A `deleting` record is
 * never refused: it is no longer listed or restorable, and its deletion goes on.
 * With `within` (a volume or server scope of the API), only that scope's deletions are finished and
 * no other volume's records are read; the others wait for their own scope's next expiry or the
 * expiry after a plan run, which finishes the fleet's.
 */
export async function finishPendingDeletions(
  deps: ImageDeletionDeps,
  within?: PendingDeletionScope,
): Promise<{
  finished: number;
  stillLocked: PendingDeletionFailure[];
  failed: PendingDeletionFailure[];
  /** Present when any. */
  kept?: PendingDeletionFailure[];
}> {
  const { finished, stillLocked, failed, kept } = await finishPending(deps, within);
  return { finished, stillLocked, failed, ...(kept.length === 0 ? {} : { kept }) };
}

/**
 * Unfinished deletions a daily collection completes in one run (gc.ts, its deletions step): each is
 * about eight requests (the record, the detach, the mark, the manifest's DeleteObjects, the record's
 * delete, the mark's delete, the catalog check), so 100 stay under a minute, and a crash leaves a
 * handful; a larger backlog goes on the next day.
 */
export const PENDING_DELETIONS_PER_GC_RUN = 100;
/**
 * Deletions that fail again a daily collection tolerates in one run besides its budget of finished
 * ones: as many as the budget, so a run makes at most twice the budget's attempts (about two
 * minutes), and up to this many deletions that keep failing never hold the others back.
 */
export const PENDING_DELETION_FAILURES_PER_GC_RUN = PENDING_DELETIONS_PER_GC_RUN;

/** A step of the fleet-wide pass that failed as a whole (not one image's deletion), and why. */
export interface PendingDeletionStepFailure {
  readonly step: 'list detached marks' | 'list deleting records' | 'prune catalogs';
  readonly reason: string;
}

/**
 * finishPendingDeletions over the whole fleet, finishing at most `budget` deletions (detached
 * marks first, then `deleting` records, each in volume and image id order): what a scheduled job
 * that runs without plans does, so that no unfinished deletion waits for an expiry that may never
 * come. Only finished deletions count against the budget: the pass stops when `budget` are
 * finished or when it has made budget + `failures` attempts, so deletions that keep failing (up
 * to `failures` of them, wherever they sort) never starve the others. More than that many ahead of
 * the others in key order still hold them back (the run's deletionFailures name them). `left`: the unfinished deletions found and not attempted (the next run's).
 * A step that fails as a whole (listing the marks or the records, pruning the catalogs) is
 * reported in `stepFailures` and the pass goes on without it. It goes through the same path as
 * an expiry's (deleteImage): only images whose deletion was decided (a detached mark or a
 * `deleting` record) are touched, and a live parent a running backup commits against is guarded by
 * its commit's transaction (commit-gate.ts), as with any deletion. `finished` counts every
 * deletion attempted that did not fail, a mark whose record was already gone included. `kept`: the
 * abandoned deletions of images that must be kept now (finishPendingDeletions); each is an attempt
 * that is not finished, like a failure, and is not found again by the next run.
 */
export async function finishSomePendingDeletions(
  deps: ImageDeletionDeps,
  budget: number = PENDING_DELETIONS_PER_GC_RUN,
  failures: number = PENDING_DELETION_FAILURES_PER_GC_RUN,
): Promise<{
  finished: number;
  stillLocked: PendingDeletionFailure[];
  failed: PendingDeletionFailure[];
  kept: PendingDeletionFailure[];
  left: number;
  stepFailures: PendingDeletionStepFailure[];
}> {
  const stepFailures: PendingDeletionStepFailure[] = [];
  const { stillLocked, failed, kept, left, done } = await finishPending(
    deps,
    undefined,
    { finished: budget, failures },
    (step, error) =>
      stepFailures.push({ step, reason: error instanceof Error ? error.message : String(error) }),
  );
  // Every deletion attempted and not failed, a mark whose record was already gone included.
  return {
    finished: done.size - stillLocked.length - failed.length - kept.length,
    stillLocked,
    failed,
    kept,
    left,
    stepFailures,
  };
}

/**
 * How many deletions one pass may finish, and how many attempts it may make beyond those (the
 * failures it tolerates); unbounded by default.
 */
interface PendingDeletionLimits {
  readonly finished: number;
  readonly failures: number;
}

/**
 * finishPendingDeletions, and every image it dealt with (imageRefKey): none is live afterwards but
 * those `kept` (and those whose deletion `failed` before it changed the record).
 * With `onStepError`, a step that fails as a whole is handed to it and the pass goes on; without,
 * it is thrown.
 */
async function finishPending(
  deps: ImageDeletionDeps,
  within: PendingDeletionScope | undefined,
  limits: PendingDeletionLimits = { finished: Number.POSITIVE_INFINITY, failures: Number.POSITIVE_INFINITY },
  onStepError?: (step: PendingDeletionStepFailure['step'], error: unknown) => void,
): Promise<{
  finished: number;
  stillLocked: PendingDeletionFailure[];
  failed: PendingDeletionFailure[];
  kept: PendingDeletionFailure[];
  done: ReadonlySet<string>;
  left: number;
}> {
  let finished = 0;
  let left = 0;
  const stillLocked: PendingDeletionFailure[] = [];
  const failed: PendingDeletionFailure[] = [];
  const kept: PendingDeletionFailure[] = [];
  const volumes = new Set<string>();
  const done = new Set<string>();
  const step = async <T>(name: PendingDeletionStepFailure['step'], fallback: T, run: () => Promise<T>) => {
    if (onStepError === undefined) return run();
    try {
      return await run();
    } catch (error) {
      onStepError(name, error);
      return fallback;
    }
  };
  const finish = async (ref: RecoveryPointImageRef, detached: boolean): Promise<void> => {
    const { volumeId, imageId } = ref;
    // An image kept is an attempt that did not finish, as a failure is.
    const failures = stillLocked.length + failed.length + kept.length;
    // Finished enough, or attempted as many as may finish plus as many as may fail.
    if (done.size - failures >= limits.finished || done.size >= limits.finished + limits.failures) {
      left += 1;
      return;
    }
    done.add(`${volumeId}/${imageId}`);
    try {
      // deleteImage reads the record first and refuses a live one that must be kept now (a legal
      // hold set, or an Object Lock retention extended, since the crash) before it changes anything:
      // the record is never marked deleting ahead of that check.
      const outcome = await deleteImage(deps, volumeId, imageId, { pruneCatalog: false });
      if (outcome.status === 'absent') {
        // No record: the deletion stopped after its last step but one.
        if (detached) await deps.recoveryPoints?.clearDetached(ref);
        return;
      }
      volumes.add(volumeId);
      finished += 1;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (error instanceof ImageDeletionRefusedError) {
        await abandon(ref, detached, reason);
        return;
      }
      (error instanceof ImageStillLockedError ? stillLocked : failed).push({ volumeId, imageId, reason });
    }
  };
  // The deletion of an image that must be kept is given up: its detached mark goes, so no run finds
  // it again. A mark that cannot be forgotten now is a failure, and the next run repeats the check.
  const abandon = async (ref: RecoveryPointImageRef, detached: boolean, refusal: string): Promise<void> => {
    const { volumeId, imageId } = ref;
    try {
      if (detached) await deps.recoveryPoints?.clearDetached(ref);
      kept.push({ volumeId, imageId, reason: abandonedDeletionReason(refusal) });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      failed.push({
        volumeId,
        imageId,
        reason: `${refusal}; its detached mark could not be forgotten: ${reason}`,
      });
    }
  };
  const detachedMarks = await step('list detached marks', [], async () => [
    ...((await deps.recoveryPoints?.listDetached()) ?? []),
  ]);
  const marks = detachedMarks.sort((a, b) => compareRefs(a, b));
  const seen = new Set<string>();
  for (const detached of marks) {
    if (within !== undefined && !within.volumes.has(detached.volumeId)) continue;
    seen.add(imageRefKey(detached));
    await finish(detached, true);
  }
  const records = await step(
    'list deleting records',
    [],
    async () => within?.images ?? (await deps.records.listImages()),
  );
  for (const image of records) {
    if (image.status !== 'deleting' || seen.has(imageRefKey(image))) continue;
    await finish(image, false);
  }
  await step('prune catalogs', [], () => pruneCatalogs(deps, volumes));
  return { finished, stillLocked, failed, kept, done, left };
}

function compareRefs(a: RecoveryPointImageRef, b: RecoveryPointImageRef): number {
  const x = imageRefKey(a);
  const y = imageRefKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The retention group of an image: its server and source (`srv-1#replica`), else the server its
 * recovery point is filed under (an untagged volume backed up as part of a configured server),
 * else its volume.
 */
export function retentionGroupOf(image: LifecycleImage, pointServerId?: string): string {
  const server =
    image.serverId ??
    (pointServerId === undefined || pointServerId === image.volumeId ? undefined : pointServerId);
  return server === undefined ? `volume ${image.volumeId}` : `${server}#${image.source ?? 'replica'}`;
}

/**
 * What the index backfill may spend in one expiry after a plan run (the only caller: API requests
 * never scan): 20 pages, and at most 300 store requests (a page is a Scan, a BatchGetItem of its
 * points and BatchWriteItems of 25 index items), so the expiry's extra time stays a few seconds;
 * the pass resumes where it stopped at the next expiry.
 */
export const INDEX_BACKFILL_BUDGET: IndexBackfillBudget = { pages: 20, requests: 300 };
/** No backfill, only where it stands (one read): what retention inside an API request spends. */
const INDEX_BACKFILL_STATUS_ONLY: IndexBackfillBudget = { pages: 0, requests: 0 };

export type ExpiryScope =
  | { readonly server: string }
  /** `records`: the volume's records when the caller has just read them (listVolume), read again otherwise. */
  | { readonly volume: string; readonly records?: readonly LifecycleImage[] }
  /** The images a plan made: the caller selects them (plans know their servers). */
  | { readonly images: readonly LifecycleImage[] };

export interface ScopedExpiryResult {
  readonly groups: readonly { readonly group: string; readonly result: ExpiryResult }[];
  /** The volumes whose catalog was pruned after the deletions. */
  readonly catalog?: readonly CatalogPruneResult[];
  /** Deletions an earlier run left unfinished that failed again (other than a locked manifest); present when any. */
  readonly pendingFailures?: readonly PendingDeletionFailure[];
  /**
   * Deletions an earlier run left unfinished that were abandoned because the image must be kept now
   * (legal hold, Object Lock; abandonedDeletionReason); present when any. Those images are live and
   * take part in this expiry like any other.
   */
  readonly pendingKept?: readonly PendingDeletionFailure[];
  /**
   * Images outside the requested scope that joined it with their recovery point (a point is kept
   * or deleted whole): imageRefKey → the point's id. Present when any.
   */
  readonly withRecoveryPoint?: ReadonlyMap<string, string>;
}

/**
 * `rbp retention apply`: the live images of a server (every source), a volume, or a plan, each
 * retention group on its own, then the deletions (none in a dry run). Pending deletions from an
 * earlier crash are finished first.
 */
export async function expireScope(
  deps: ImageDeletionDeps,
  scope: ExpiryScope,
  rules: RetentionRules,
  context: Omit<RetentionContext, 'now'>,
  dryRun: boolean,
): Promise<ScopedExpiryResult> {
  // A volume or server scope reads its own volumes' records only (and later those of its points'
  // other volumes), never the fleet's: POST /retention/apply answers within the API's timeout.
  let all =
    'images' in scope
      ? scope.images
      : 'volume' in scope
        ? (scope.records ?? (await deps.records.listVolume(scope.volume)))
        : await deps.records.listServer(scope.server);
  const readVolumes = new Set(['volume' in scope ? [scope.volume] : [], all.map((i) => i.volumeId)].flat());
  let pendingFailures: readonly PendingDeletionFailure[] = [];
  let pendingKept: readonly PendingDeletionFailure[] = [];
  if (!dryRun) {
    const pending = await finishPending(
      deps,
      'images' in scope ? undefined : { volumes: readVolumes, images: all },
    );
    pendingFailures = pending.failed;
    pendingKept = pending.kept;
    // An image whose deletion was abandoned is live: the rules see it (and keep or refuse it).
    const kept = new Set(pending.kept.map(imageRefKey));
    all = all.filter((image) => !pending.done.has(imageRefKey(image)) || kept.has(imageRefKey(image)));
  }
  // The backfill itself runs in the expiry after a plan run (expireAfterPlanRun), never here: this
  // also serves POST /retention/apply, which must answer within the API's timeout.
  const indexed = (await deps.recoveryPoints?.backfillImageIndex(INDEX_BACKFILL_STATUS_ONLY))?.done ?? true;
  const inScope = all.filter(
    (image) =>
      image.status === 'live' &&
      ('server' in scope
        ? image.serverId === scope.server
        : 'volume' in scope
          ? image.volumeId === scope.volume
          : true),
  );
  const points = await recoveryPointsOf(deps, inScope, indexed);
  // A server's points include those filed under it over volumes that do not carry its tag (a
  // configured server's untagged volumes): one Query of its points.
  if ('server' in scope && deps.recoveryPoints !== undefined) {
    for (const point of await deps.recoveryPoints.listByServer(scope.server)) {
      for (const ref of point.images) points.set(imageRefKey(ref), point);
    }
  }
  // A point goes whole or not at all: its other live images join the selection (an untagged
  // volume's images are out of a server scope, and a volume scope names one volume).
  const live = new Map(all.filter((i) => i.status === 'live').map((i) => [imageRefKey(i), i]));
  if (!('images' in scope)) {
    // The points' images on volumes the scope did not read (an untagged volume of a server's
    // point, the other volumes of a volume's point): one listVolume each.
    const others = new Set([...points.values()].flatMap((point) => point.images.map((ref) => ref.volumeId)));
    for (const volumeId of [...others].filter((v) => !readVolumes.has(v)).sort()) {
      for (const image of await deps.records.listVolume(volumeId)) {
        if (image.status === 'live') live.set(imageRefKey(image), image);
      }
    }
  }
  const chosen = new Map(inScope.map((i) => [imageRefKey(i), i]));
  const withRecoveryPoint = new Map<string, string>();
  for (const point of [...points.values()]) {
    for (const ref of point.images) {
      const mate = live.get(imageRefKey(ref));
      if (mate !== undefined && !chosen.has(imageRefKey(mate))) {
        chosen.set(imageRefKey(mate), mate);
        points.set(imageRefKey(mate), point);
        withRecoveryPoint.set(imageRefKey(mate), point.recoveryPointId);
      }
    }
  }
  const selected = [...chosen.values()].map((image) => {
    const recoveryPointId = image.recoveryPointId ?? points.get(imageRefKey(image))?.recoveryPointId;
    return recoveryPointId === undefined ? image : { ...image, recoveryPointId };
  });
  const groups = new Map<string, LifecycleImage[]>();
  // One group per point, whatever its volumes' tags say: the group of its first selected image.
  const groupOf = (image: LifecycleImage): string => {
    const point = points.get(imageRefKey(image));
    if (point === undefined) return retentionGroupOf(image);
    const first =
      point.images.map((ref) => chosen.get(imageRefKey(ref))).find((i) => i !== undefined) ?? image;
    return retentionGroupOf(first, point.serverId);
  };
  for (const image of selected) {
    const group = groupOf(image);
    const list = groups.get(group);
    if (list === undefined) groups.set(group, [image]);
    else list.push(image);
  }
  const out: { group: string; result: ExpiryResult }[] = [];
  for (const [group, images] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.push({ group, result: await expireImages(deps, images, rules, context, dryRun) });
  }
  // The scope's volumes, not only those with deletions now: an earlier run may have stopped before
  // pruning (its stale catalog records say so, and cost one Query per volume to find).
  const catalog = dryRun
    ? []
    : await pruneCatalogs(
        deps,
        selected.map((image) => image.volumeId),
      );
  return {
    groups: out,
    catalog,
    ...(pendingFailures.length === 0 ? {} : { pendingFailures }),
    ...(pendingKept.length === 0 ? {} : { pendingKept }),
    ...(withRecoveryPoint.size === 0 ? {} : { withRecoveryPoint }),
  };
}

/**
 * The servers an image's recovery point may be filed under: its volume's `rbp:source-server` tag
 * (a run filed under its volumes' server) and its volume id (a run of an untagged volume, or of a
 * volume tagged since).
 */
export function serversOfImage(image: Pick<LifecycleImage, 'serverId' | 'volumeId'>): string[] {
  return [...new Set([...(image.serverId === undefined ? [] : [image.serverId]), image.volumeId])];
}

/**
 * The recovery point of each image (by imageRefKey), found exactly through the store's image index
 * (one batched read per 100 images, whatever server a point is filed under). While the index
 * backfill has not finished (`indexed` false), an image the index does not know is also looked for
 * among its servers' points (serversOfImage: one Query per server), as before the index.
 */
async function recoveryPointsOf(
  deps: ImageDeletionDeps,
  images: readonly LifecycleImage[],
  indexed: boolean,
): Promise<Map<string, RecoveryPoint>> {
  const store = deps.recoveryPoints;
  const found = new Map<string, RecoveryPoint>();
  const wanted = images.filter((image) => image.recoveryPointId === undefined);
  if (store === undefined || wanted.length === 0) return found;
  for (const [key, point] of await store.pointsOfImages(wanted)) found.set(key, point);
  const missing = wanted.filter((image) => !found.has(imageRefKey(image)));
  if (indexed || missing.length === 0) return found;
  const keys = new Set(missing.map(imageRefKey));
  for (const server of [...new Set(missing.flatMap(serversOfImage))].sort()) {
    for (const point of await store.listByServer(server)) {
      for (const image of point.images) {
        if (keys.has(imageRefKey(image)) && !found.has(imageRefKey(image)))
          found.set(imageRefKey(image), point);
      }
    }
  }
  return found;
}

/**
 * The images with the recovery point each belongs to, so that retention keeps or deletes a
 * multi-volume server's point whole: image records do not name their point, the recovery points
 * name their images (recoveryPointsOf; the index backfill is expireScope's).
 */
export async function withRecoveryPointIds(
  deps: ImageDeletionDeps,
  images: readonly LifecycleImage[],
): Promise<LifecycleImage[]> {
  const points = await recoveryPointsOf(deps, images, false);
  return images.map((image) => {
    const recoveryPointId = image.recoveryPointId ?? points.get(imageRefKey(image))?.recoveryPointId;
    return recoveryPointId === undefined ? image : { ...image, recoveryPointId };
  });
}

export interface ExpiryResult {
  readonly decisions: readonly RetentionDecision[];
  readonly deleted: readonly string[];
  /** Images the rules would delete but that are refused (Object Lock) or still locked, with the reason. */
  readonly notDeleted: readonly { readonly image: string; readonly reason: string }[];
}

/**
 * Applies `rules` to one group of live images and deletes what they do not keep (nothing in a dry
 * run). An image under Object Lock is kept and reported, never forced.
 */
export async function expireImages(
  deps: ImageDeletionDeps,
  images: readonly LifecycleImage[],
  rules: RetentionRules,
  context: Omit<RetentionContext, 'now'>,
  dryRun: boolean,
): Promise<ExpiryResult> {
  const now = deps.clock.now();
  const live = images.filter((image) => image.status === 'live');
  const input: RetentionImage[] = live.map((image) => ({
    imageId: image.imageId,
    volumeId: image.volumeId,
    createdAt: image.createdAt,
    ...(image.recoveryPointId === undefined ? {} : { recoveryPointId: image.recoveryPointId }),
    ...(image.legalHold === undefined ? {} : { legalHold: image.legalHold }),
  }));
  const decisions = applyRetention(input, rules, { ...context, now });
  const deleted: string[] = [];
  const notDeleted: { image: string; reason: string }[] = [];
  // A recovery point goes whole or not at all: one locked image keeps the point's other images.
  const byRef = new Map(live.map((image) => [`${image.volumeId}/${image.imageId}`, image]));
  const blockedPoints = new Map<string, string>();
  for (const decision of decisions) {
    const refusal = deletionRefusal(
      byRef.get(`${decision.volumeId}/${decision.imageId}`)!,
      now,
      deps.objectLock,
    );
    if (decision.action === 'delete' && refusal !== undefined)
      blockedPoints.set(decision.recoveryPointId, refusal);
  }
  if (!dryRun) {
    for (const decision of decisions) {
      if (decision.action !== 'delete') continue;
      const ref = `${decision.volumeId}/${decision.imageId}`;
      const blocked = blockedPoints.get(decision.recoveryPointId);
      if (blocked !== undefined) {
        notDeleted.push({
          image: ref,
          reason: `recovery point ${decision.recoveryPointId} kept: ${blocked}`,
        });
        continue;
      }
      try {
        await deleteImage(deps, decision.volumeId, decision.imageId, { pruneCatalog: false });
        deleted.push(ref);
      } catch (error) {
        if (!(error instanceof ImageDeletionRefusedError || error instanceof ImageStillLockedError))
          throw error;
        notDeleted.push({ image: ref, reason: error.message });
      }
    }
  }
  return { decisions, deleted, notDeleted };
}
