/**
 * The backup state machine's state, defined once. Each step's input and output is one zod schema
 * here (or, for the engine's range item, in core/backup/range-worker.ts), and the TypeScript types
 * are inferred from the schemas. The handlers parse their event with the input schema; the core
 * step functions return the output type; statemachines/backup.asl.json moves these fields between
 * steps, and test/statemachines/asl-paths.test.ts checks that every path the ASL reads or writes
 * exists in these schemas (`backupRunStateSchema` is the execution's state between steps).
 */
import { z } from 'zod';
import { rangeWorkItemSchema } from '../backup/range-worker.ts';
import { backupContextSchema, executionRefSchema } from './backup-request.ts';
import { recoveryPointImageSchema } from '../recovery-points/recovery-points.ts';

const isoTime = z.iso.datetime();

/** `$.backup`: the normalised request, as every step after Acquire Lock receives it. */
export const backupSchema = backupContextSchema;

/** `$.round`: the snapshot round (1, then +1 after a failed round). */
export const roundSchema = z.number().int().min(1);

/** `$.checkpoint`: the checkpoint this round asked for and until when the replica may take. */
export const checkpointSchema = z.object({
  checkpointId: z.string().min(1),
  /** ISO-8601 UTC: when the checkpoint was requested. */
  requestedAt: isoTime,
  /** ISO-8601 UTC: after this instant a replica that is not in sync fails the run. */
  deadline: isoTime,
});
export type CheckpointWindow = z.infer<typeof checkpointSchema>;

export const snapshotRefSchema = z.object({
  volumeId: z.string().min(1),
  snapshotId: z.string().regex(/^snap-[0-9a-z]+$/),
});
export type SnapshotRef = z.infer<typeof snapshotRefSchema>;

/** `$.snapshots`: this round's snapshots and the deadline for them to complete. */
export const snapshotSetSchema = z.object({
  items: z.array(snapshotRefSchema).min(1),
  deadline: isoTime,
});
export type SnapshotSet = z.infer<typeof snapshotSetSchema>;

/** A Step Functions Catch's `{Error, Cause}` (`$.error`). */
export const caughtErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() });

// ---- Acquire Lock / Renew Lock / Release Lock (backup-lock) ----

export const backupLockInputSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('acquire'), request: z.unknown(), execution: executionRefSchema }),
  z.object({ action: z.literal('renew'), backup: backupSchema }),
  z.object({ action: z.literal('release'), backup: backupSchema }),
  z.object({
    action: z.literal('await-redrive'),
    backup: backupSchema,
    /** `$$.State.EnteredTime` of "Await Redrive": new on every redrive, the same for a Lambda retry. */
    enteredAt: z.string().min(1),
    /** The state a redrive resumes at (`$.resume.state`). */
    resumeAt: z.string().min(1),
    /** The failure's cause (`$.failure.cause`), repeated in the suspended execution's error. */
    cause: z.string(),
  }),
]);
export type BackupLockInput = z.infer<typeof backupLockInputSchema>;
export const lockAcquiredSchema = z.object({ backup: backupSchema, round: roundSchema });
/** Acquire Lock's answer for a scheduled run whose volume a running backup holds: skipped, not failed. */
export const lockSkippedSchema = z.object({
  skipped: z.object({ backup: backupSchema, reason: z.string(), heldBy: z.string() }),
});
export type LockSkipped = z.infer<typeof lockSkippedSchema>['skipped'];
export const backupLockOutputSchema = z.union([
  lockAcquiredSchema,
  lockSkippedSchema,
  z.object({ resumeAt: z.string(), expiresAt: z.string() }),
  z.object({ expiresAt: z.string() }),
  z.object({ released: z.number().int().min(0) }),
]);
export type BackupLockOutput = z.infer<typeof backupLockOutputSchema>;

// ---- Request Checkpoint / Release Checkpoint (replica-checkpoint) ----

export const checkpointInputSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('request'), backup: backupSchema, round: roundSchema }),
  z.object({
    action: z.literal('release'),
    backup: backupSchema,
    checkpoint: checkpointSchema,
    snapshots: z.array(snapshotRefSchema),
  }),
]);
export type CheckpointInput = z.infer<typeof checkpointInputSchema>;
export const checkpointOutputSchema = z.union([checkpointSchema, z.object({ released: z.literal(true) })]);
export type CheckpointOutput = z.infer<typeof checkpointOutputSchema>;

// ---- Probe Replica (probe-replica) ----

export const probeInputSchema = z.object({ backup: backupSchema, checkpoint: checkpointSchema });
export type ProbeInput = z.infer<typeof probeInputSchema>;
export const probeVerdictSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('IN_SYNC'),
    checkpointTime: z.string().optional(),
    reasons: z.array(z.string()),
  }),
  z.object({ status: z.literal('WAITING'), reasons: z.array(z.string()) }),
  z.object({ status: z.literal('TIMED_OUT'), reasons: z.array(z.string()) }),
]);
export type ProbeVerdict = z.infer<typeof probeVerdictSchema>;

// ---- Create / Check / Discard / Rotate Snapshots (replica-snapshots) ----

export const replicaSnapshotsInputSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('create'),
    backup: backupSchema,
    checkpoint: checkpointSchema,
    round: roundSchema,
  }),
  z.object({
    action: z.literal('check'),
    backup: backupSchema,
    round: roundSchema,
    snapshots: snapshotSetSchema,
  }),
  z.object({ action: z.literal('discard'), backup: backupSchema, snapshots: snapshotSetSchema }),
  z.object({ action: z.literal('rotate'), backup: backupSchema, snapshots: snapshotSetSchema }),
  /** A redrive of a suspended run takes its released snapshots back (NotFoundError when one is gone). */
  z.object({ action: z.literal('reclaim'), backup: backupSchema, snapshots: snapshotSetSchema }),
]);
export type ReplicaSnapshotsInput = z.infer<typeof replicaSnapshotsInputSchema>;
/**
 * Check Snapshots' answer: where the wait stands, the round to go on with, and (PENDING) how long
 * "Wait For Snapshots" waits before the next look.
 */
export const snapshotProgressSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('COMPLETED'), nextRound: roundSchema, waitSeconds: z.number().int().min(1) }),
  z.object({
    status: z.literal('PENDING'),
    progress: z.array(z.string()),
    nextRound: roundSchema,
    waitSeconds: z.number().int().min(1),
  }),
  z.object({
    status: z.literal('NEW_ROUND'),
    failed: z.array(z.string()),
    nextRound: roundSchema,
    waitSeconds: z.number().int().min(1),
  }),
]);
export type SnapshotProgressOutput = z.infer<typeof snapshotProgressSchema>;
export const replicaSnapshotsOutputSchema = z.union([
  snapshotSetSchema,
  snapshotProgressSchema,
  z.object({ deleted: z.number().int().min(0) }),
  z.object({ deleted: z.array(z.string()) }),
  z.object({ reclaimed: z.array(z.string()) }),
]);
export type ReplicaSnapshotsOutput = z.infer<typeof replicaSnapshotsOutputSchema>;

// ---- Plan Backup (plan-backup) ----

export const planInputSchema = z.object({
  backup: backupSchema,
  checkpoint: checkpointSchema,
  snapshots: z.array(snapshotRefSchema).min(1),
  /** The volume this iteration of "Back Up Volumes" plans (one of `backup.volumeIds`; default: the first). */
  volumeId: z.string().min(1).optional(),
});
export type PlanInput = z.infer<typeof planInputSchema>;

/** What every range worker needs besides its item. */
export const copyJobSchema = z.object({
  backupId: z.string().min(1),
  /** This worker's share of the per-snapshot GetSnapshotBlock budget. */
  readRequestsPerSecond: z.number().positive(),
});
export type CopyJob = z.infer<typeof copyJobSchema>;

/** Plan Backup's answer (`$.plan.result`): what the Map and the commit need. */
export const backupPlanSchema = z.object({
  volumeId: z.string().min(1),
  imageId: z.string().min(1),
  snapshotId: z.string().min(1),
  kind: z.enum(['full', 'incremental']),
  parentImageId: z.string().min(1).optional(),
  parentSnapshotId: z.string().min(1).optional(),
  fullReadReason: z.string().optional(),
  /** ISO-8601: the image's point in time (the snapshot's start time). */
  createdAt: isoTime,
  /** Where the Distributed Map's ItemReader finds the range items. */
  workItems: z.object({ bucket: z.string().min(1), key: z.string().min(1) }),
  rangeCount: z.number().int().min(1),
  maxConcurrency: z.number().int().min(1),
  job: copyJobSchema,
  /** The image already has its record (a redrive of a run that committed it): nothing to copy or commit. */
  committed: z.boolean().optional(),
});
export type BackupPlan = z.infer<typeof backupPlanSchema>;

// ---- Copy Range (copy-range, one Distributed Map item) ----

export const copyRangeInputSchema = z.object({ range: rangeWorkItemSchema, job: copyJobSchema });
export type CopyRangeInput = z.infer<typeof copyRangeInputSchema>;
export const copyRangeOutputSchema = z.object({
  firstBlock: z.number().int(),
  endBlock: z.number().int(),
  blocksRead: z.number().int(),
  chunksCreated: z.number().int(),
  bytesCreated: z.number().int(),
});
export type CopyRangeOutput = z.infer<typeof copyRangeOutputSchema>;

/**
 * Explain Copy Failure (copy-range, action `explain-failure`): Copy Ranges failed its Map Run
 * (`States.ExceedToleratedFailureThreshold`, caught into `$.copyError`); the function reads the
 * ranges' failure records and throws the error that made a range fail (core/backup/range-failures.ts).
 */
export const explainCopyFailureInputSchema = z.object({
  action: z.literal('explain-failure'),
  plan: backupPlanSchema,
  error: caughtErrorSchema,
});
export type ExplainCopyFailureInput = z.infer<typeof explainCopyFailureInputSchema>;

/** What the copy-range function accepts: a Distributed Map item, or the explanation of a failed Map Run. */
export const copyRangeFunctionInputSchema = z.union([copyRangeInputSchema, explainCopyFailureInputSchema]);

// ---- Commit Image (commit-image) ----

/** The commit reads only what it needs of the plan; the rest of `$.plan.result` passes through. */
export const commitInputSchema = z.object({
  backup: backupSchema,
  plan: backupPlanSchema
    .pick({
      volumeId: true,
      imageId: true,
      snapshotId: true,
      parentImageId: true,
      parentSnapshotId: true,
      fullReadReason: true,
      createdAt: true,
      rangeCount: true,
    })
    .loose(),
});
export type CommitInput = z.infer<typeof commitInputSchema>;
const imageStatsSchema = z.object({
  chunksCreated: z.number().int(),
  bytesCreated: z.number().int(),
  blocksRead: z.number().int(),
});
/** Commit Image's answer (`$.image.result`). */
export const committedImageSchema = z.object({
  volumeId: z.string().min(1),
  imageId: z.string().min(1),
  kind: z.enum(['full', 'incremental']),
  createdAt: isoTime,
  manifestKey: z.string().min(1),
  stats: imageStatsSchema,
  /** The image record's fullReadReason: an image with a parent that was read in full, and why. */
  fullReadReason: z.string().optional(),
});
export type CommittedImage = z.infer<typeof committedImageSchema>;

// ---- Build Catalog (build-catalog) ----

export const catalogInputSchema = z.looseObject({
  volumeId: z.string().min(1).max(64),
  imageId: z.string().min(1).max(128),
});
export type CatalogInput = z.infer<typeof catalogInputSchema>;
export const catalogOutputSchema = z.object({
  volumeId: z.string(),
  imageId: z.string(),
  status: z.enum(['running', 'complete', 'partial', 'failed', 'unsupported']),
  counts: z.object({
    files: z.number(),
    directories: z.number(),
    symlinks: z.number(),
    others: z.number(),
    bytes: z.number(),
  }),
  changes: z.object({
    added: z.number(),
    changed: z.number(),
    removed: z.number(),
    itemsWritten: z.number(),
  }),
  errorCount: z.number().int(),
  warningCount: z.number().int(),
  applicationCount: z.number().int(),
});
export type CatalogOutput = z.infer<typeof catalogOutputSchema>;
/** What "Build Catalog" keeps of its answer, with the image (`$.image.result.catalog`). */
export const volumeCatalogSchema = catalogOutputSchema.pick({ status: true, counts: true, errorCount: true });
export type VolumeCatalog = z.infer<typeof volumeCatalogSchema>;

// ---- Commit Recovery Point (commit-recovery-point) ----

/** One iteration's answer of "Back Up Volumes" (`$.volumes[i]`): the volume's committed image. */
export const volumeBackupSchema = committedImageSchema
  .pick({ volumeId: true, imageId: true, kind: true, createdAt: true })
  .extend({ catalog: volumeCatalogSchema.optional() })
  .loose();
export const commitRecoveryPointInputSchema = z.object({
  backup: backupSchema,
  checkpoint: checkpointSchema.optional(),
  volumes: z.array(volumeBackupSchema).min(1),
});
export type CommitRecoveryPointInput = z.infer<typeof commitRecoveryPointInputSchema>;
/** Commit Recovery Point's answer (`$.recoveryPoint.result`, docs/recovery-points.md). */
export const committedRecoveryPointSchema = z.object({
  recoveryPointId: z.string().min(1),
  serverId: z.string().min(1),
  createdAt: isoTime,
  /** As stored after the commit's check: an image a deletion took out meanwhile is not named. */
  images: z.array(recoveryPointImageSchema),
  /** The images' ids, for Publish Success. */
  imageIds: z.array(z.string()),
  /**
   * Present when every image was deleted while the point was committed, so it was removed. The
   * state machine never sees it: the step then fails with ConflictError (usable-recovery-point.ts).
   */
  removed: z.literal(true).optional(),
});
export type CommittedRecoveryPoint = z.infer<typeof committedRecoveryPointSchema>;

// ---- Clean Up (cleanup-backup) and Publish Success / Failure (publish-outcome) ----

/**
 * The state of a run that failed, as the failure path receives it (`$`): whatever the run had
 * reached. `$.backup` is absent when the run failed while validating or locking; then the raw
 * request's fields (`serverId`, `volumeIds`, `trigger`) are all there is.
 */
export const failedRunStateSchema = z.looseObject({
  backup: backupSchema.optional(),
  snapshots: snapshotSetSchema.optional(),
  image: z.unknown().optional(),
  error: caughtErrorSchema.optional(),
  serverId: z.unknown().optional(),
  volumeIds: z.unknown().optional(),
  trigger: z.unknown().optional(),
  /** Where a redrive of a suspended run resumes (set on the way to "Suspend Run"). */
  resume: z.object({ state: z.string() }).optional(),
  /** The failure path's result; `suspended` when "Suspend Run" wrote it. */
  failure: z.looseObject({ suspended: z.boolean().optional() }).optional(),
});
export type FailedRunState = z.infer<typeof failedRunStateSchema>;

/**
 * `clean` (Clean Up: the run is over) deletes the snapshots no image uses; `suspend` (Suspend Run:
 * a redrive may resume it) releases the locks and marks those snapshots released instead.
 */
export const cleanupInputSchema = z.object({
  mode: z.enum(['clean', 'suspend']).default('clean'),
  state: failedRunStateSchema,
  execution: executionRefSchema,
});
export type CleanupInput = z.infer<typeof cleanupInputSchema>;
export const cleanupOutputSchema = z.object({
  /** The failure's cause as an operator should read it (a Lambda error's message, not its JSON). */
  cause: z.string(),
  locksReleased: z.number().int().min(0),
  snapshotsDeleted: z.array(z.string()),
  snapshotsKeptAsBase: z.array(z.string()),
  /** Suspend Run: the snapshots kept for a redrive, tagged released. */
  snapshotsReleased: z.array(z.string()).optional(),
});
export type CleanupOutput = z.infer<typeof cleanupOutputSchema>;

export const publishInputSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('SUCCEEDED'),
    backup: backupSchema,
    imageIds: z.array(z.string()),
    /**
     * Every volume's image and what its catalog said (absent in executions started before it was
     * passed). Informational: a list that does not parse is dropped, never a reason to fail the
     * announcement of a backup that succeeded.
     */
    volumes: z
      .array(
        z.looseObject({
          volumeId: z.string(),
          imageId: z.string(),
          catalog: volumeCatalogSchema.pick({ status: true, errorCount: true }).loose().optional(),
          /** Commit Image's fullReadReason (absent for a first full, a plain incremental, older runs). */
          fullReadReason: z.string().optional(),
        }),
      )
      .optional()
      .catch(undefined),
  }),
  z.object({ status: z.literal('FAILED'), state: failedRunStateSchema, execution: executionRefSchema }),
  z.object({ status: z.literal('SKIPPED'), skipped: lockSkippedSchema.shape.skipped }),
]);
export type PublishInput = z.infer<typeof publishInputSchema>;
export const publishOutputSchema = z.object({
  published: z.literal(true),
  status: z.enum(['SUCCEEDED', 'FAILED', 'SKIPPED']),
});
export type PublishOutput = z.infer<typeof publishOutputSchema>;

// ---- The execution's state between steps ----

/**
 * `$` between steps: each field is written by one state's ResultPath (or is the lock step's
 * output) and read by later states. Everything is optional: which fields exist depends on how far
 * the run got.
 */
export const backupRunStateSchema = z.looseObject({
  backup: backupSchema.optional(),
  round: roundSchema.optional(),
  /** Acquire Lock's answer, as `$.acquired.result`, until "Start Run" makes it the state. */
  acquired: z.object({ result: z.union([lockAcquiredSchema, lockSkippedSchema]) }).optional(),
  checkpoint: checkpointSchema.optional(),
  /** Inside an iteration of "Back Up Volumes": the volume it backs up. */
  volumeId: z.string().optional(),
  /** "Back Up Volumes"' answer: every volume's committed image. */
  volumes: z.array(volumeBackupSchema).optional(),
  recoveryPoint: z.object({ result: committedRecoveryPointSchema }).optional(),
  sync: z.object({ status: z.string(), reasons: z.array(z.string()) }).optional(),
  snapshots: snapshotSetSchema.optional(),
  snapshotProgress: z
    .object({ status: z.string(), nextRound: roundSchema, waitSeconds: z.number().int().optional() })
    .optional(),
  plan: z.object({ result: backupPlanSchema }).optional(),
  copy: z.unknown().optional(),
  /** Copy Ranges' Catch: the failed Map Run's error, which Explain Copy Failure turns into the real one. */
  copyError: caughtErrorSchema.optional(),
  image: z
    .object({ result: committedImageSchema.extend({ catalog: volumeCatalogSchema.optional() }) })
    .optional(),
  error: caughtErrorSchema.optional(),
  failure: z
    .object({
      cause: z.string(),
      cleanup: cleanupOutputSchema.optional(),
      suspended: z.boolean().optional(),
    })
    .optional(),
  /** Set on the way to "Suspend Run": the state a redrive resumes at. */
  resume: z.object({ state: z.string() }).optional(),
  /** "Await Redrive"'s answer on a redrive. */
  redrive: z.unknown().optional(),
  cleanupError: caughtErrorSchema.optional(),
  publishError: caughtErrorSchema.optional(),
});
export type BackupRunState = z.infer<typeof backupRunStateSchema>;

/** Which schemas a Lambda task of the ASL uses, by the ASL placeholder of its function. */
export interface StepSchemas {
  readonly input: z.ZodType;
  readonly output: z.ZodType;
}

/** The ASL's function placeholders and the steps behind them (the placeholders are lib's names). */
export const STEP_SCHEMAS: Readonly<Record<string, StepSchemas>> = {
  BackupLockFunctionArn: { input: backupLockInputSchema, output: backupLockOutputSchema },
  CheckpointFunctionArn: { input: checkpointInputSchema, output: checkpointOutputSchema },
  ProbeReplicaFunctionArn: { input: probeInputSchema, output: probeVerdictSchema },
  ReplicaSnapshotFunctionArn: { input: replicaSnapshotsInputSchema, output: replicaSnapshotsOutputSchema },
  PlanBackupFunctionArn: { input: planInputSchema, output: backupPlanSchema },
  CopyRangeFunctionArn: { input: copyRangeFunctionInputSchema, output: copyRangeOutputSchema },
  CommitImageFunctionArn: { input: commitInputSchema, output: committedImageSchema },
  BuildCatalogFunctionArn: { input: catalogInputSchema, output: catalogOutputSchema },
  CommitRecoveryPointFunctionArn: {
    input: commitRecoveryPointInputSchema,
    output: committedRecoveryPointSchema,
  },
  CleanupFunctionArn: { input: cleanupInputSchema, output: cleanupOutputSchema },
  PublishOutcomeFunctionArn: { input: publishInputSchema, output: publishOutputSchema },
};
