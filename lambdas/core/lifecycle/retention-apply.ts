/**
 * Retention applied to a scope: the rules a request names (a server, a volume or a plan; the
 * request's own rules, else the stored ones), then expiry (image-deletion.ts). Used by the API
 * (`POST /retention/apply`) and by the expiry that follows every plan run (lifecycle-jobs.ts,
 * started by the plan run's `Plan Run Finished` event).
 *
 * Where rules come from (docs/lifecycle.md, "Stored rules"):
 * - `--server S` / `--volume V`: the request's rules, else the server's stored default
 *   (`PUT /servers/{serverId}/retention`); neither is a 400 naming the server;
 * - `--plan P`: the request's rules, else the plan's `retention`; neither is a 400 naming the plan;
 * - after a plan run: the plan's rules, else each server's stored default; a server with neither
 *   is left alone and reported. Only the points the plan's own tasks made (trigger
 *   `plan:<plan>` on the recovery point) are the expiry's: manual, API and other plans' backups,
 *   and points written before points recorded their trigger, are left alone (as AWS Backup takes
 *   a recovery point's lifecycle from the rule that created it, and leaves on-demand backups to
 *   their own: https://docs.aws.amazon.com/aws-backup/latest/devguide/creating-a-backup-plan.html).
 * Rules apply per server and source (replica/primary) and to whole recovery points (retention.ts).
 */
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import { activitySelects } from '../plans/expansion.ts';
import type { ServerDirectory } from '../plans/plan-ports.ts';
import type { PlanStore } from '../plans/plan-service.ts';
import {
  expireScope,
  INDEX_BACKFILL_BUDGET,
  type ExpiryScope,
  type ImageDeletionDeps,
  type ScopedExpiryResult,
} from './image-deletion.ts';
import type { LifecycleImage } from './ports.ts';
import { planTrigger } from '../orchestration/backup-request.ts';
import { imageRefKey } from '../recovery-points/recovery-points.ts';
import { retentionRulesSchema, type RetentionRules } from './retention.ts';

/** Buckets are counted in UTC when neither the rules nor the server's stored rules name a time zone. */
export const DEFAULT_RETENTION_TIME_ZONE = 'UTC';

/**
 * The time zone of a server's buckets: the applied rules' own, else the server's stored rules'
 * (a plan's rules without a zone still follow each server's calendar), else UTC.
 */
function zoneOf(rules: RetentionRules, stored: RetentionRules | undefined): { timeZone: string } {
  return { timeZone: rules.timeZone ?? stored?.timeZone ?? DEFAULT_RETENTION_TIME_ZONE };
}

/** Server ids are the replication side's source-server ids (`rbp:source-server`). */
export const retentionServerIdSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._:@+=-]+$/, 'a server id: letters, digits and . _ : @ + = -');

const scopeId = z.string().min(1).max(256);

export const retentionScopeSchema = z.union([
  z.object({ server: scopeId }).strict(),
  z.object({ volume: scopeId }).strict(),
  z.object({ plan: scopeId }).strict(),
]);

export const applyRetentionBody = z
  .object({
    scope: retentionScopeSchema,
    /** Absent: the plan's rules (plan scope) or the server's stored default (server, volume). */
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
    /**
     * Present on an image outside the requested scope that joined it with its recovery point (a
     * point is kept or deleted whole): "deleted with its recovery point <id>" or "kept with its
     * recovery point <id>".
     */
    withRecoveryPoint: z.string().optional(),
  })
  .strict();

/** A deletion an earlier run left unfinished (a crash) that failed again now, other than a still-locked manifest. */
export const pendingFailureSchema = z
  .object({ volumeId: z.string(), imageId: z.string(), reason: z.string() })
  .strict();

export const retentionResultSchema = z
  .object({
    dryRun: z.boolean(),
    kept: z.number().int(),
    deleted: z.number().int(),
    images: z.array(retentionImageResultSchema),
    /** Present when any: images whose unfinished deletion failed again; the next expiry retries them. */
    pendingFailures: z.array(pendingFailureSchema).optional(),
  })
  .strict();

export type RetentionResult = z.output<typeof retentionResultSchema>;

/** A server's stored default rules (`GET/PUT /servers/{serverId}/retention`). */
export const storedRetentionSchema = z
  .object({
    serverId: z.string(),
    rules: retentionRulesSchema,
    /** ISO-8601 UTC of the last change. */
    updatedAt: z.string(),
  })
  .strict();
export type StoredRetention = z.output<typeof storedRetentionSchema>;

/** The stored default rules per server. */
export interface RetentionRuleStore {
  /** Undefined when the server has none. */
  get(serverId: string): Promise<StoredRetention | undefined>;
  /** Replaces the server's rules. */
  put(stored: StoredRetention): Promise<void>;
}

/** A plan's servers (those its activities select now) and its stored rules. NotFoundError when absent. */
export type PlanRetentionSource = (
  planId: string,
) => Promise<{ readonly servers: readonly string[]; readonly rules?: RetentionRules }>;

export interface RetentionApplyDeps extends ImageDeletionDeps {
  readonly plans?: PlanRetentionSource;
  readonly storedRules?: RetentionRuleStore;
}

/** The hint every "no rules" answer ends with. */
const HOW_TO_GIVE_RULES =
  'give at least one keep rule (--keep-last, --keep-within, --keep-hourly … --keep-yearly) or store defaults with `rbp retention set --server S`';

function noRules(message: string, context: Record<string, string>): ValidationError {
  return new ValidationError(`${message}; ${HOW_TO_GIVE_RULES}`, { context });
}

/** The result rows of an expiry, newest first within each group. */
export function retentionResultOf(result: ScopedExpiryResult, dryRun: boolean): RetentionResult {
  const images: RetentionResult['images'] = [];
  for (const { group, result: expiry } of result.groups) {
    const deleted = new Set(expiry.deleted);
    const notDeleted = new Map(expiry.notDeleted.map((n) => [n.image, n.reason]));
    for (const decision of expiry.decisions) {
      const ref = `${decision.volumeId}/${decision.imageId}`;
      const reason = notDeleted.get(ref);
      const pointId = result.withRecoveryPoint?.get(imageRefKey(decision));
      const kept = decision.action === 'keep' || (!dryRun && !deleted.has(ref));
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
            : dryRun
              ? 'would-delete'
              : deleted.has(ref)
                ? 'deleted'
                : 'not-deleted',
        ...(reason === undefined ? {} : { notDeletedReason: reason }),
        ...(pointId === undefined
          ? {}
          : { withRecoveryPoint: `${kept ? 'kept' : 'deleted'} with its recovery point ${pointId}` }),
      });
    }
  }
  const pendingFailures = result.pendingFailures ?? [];
  return {
    dryRun,
    kept: images.filter((i) => i.outcome !== 'deleted' && i.outcome !== 'would-delete').length,
    deleted: images.filter((i) => i.outcome === 'deleted' || i.outcome === 'would-delete').length,
    images,
    ...(pendingFailures.length === 0 ? {} : { pendingFailures: pendingFailures.map((f) => ({ ...f })) }),
  };
}

/**
 * One result of a plan's per-server expiries. Each of them first retried every unfinished deletion
 * (not only its server's), so the last one's failures are those still failing.
 */
function merge(results: readonly ScopedExpiryResult[]): ScopedExpiryResult {
  const pendingFailures = results.at(-1)?.pendingFailures;
  const withRecoveryPoint = new Map(results.flatMap((r) => [...(r.withRecoveryPoint ?? [])]));
  return {
    groups: results.flatMap((r) => r.groups),
    ...(pendingFailures === undefined ? {} : { pendingFailures }),
    ...(withRecoveryPoint.size === 0 ? {} : { withRecoveryPoint }),
  };
}

async function storedRulesOf(
  deps: RetentionApplyDeps,
  serverId: string,
): Promise<RetentionRules | undefined> {
  return (await deps.storedRules?.get(serverId))?.rules;
}

/** `POST /retention/apply`: resolves the rules, applies them, deletes (unless a dry run). */
export async function applyRetentionRequest(
  deps: RetentionApplyDeps,
  request: ApplyRetentionRequest,
): Promise<RetentionResult> {
  const { scope } = request;
  if ('plan' in scope) {
    if (deps.plans === undefined) {
      throw new ValidationError(
        'retention by plan is not available: plans are not configured in this deployment; apply it with a server or volume scope',
        { context: { plan: scope.plan } },
      );
    }
    const plan = await deps.plans(scope.plan);
    const rules = request.rules ?? plan.rules;
    if (rules === undefined) {
      throw noRules(`plan ${scope.plan} has no retention rules and the request gives none`, {
        plan: scope.plan,
      });
    }
    const servers = [...new Set(plan.servers)].sort();
    const all = await deps.records.listImages();
    // Each server on its own calendar: the rules' zone, else its stored one.
    const results: ScopedExpiryResult[] = [];
    for (const serverId of servers) {
      const images: LifecycleImage[] = all.filter((image) => image.serverId === serverId);
      if (images.length === 0) continue;
      const zone = zoneOf(
        rules,
        rules.timeZone === undefined ? await storedRulesOf(deps, serverId) : undefined,
      );
      results.push(await expireScope(deps, { images }, rules, zone, request.dryRun));
    }
    return retentionResultOf(merge(results), request.dryRun);
  }
  let serverId: string | undefined;
  let expiryScope: ExpiryScope;
  if ('server' in scope) {
    serverId = scope.server;
    expiryScope = { server: scope.server };
  } else {
    expiryScope = { volume: scope.volume };
    if (request.rules === undefined) {
      // The volume's own records (one Query per page), not the fleet's; the expiry reuses them.
      const records = await deps.records.listVolume(scope.volume);
      expiryScope = { volume: scope.volume, records };
      serverId = records.find((i) => i.serverId !== undefined)?.serverId;
      if (serverId === undefined) {
        throw noRules(
          `no retention rules given, and volume ${scope.volume} has no images of a known server whose stored rules could apply`,
          { volume: scope.volume },
        );
      }
    }
  }
  const stored = serverId === undefined ? undefined : await storedRulesOf(deps, serverId);
  const rules = request.rules ?? stored;
  if (rules === undefined) {
    throw noRules(`no retention rules given and server ${serverId ?? '?'} has no stored retention rules`, {
      server: serverId ?? '',
    });
  }
  return retentionResultOf(
    await expireScope(deps, expiryScope, rules, zoneOf(rules, stored), request.dryRun),
    request.dryRun,
  );
}

/** What the expiry after a plan run did, per server (the expiry job's result). */
export const planExpiryResultSchema = z
  .object({
    plan: z.string(),
    planRunId: z.string().optional(),
    /** Where the rules came from: the plan, or each server's stored default. */
    servers: z.array(
      z
        .object({
          serverId: z.string(),
          rules: z.enum(['plan', 'server', 'none']),
          /** Images of the plan's own points the rules kept (other images are not counted). */
          kept: z.number().int(),
          deleted: z.number().int(),
          notDeleted: z.array(z.object({ image: z.string(), reason: z.string() }).strict()),
        })
        .strict(),
    ),
    deleted: z.array(z.string()),
    /**
     * Live images of the servers that are not the plan's (made by another plan, by hand, through
     * the API, or before points recorded their trigger), which the expiry left alone; absent when
     * none. `retention apply --server S` expires them.
     */
    leftAlone: z.number().int().optional(),
  })
  .strict();
export type PlanExpiryResult = z.output<typeof planExpiryResultSchema>;

/**
 * The images of `images` whose recovery point the plan's own tasks made (its trigger is
 * `plan:<plan>`), found through the store's image index. An image without a point (a run that
 * failed part-way, or a deployment without recovery points) or whose point has another trigger or
 * none is not the plan's.
 */
async function imagesOfPlan(
  deps: RetentionApplyDeps,
  images: readonly LifecycleImage[],
  plan: string,
): Promise<LifecycleImage[]> {
  if (deps.recoveryPoints === undefined || images.length === 0) return [];
  const points = await deps.recoveryPoints.pointsOfImages(images);
  const trigger = planTrigger(plan);
  return images.filter((image) => points.get(imageRefKey(image))?.trigger === trigger);
}

/**
 * The scheduled expiry after a plan run: every server of the run (or, without a list, every
 * server the plan selects), each with the plan's rules or else its stored default; a server with
 * neither is left as it is. Only the plan's own images are considered (imagesOfPlan): its rules
 * never delete what another plan, a person or an older release made.
 */
export async function expireAfterPlanRun(
  deps: RetentionApplyDeps,
  input: { readonly plan: string; readonly planRunId?: string; readonly servers?: readonly string[] },
): Promise<PlanExpiryResult> {
  if (deps.plans === undefined) {
    throw new ValidationError('expiry after plan runs needs the plan store, which is not configured', {
      context: { plan: input.plan },
    });
  }
  const plan = await deps.plans(input.plan);
  const servers = [...new Set(input.servers ?? plan.servers)].sort();
  // Points written before points indexed their images get their index items here, a bounded part
  // per expiry (only here: API requests never scan).
  await deps.recoveryPoints?.backfillImageIndex(INDEX_BACKFILL_BUDGET);
  const images = await deps.records.listImages();
  const out: PlanExpiryResult['servers'] = [];
  const deleted: string[] = [];
  let leftAlone = 0;
  for (const serverId of servers) {
    const stored =
      plan.rules === undefined || plan.rules.timeZone === undefined
        ? await storedRulesOf(deps, serverId)
        : undefined;
    const rules = plan.rules ?? stored;
    const source = plan.rules !== undefined ? 'plan' : stored !== undefined ? 'server' : 'none';
    if (rules === undefined) {
      out.push({ serverId, rules: 'none', kept: 0, deleted: 0, notDeleted: [] });
      continue;
    }
    const ofServer = images.filter((image) => image.serverId === serverId && image.status === 'live');
    const mine = await imagesOfPlan(deps, ofServer, input.plan);
    leftAlone += ofServer.length - mine.length;
    const result = merge([await expireScope(deps, { images: mine }, rules, zoneOf(rules, stored), false)]);
    const rows = retentionResultOf(result, false);
    const notDeleted = result.groups.flatMap((g) => g.result.notDeleted.map((n) => ({ ...n })));
    for (const group of result.groups) deleted.push(...group.result.deleted);
    out.push({ serverId, rules: source, kept: rows.kept, deleted: rows.deleted, notDeleted });
  }
  return {
    plan: input.plan,
    ...(input.planRunId === undefined ? {} : { planRunId: input.planRunId }),
    servers: out,
    deleted,
    ...(leftAlone === 0 ? {} : { leftAlone }),
  };
}

/**
 * A plan's retention source over the plan store and the server directory: the servers its
 * activities select now (by name, pattern or tags) and its `retention` rules.
 */
export function planRetentionSourceOf(
  plans: Pick<PlanStore, 'get'>,
  servers: Pick<ServerDirectory, 'list'>,
): PlanRetentionSource {
  return async (planId) => {
    const plan = await plans.get(planId);
    if (plan === undefined) {
      throw new NotFoundError(`plan ${planId} does not exist`, { context: { plan: planId } });
    }
    const selected = (await servers.list())
      .filter((server) => plan.document.activities.some((activity) => activitySelects(activity, server)))
      .map((server) => server.name);
    return {
      servers: selected,
      ...(plan.document.retention === undefined ? {} : { rules: plan.document.retention }),
    };
  };
}
