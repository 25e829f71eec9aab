/**
 * The API's lifecycle operations over the lifecycle core (lambdas/core/lifecycle): retention
 * applied to a scope (`POST /retention/apply`) and the deletion of one image
 * (`DELETE /images/{imageId}`). Deletion follows the protocol of image-deletion.ts: the record is
 * marked deleting (listings and restores stop seeing it), then the manifest goes, then the record.
 */
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { costReport, gatherCostInput, type CostReport, type StorageClass } from '../lifecycle/cost.ts';
import { deleteImage, type ImageDeletionDeps } from '../lifecycle/image-deletion.ts';
import type { LifecycleImageRecords, LifecycleObjectStore } from '../lifecycle/ports.ts';
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
    const image = (await this.deps.records.listImages()).find((candidate) => candidate.imageId === imageId);
    if (image === undefined) {
      throw new NotFoundError(`image ${imageId} does not exist`, { context: { imageId } });
    }
    // A record already marked deleting is finished, not refused: the deletion was decided earlier.
    const outcome = await deleteImage(this.deps, image.volumeId, image.imageId);
    return { imageId, volumeId: image.volumeId, status: outcome.status };
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
