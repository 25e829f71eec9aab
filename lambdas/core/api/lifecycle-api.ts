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
import {
  deleteImage,
  expireScope,
  type ExpiryScope,
  type ImageDeletionDeps,
} from '../lifecycle/image-deletion.ts';
import type { LifecycleImage, LifecycleImageRecords, LifecycleObjectStore } from '../lifecycle/ports.ts';
import {
  getGcRun,
  getScrubRun,
  startGcRun,
  startScrubRun,
  type GcRun,
  type LifecycleStartDeps,
  type ScrubRun,
} from '../lifecycle/lifecycle-jobs.ts';
import { retentionRulesSchema, type RetentionRules } from '../lifecycle/retention.ts';

/** The image bucket's class until the configuration names one: S3 Standard. */
export const DEFAULT_STORAGE_CLASS: StorageClass = 'STANDARD';
/** Buckets are counted in UTC until servers carry their own time zone. */
export const DEFAULT_RETENTION_TIME_ZONE = 'UTC';

const scopeId = z.string().min(1).max(256);

export const retentionScopeSchema = z.union([
  z.object({ server: scopeId }).strict(),
  z.object({ volume: scopeId }).strict(),
  z.object({ plan: scopeId }).strict(),
]);

export const applyRetentionBody = z
  .object({
    scope: retentionScopeSchema,
    /** Absent: the plan's stored rules (plan scope only). */
    rules: retentionRulesSchema.optional(),
    dryRun: z.boolean().default(false),
  })
  .strict();

export type ApplyRetentionRequest = z.output<typeof applyRetentionBody>;

export const retentionImageResultSchema = z
  .object({
    volumeId: z.string(),
    imageId: z.string(),
    createdAt: z.string(),
    group: z.string(),
    action: z.enum(['keep', 'delete']),
    /** Why it is kept ("last 2", "daily 2026-11-30", "legal hold", "minimum age"); empty when deleted. */
    reasons: z.array(z.string()),
    /** What happened to an image the rules delete: deleted, kept by a lock (with why), or only planned (dry run). */
    outcome: z.enum(['kept', 'deleted', 'not-deleted', 'would-delete']),
    notDeletedReason: z.string().optional(),
  })
  .strict();

export const retentionResultSchema = z
  .object({
    dryRun: z.boolean(),
    kept: z.number().int(),
    deleted: z.number().int(),
    images: z.array(retentionImageResultSchema),
  })
  .strict();

export type RetentionResult = z.output<typeof retentionResultSchema>;

export const deletedImageSchema = z
  .object({
    imageId: z.string(),
    volumeId: z.string(),
    status: z.enum(['deleted', 'absent']),
  })
  .strict();

export type DeletedImage = z.output<typeof deletedImageSchema>;

/** A plan's servers and stored rules, when plans are wired into the API. */
export type PlanRetentionSource = (
  planId: string,
) => Promise<{ readonly servers: readonly string[]; readonly rules?: RetentionRules }>;

export interface LifecycleApiDeps {
  readonly objects: LifecycleObjectStore;
  readonly records: LifecycleImageRecords;
  readonly clock: Clock;
  readonly plans?: PlanRetentionSource;
  /** The image bucket's storage class, for the cost report's prices (default STANDARD). */
  readonly storageClass?: StorageClass;
  /** Garbage collection and scrub runs (lifecycle-jobs.ts); absent where the job Lambda is not deployed. */
  readonly runs?: LifecycleStartDeps;
}

export interface LifecycleApi {
  applyRetention(request: ApplyRetentionRequest): Promise<RetentionResult>;
  deleteImage(imageId: string): Promise<DeletedImage>;
  startGc(request: { readonly dryRun: boolean }): Promise<GcRun>;
  getGc(runId: string): Promise<GcRun>;
  startScrub(request: { readonly all: boolean }): Promise<ScrubRun>;
  getScrub(runId: string): Promise<ScrubRun>;
  /** Per server and in total; with `server`, that server's line only (and the total). */
  costReport(server?: string): Promise<CostReport>;
}

export class LifecycleService implements LifecycleApi {
  constructor(private readonly deps: LifecycleApiDeps) {}

  async applyRetention(request: ApplyRetentionRequest): Promise<RetentionResult> {
    const { scope, rules } = await this.resolve(request);
    const deletion: ImageDeletionDeps = this.deps;
    const result = await expireScope(
      deletion,
      scope,
      rules,
      { timeZone: DEFAULT_RETENTION_TIME_ZONE },
      request.dryRun,
    );
    const images: RetentionResult['images'] = [];
    for (const { group, result: expiry } of result.groups) {
      const deleted = new Set(expiry.deleted);
      const notDeleted = new Map(expiry.notDeleted.map((n) => [n.image, n.reason]));
      for (const decision of expiry.decisions) {
        const ref = `${decision.volumeId}/${decision.imageId}`;
        const reason = notDeleted.get(ref);
        images.push({
          volumeId: decision.volumeId,
          imageId: decision.imageId,
          createdAt: decision.createdAt,
          group,
          action: decision.action,
          reasons: [...decision.reasons],
          outcome:
            decision.action === 'keep'
              ? 'kept'
              : request.dryRun
                ? 'would-delete'
                : deleted.has(ref)
                  ? 'deleted'
                  : 'not-deleted',
          ...(reason === undefined ? {} : { notDeletedReason: reason }),
        });
      }
    }
    return {
      dryRun: request.dryRun,
      kept: images.filter((i) => i.outcome !== 'deleted' && i.outcome !== 'would-delete').length,
      deleted: images.filter((i) => i.outcome === 'deleted' || i.outcome === 'would-delete').length,
      images,
    };
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

  private async resolve(
    request: ApplyRetentionRequest,
  ): Promise<{ scope: ExpiryScope; rules: RetentionRules }> {
    const { scope } = request;
    if ('plan' in scope) {
      if (this.deps.plans === undefined) {
        throw new ValidationError(
          `retention by plan is not available yet (plans are not wired into this API); apply it with a server or volume scope`,
          { context: { plan: scope.plan } },
        );
      }
      const plan = await this.deps.plans(scope.plan);
      const rules = request.rules ?? plan.rules;
      if (rules === undefined) throw noRules(`plan ${scope.plan} has no retention rules`);
      const servers = new Set(plan.servers);
      const images: LifecycleImage[] = (await this.deps.records.listImages()).filter(
        (image) => image.serverId !== undefined && servers.has(image.serverId),
      );
      return { scope: { images }, rules };
    }
    if (request.rules === undefined) {
      throw noRules('no retention rules given (stored per-server rules are not wired yet)');
    }
    return {
      scope: 'server' in scope ? { server: scope.server } : { volume: scope.volume },
      rules: request.rules,
    };
  }
}

function noRules(message: string): ValidationError {
  return new ValidationError(`${message}; give at least one keep rule`, {});
}
