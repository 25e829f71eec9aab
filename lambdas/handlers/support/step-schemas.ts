/** zod schemas of the pieces of state that the state machine hands to several Lambdas. */
import { z } from 'zod';
import { backupContextSchema } from '../../core/orchestration/backup-request.ts';

export const backupField = backupContextSchema;

export const checkpointField = z.object({
  checkpointId: z.string().min(1),
  requestedAt: z.iso.datetime(),
  deadline: z.iso.datetime(),
});

export const snapshotRefSchema = z.object({
  volumeId: z.string().min(1),
  snapshotId: z.string().regex(/^snap-[0-9a-z]+$/),
});

export const snapshotsField = z.object({
  items: z.array(snapshotRefSchema).min(1),
  deadline: z.iso.datetime(),
});

export const roundField = z.number().int().min(1);
