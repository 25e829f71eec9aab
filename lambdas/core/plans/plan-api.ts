/**
 * What the plan routes of the REST API answer (docs/plans.md, docs/api.md), as zod schemas so the
 * router validates with them and the OpenAPI document is generated from them, and the functions
 * that turn stored records into these views.
 */
import { z } from 'zod';
import { planDocumentSchema } from './plan-document.ts';
import type { PlanRecord } from './plan-service.ts';
import { MAX_RPO_MINUTES, MIN_RPO_MINUTES, rpoTargetOf, serverRpo } from './rpo.ts';
import {
  RUN_STATUSES,
  STOP_REASONS,
  summariseRun,
  summariseTask,
  TASK_STATUSES,
  TASK_STEPS,
  type PlanRun,
} from './plan-run.ts';
import { REPLICATION_STATES } from './servers.ts';

export const planViewSchema = z.strictObject({
  name: z.string(),
  enabled: z.boolean(),
  revision: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  document: planDocumentSchema,
});
export type PlanView = z.infer<typeof planViewSchema>;

export function planViewOf(record: PlanRecord): PlanView {
  return {
    name: record.name,
    enabled: record.document.enabled,
    revision: record.revision,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    document: record.document,
  };
}

export const planTaskViewSchema = z.strictObject({
  server: z.string(),
  application: z.string().optional(),
  status: z.enum(TASK_STATUSES),
  reason: z.string().optional(),
  source: z.enum(['replica', 'primary']).optional(),
  backupId: z.string().optional(),
  imageIds: z.array(z.string()).optional(),
  /** Seconds between the task's recovery point and the server's point before it (the RPO it achieved). */
  rpoAchievedSeconds: z.number().int().min(0).optional(),
  /** Where a running task is in its sequence. */
  step: z.enum(TASK_STEPS),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
});

export const planRunViewSchema = z.strictObject({
  runId: z.string(),
  plan: z.string(),
  status: z.enum(RUN_STATUSES),
  reason: z.string().optional(),
  stoppedBy: z.enum(STOP_REASONS).optional(),
  trigger: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  tasks: z.array(planTaskViewSchema),
});
export type PlanRunView = z.infer<typeof planRunViewSchema>;

export function planRunViewOf(run: PlanRun): PlanRunView {
  return {
    runId: run.runId,
    plan: run.plan,
    status: run.status,
    ...(run.reason === undefined ? {} : { reason: run.reason }),
    ...(run.stoppedBy === undefined ? {} : { stoppedBy: run.stoppedBy }),
    trigger: run.trigger,
    startedAt: run.startedAt,
    ...(run.finishedAt === undefined ? {} : { finishedAt: run.finishedAt }),
    tasks: run.tasks.map((t) => ({
      ...summariseTask(t),
      ...(t.rpoAchievedSeconds === undefined ? {} : { rpoAchievedSeconds: t.rpoAchievedSeconds }),
      step: t.step,
      ...(t.startedAt === undefined ? {} : { startedAt: t.startedAt }),
      ...(t.finishedAt === undefined ? {} : { finishedAt: t.finishedAt }),
    })),
  };
}

/**
 * The run as `rbp plans run --json` prints it: exactly
 * `{runId, plan, status, reason?, tasks: [{server, application?, status, reason?, source?, backupId?, imageIds?}]}`.
 */
export function runJsonOf(view: PlanRunView): unknown {
  return summariseRun(view);
}

export const acceptedPlanRunSchema = z.strictObject({
  runId: z.string(),
  plan: z.string(),
  status: z.enum(RUN_STATUSES),
});

export const serverViewSchema = z.strictObject({
  name: z.string(),
  replication: z.enum(REPLICATION_STATES),
  lagSeconds: z.number().optional(),
  volumes: z.array(z.strictObject({ volumeId: z.string(), device: z.string().optional() })),
  applications: z.array(z.string()),
  hasPrimary: z.boolean(),
  /**
   * `REPLICA GONE`: EC2 has none of the server's replica volumes any more (deleted when DRS
   * disconnected it, or untagged); its backups remain. Absent: EC2 has its replica volumes.
   */
  state: z.enum(['REPLICA GONE']).optional(),
  /**
   * ISO-8601 time (`createdAt`) of the server's newest recovery point that has a live image;
   * absent when it has none.
   */
  lastRecoveryPoint: z.string().optional(),
  /** The id of that recovery point (`rp-<backupId>`). */
  lastRecoveryPointId: z.string().optional(),
  /** Plans with an activity that selects the server. */
  plans: z.array(z.string()),
  /**
   * The server's recovery point objective (docs/plans.md, "RPO"): the target (the smallest
   * `rpoMinutes` of the plans that select it, disabled plans included), the RPO achieved (seconds
   * since its newest live recovery point) and whether the target is breached. Present when the
   * deployment has recovery points.
   */
  rpo: z
    .strictObject({
      targetMinutes: z.number().int().min(MIN_RPO_MINUTES).max(MAX_RPO_MINUTES).optional(),
      achievedSeconds: z.number().int().min(0).optional(),
      breached: z.boolean(),
    })
    .optional(),
});
export type ServerListItem = z.infer<typeof serverViewSchema>;

/** The newest live recovery point of a server, as the server listing shows it. */
export interface LastRecoveryPoint {
  readonly recoveryPointId: string;
  readonly createdAt: string;
}

/**
 * The listed servers with their newest live recovery point (`lastRecoveryPoint`, its time, and
 * `lastRecoveryPointId`), from `newest` by server name; a server without one is left as it is.
 */
export function withLastRecoveryPoints(
  servers: readonly ServerListItem[],
  newest: ReadonlyMap<string, LastRecoveryPoint>,
): ServerListItem[] {
  return servers.map((server) => {
    const point = newest.get(server.name);
    if (point === undefined) return server;
    const { plans, ...rest } = server;
    return { ...rest, lastRecoveryPoint: point.createdAt, lastRecoveryPointId: point.recoveryPointId, plans };
  });
}

/**
 * The listed servers with their RPO (`rpo`), from the plans that select each (`plans`, by name)
 * and the newest live recovery point already on the item (`lastRecoveryPoint`, withLastRecoveryPoints).
 */
export function withServerRpo(
  servers: readonly ServerListItem[],
  plans: readonly PlanRecord[],
  now: Date,
): ServerListItem[] {
  const byName = new Map(plans.map((p) => [p.name, p]));
  return servers.map((server) => ({
    ...server,
    rpo: serverRpo(rpoTargetOf(server.plans, byName), server.lastRecoveryPoint, now),
  }));
}
