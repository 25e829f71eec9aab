/**
 * The API's lifecycle operations over the lifecycle core (lambdas/core/lifecycle): retention
 * applied to a scope (`POST /retention/apply`) and the deletion of one image
 * (`DELETE /images/{imageId}`). Deletion follows the protocol of image-deletion.ts: the record is
 * marked deleting (listings and restores stop seeing it), then the manifest goes, then the record.
 */
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { costReport, gatherCostInput, type CostReport, type StorageClass } from '../lifecycle/cost.ts';
import { deleteImage, type ImageDeletionDeps } from '../lifecycle/image-deletion.ts';
import type { LifecycleImage, LifecycleImageRecords, LifecycleObjectStore } from '../lifecycle/ports.ts';
import {
  getExpiryRun,
  getGcRun,
  getScrubRun,
  getRestoreTestRun,
  startGcRun,
  startRestoreTestRun,
  startScrubRun,
  type ExpiryRun,
  type GcRun,
  type LifecycleStartDeps,
  type RestoreTestRun,
  type ScrubRun,
  type StartRestoreTest,
} from '../lifecycle/lifecycle-jobs.ts';
import {
  applyRetentionRequest,
  type ApplyRetentionRequest,
  type PlanRetentionSource,
  type RetentionResult,
  type RetentionRuleStore,
  type StoredRetention,
} from '../lifecycle/retention-apply.ts';
import type { CatalogPruningStore } from '../lifecycle/catalog-pruning.ts';
import type { RetentionRules } from '../lifecycle/retention.ts';

/** The image bucket's class until the configuration names one: S3 Standard. */
export const DEFAULT_STORAGE_CLASS: StorageClass = 'STANDARD';
export {
  applyRetentionBody,
  DEFAULT_RETENTION_TIME_ZONE,
  retentionImageResultSchema,
  retentionResultSchema,
  retentionScopeSchema,
  storedRetentionSchema,
  type ApplyRetentionRequest,
  type PlanRetentionSource,
  type RetentionResult,
  type StoredRetention,
} from '../lifecycle/retention-apply.ts';

export const deletedImageSchema = z
  .object({
    imageId: z.string(),
    volumeId: z.string(),
    status: z.enum(['deleted', 'absent']),
  })
  .strict();

export type DeletedImage = z.output<typeof deletedImageSchema>;

/** The longest reason a legal hold may carry (a case or ticket reference, a sentence). */
export const LEGAL_HOLD_REASON_MAX_CHARS = 256;

export const legalHoldBody = z
  .object({
    legalHold: z
      .boolean()
      .describe('true: hold the image (never deleted until lifted); false: lift the hold'),
    reason: z
      .string()
      .min(1)
      .max(LEGAL_HOLD_REASON_MAX_CHARS)
      .optional()
      .describe('Why the image is held (a case or ticket reference); only with legalHold: true'),
  })
  .strict()
  .refine((body) => body.legalHold || body.reason === undefined, {
    message: 'a reason is given only with legalHold: true',
    path: ['reason'],
  });

export const legalHoldSchema = z
  .object({
    imageId: z.string(),
    volumeId: z.string(),
    legalHold: z.boolean(),
    reason: z.string().optional(),
    changedAt: z.string().describe('When the hold was set or lifted (ISO-8601 UTC)'),
    changedBy: z.string().describe("The caller's IAM ARN"),
  })
  .strict();

export type LegalHold = z.output<typeof legalHoldSchema>;

/** A legal hold asked for on an image whose deletion has begun: the deletion goes on. */
export class ImageBeingDeletedError extends ConflictError {}

export interface LifecycleApiDeps {
  readonly objects: LifecycleObjectStore;
  readonly records: LifecycleImageRecords;
  readonly clock: Clock;
  /** The file catalog, pruned after deletions (absent: catalog items of deleted images stay). */
  readonly catalog?: CatalogPruningStore;
  readonly plans?: PlanRetentionSource;
  /** Stored default rules per server; absent: only rules given with the request (or a plan's). */
  readonly storedRules?: RetentionRuleStore;
  /** The image bucket's storage class, for the cost report's prices (default STANDARD). */
  readonly storageClass?: StorageClass;
  /** Garbage collection and scrub runs (lifecycle-jobs.ts); absent where the job Lambda is not deployed. */
  readonly runs?: LifecycleStartDeps;
  /** Recovery points, which a deleted image leaves first (image-deletion.ts); absent: not touched. */
  readonly recoveryPoints?: ImageDeletionDeps['recoveryPoints'];
}

export interface LifecycleApi {
  applyRetention(request: ApplyRetentionRequest): Promise<RetentionResult>;
  deleteImage(imageId: string): Promise<DeletedImage>;
  /**
   * Sets or lifts an image's legal hold (idempotent). NotFoundError for an unknown or deleted
   * image, ImageBeingDeletedError when its deletion has begun.
   */
  setLegalHold(imageId: string, hold: z.output<typeof legalHoldBody>, changedBy: string): Promise<LegalHold>;
  /** A server's stored default rules; NotFoundError when it has none. */
  getServerRetention(serverId: string): Promise<StoredRetention>;
  /** Stores (replaces) a server's default rules. */
  putServerRetention(serverId: string, rules: RetentionRules): Promise<StoredRetention>;
  startGc(request: { readonly dryRun: boolean }): Promise<GcRun>;
  getGc(runId: string): Promise<GcRun>;
  startScrub(request: { readonly all: boolean }): Promise<ScrubRun>;
  getScrub(runId: string): Promise<ScrubRun>;
  startRestoreTest(request: StartRestoreTest): Promise<RestoreTestRun>;
  getRestoreTest(runId: string): Promise<RestoreTestRun>;
  /** The expiry that followed a plan run (`expire-<planRunId>`). */
  getExpiry(runId: string): Promise<ExpiryRun>;
  /** Per server and in total; with `server`, that server's line only (and the total). */
  costReport(server?: string): Promise<CostReport>;
}

export class LifecycleService implements LifecycleApi {
  constructor(private readonly deps: LifecycleApiDeps) {}

  applyRetention(request: ApplyRetentionRequest): Promise<RetentionResult> {
    return applyRetentionRequest(this.deps, request);
  }

  async getServerRetention(serverId: string): Promise<StoredRetention> {
    const stored = await this.ruleStore().get(serverId);
    if (stored === undefined) {
      throw new NotFoundError(`server ${serverId} has no stored retention rules`, { context: { serverId } });
    }
    return stored;
  }

  async putServerRetention(serverId: string, rules: RetentionRules): Promise<StoredRetention> {
    const stored: StoredRetention = { serverId, rules, updatedAt: this.deps.clock.now().toISOString() };
    await this.ruleStore().put(stored);
    return stored;
  }

  async deleteImage(imageId: string): Promise<DeletedImage> {
    const image = await this.imageById(imageId);
    // A record already marked deleting is finished, not refused: the deletion was decided earlier.
    const outcome = await deleteImage(this.deps, image.volumeId, image.imageId);
    return { imageId, volumeId: image.volumeId, status: outcome.status };
  }

  async setLegalHold(
    imageId: string,
    hold: z.output<typeof legalHoldBody>,
    changedBy: string,
  ): Promise<LegalHold> {
    const { volumeId } = await this.imageById(imageId);
    const reason = hold.legalHold ? hold.reason : undefined;
    const change = {
      legalHold: hold.legalHold,
      ...(reason === undefined ? {} : { reason }),
      changedAt: this.deps.clock.now().toISOString(),
      changedBy,
    };
    // The write is conditional on the record being live (one atomic check in the store), so a
    // deletion that began after the listing above is seen here, never held over.
    const written = await this.deps.records.setLegalHold(volumeId, imageId, change);
    if (written === 'missing') throw imageNotFound(imageId);
    if (written === 'deleting') {
      throw new ImageBeingDeletedError(
        `image ${imageId} of ${volumeId} is being deleted; a legal hold cannot be ${hold.legalHold ? 'set' : 'lifted'}`,
        { context: { imageId, volumeId } },
      );
    }
    return { imageId, volumeId, ...change };
  }

  /** The record of `imageId`, live or being deleted, in whichever volume; NotFoundError when none. */
  private async imageById(imageId: string): Promise<LifecycleImage> {
    const image = (await this.deps.records.listImages()).find((candidate) => candidate.imageId === imageId);
    if (image === undefined) throw imageNotFound(imageId);
    return image;
  }

  startGc(request: { readonly dryRun: boolean }): Promise<GcRun> {
    return startGcRun(this.runDeps(), request);
  }

  getGc(runId: string): Promise<GcRun> {
    return getGcRun(this.runDeps(), runId);
  }

  startScrub(request: { readonly all: boolean }): Promise<ScrubRun> {
    return startScrubRun(this.runDeps(), request);
  }

  getScrub(runId: string): Promise<ScrubRun> {
    return getScrubRun(this.runDeps(), runId);
  }

  startRestoreTest(request: StartRestoreTest): Promise<RestoreTestRun> {
    return startRestoreTestRun(this.runDeps(), request);
  }

  getRestoreTest(runId: string): Promise<RestoreTestRun> {
    return getRestoreTestRun(this.runDeps(), runId);
  }

  getExpiry(runId: string): Promise<ExpiryRun> {
    return getExpiryRun(this.runDeps(), runId);
  }

  async costReport(server?: string): Promise<CostReport> {
    const report = costReport(
      await gatherCostInput(
        this.deps,
        this.deps.storageClass ?? DEFAULT_STORAGE_CLASS,
        this.deps.clock.now(),
      ),
    );
    if (server === undefined) return report;
    const servers = report.servers.filter((line) => line.scope === server);
    if (servers.length === 0) {
      throw new NotFoundError(`server ${server} has no live images`, { context: { server } });
    }
    return { ...report, servers };
  }

  private runDeps(): LifecycleStartDeps {
    if (this.deps.runs === undefined) {
      throw new ValidationError(
        'garbage collection and scrub runs are not deployed in this installation',
        {},
      );
    }
    return this.deps.runs;
  }

  private ruleStore(): RetentionRuleStore {
    if (this.deps.storedRules === undefined) {
      throw new ValidationError('stored retention rules are not configured in this deployment', {});
    }
    return this.deps.storedRules;
  }
}

function imageNotFound(imageId: string): NotFoundError {
  return new NotFoundError(`image ${imageId} does not exist`, { context: { imageId } });
}
