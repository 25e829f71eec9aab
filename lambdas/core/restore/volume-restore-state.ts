/**
 * The volume-restore state machine's step state (statemachines/volume-restore.asl.json), as zod
 * schemas: what each step receives and answers. Kept next to the restore steps; the backup's step
 * state is in lambdas/core/orchestration/step-state.ts.
 */
import { z } from 'zod';

const restoreId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/);

const hexHash = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * One Distributed Map item: a run of whole segments (1 GiB each) of the volume, and the SHA-256 of
 * its range object (restoreRangeWorkSchema), which holds the segment hashes the range restores.
 */
export const restoreRangeItemSchema = z.object({
  /** Position of the range in the plan (ranges are listed in ascending block order). */
  index: z.number().int().min(0),
  firstSegment: z.number().int().min(0),
  segmentCount: z.number().int().min(1),
  /** Hex SHA-256 of the range object: its key names it, and the worker verifies what it reads. */
  work: hexHash,
});
export type RestoreRangeItem = z.infer<typeof restoreRangeItemSchema>;

/**
 * A range object (work bucket, restoreRangeWorkKey): what Plan Restore read from the manifests for
 * one range, so that a range worker reads this instead of the manifests (whose size grows with the
 * volume: one hash per GiB).
 */
export const restoreRangeWorkSchema = z
  .object({
    index: z.number().int().min(0),
    firstSegment: z.number().int().min(0),
    segmentCount: z.number().int().min(1),
    /** The image's volume size (its last segment may hold fewer than 1,024 chunks). */
    volumeSizeBytes: z.number().int().positive(),
    /** The image's segment hashes of the range, in order (64 zeros: a segment of zeros). */
    segments: z.array(hexHash),
    /** Delta restores: the parent image's size and its hashes of the range (fewer, or none, past the parent's end). */
    parent: z.object({ volumeSizeBytes: z.number().int().positive(), segments: z.array(hexHash) }).optional(),
  })
  .refine((work) => work.segments.length === work.segmentCount, {
    message: 'segments must hold segmentCount hashes',
  })
  .refine((work) => (work.parent?.segments.length ?? 0) <= work.segmentCount, {
    message: 'parent.segments must hold at most segmentCount hashes',
  });
export type RestoreRangeWork = z.infer<typeof restoreRangeWorkSchema>;

/** What every range worker needs besides its item (`$.plan.result.job`). */
export const restoreRangeJobSchema = z.object({
  restoreId,
  snapshotId: z.string().min(1),
  /** ISO-8601: when StartSnapshot answered (a new snapshot can read as missing for a while after). */
  snapshotStartedAt: z.iso.datetime(),
  /** This worker's share of the per-snapshot PutSnapshotBlock budget. */
  writeRequestsPerSecond: z.number().positive(),
});
export type RestoreRangeJob = z.infer<typeof restoreRangeJobSchema>;

/** Plan Restore's answer (`$.plan.result`). */
export const restorePlanSchema = z.object({
  restoreId,
  snapshotId: z.string().min(1),
  /** Where the Distributed Map's ItemReader finds the range items. */
  workItems: z.object({ bucket: z.string().min(1), key: z.string().min(1) }),
  rangeCount: z.number().int().min(0),
  maxConcurrency: z.number().int().min(1),
  job: restoreRangeJobSchema,
});
export type RestorePlan = z.infer<typeof restorePlanSchema>;

/** Restore Range's answer: a few figures (the Map's results go to S3, not into the state). */
export const restoreRangeOutputSchema = z.object({
  index: z.number().int(),
  blocksPut: z.number().int(),
  putRequests: z.number().int(),
  /** Segments a previous attempt had finished (resumed, not rewritten). */
  segmentsResumed: z.number().int(),
  /** PutSnapshotBlock requests EBS throttled (retried with backoff), for the EbsRequestsThrottled metric. */
  throttled: z.number().int(),
});
export type RestoreRangeOutput = z.infer<typeof restoreRangeOutputSchema>;

/** Check Snapshot's answer (`$.snapshot`): the state, and whether a volume is to be made from it. */
export const restoreSnapshotCheckSchema = z.object({
  state: z.enum(['pending', 'completed', 'error', 'recoverable', 'recovering']),
  /** The job asks for a volume (Create Volume runs once the snapshot is completed). */
  createVolume: z.boolean(),
});
export type RestoreSnapshotCheck = z.infer<typeof restoreSnapshotCheckSchema>;

/** Create Volume's answer (`$.volume`): the restored volume and its state. */
export const restoredVolumeOutputSchema = z.object({
  volumeId: z.string().min(1),
  state: z.enum(['creating', 'available', 'in-use', 'deleting', 'deleted', 'error']),
});

/** The events of the one restore-step function, by step. */
export const volumeRestoreStepEventSchema = z.discriminatedUnion('step', [
  z.object({ step: z.literal('plan'), restoreId }),
  z.object({ step: z.literal('range'), range: restoreRangeItemSchema, job: restoreRangeJobSchema }),
  z.object({ step: z.literal('complete'), restoreId }),
  z.object({ step: z.literal('check'), restoreId }),
  z.object({ step: z.literal('volume'), restoreId }),
  z.object({ step: z.literal('finish'), restoreId }),
  z.object({
    step: z.literal('fail'),
    restoreId,
    /** `$.error` of a Catch: the error name and its cause (the error's message, or JSON of it). */
    error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).loose(),
  }),
]);
export type VolumeRestoreStepEvent = z.infer<typeof volumeRestoreStepEventSchema>;
