/**
 * POST /backups/{id}/cancel and POST /restores/{id}/cancel: stop a running backup or restore
 * cleanly (backup-cancel.ts, restore-cancel.ts). 404 for an unknown id, 409 for one that already
 * finished or can no longer be cancelled (the message says which).
 * POST /backups/{id}/resume: redrive a suspended backup (backup-resume.ts); 404 for an unknown id,
 * 409 when it is not suspended, past the redrive window, lost its kept snapshot, or another backup
 * holds a volume's lock (details.reason says which).
 */
import { z } from 'zod';
import { operationOf } from './history-routes.ts';
import { route, type Route } from './route-definition.ts';
import {
  backupIdSchema,
  backupPathParams,
  restorePathParams,
  restoreSchema,
  volumeIdSchema,
} from './schemas.ts';

export const cancelledBackupSchema = z.object({
  backupId: backupIdSchema,
  status: z
    .literal('ABORTED')
    .describe('The execution is stopped; GET /backups shows it with error "Cancelled"'),
  locksReleased: z.number().int().min(0).describe('Volume locks released: a new backup may start at once'),
  snapshotsDeleted: z.array(z.string()).describe('The snapshots this backup took, deleted'),
});

export const resumedBackupSchema = z.object({
  backupId: backupIdSchema,
  status: z.literal('RUNNING').describe('The execution runs again from the state that failed'),
  resumedAt: z.string().describe('When the redrive started (ISO 8601 UTC; Step Functions redriveDate)'),
  volumeIds: z.array(volumeIdSchema).describe('The backup’s volumes, whose locks it holds again'),
});

export const CANCEL_ROUTES: readonly Route[] = [
  route('POST /backups/{backupId}/cancel', 'cancelBackup', {
    summary:
      'Cancel a running backup: its locks are released, its execution stopped and its snapshots deleted; nothing is committed after the cancel (409 when it finished or already committed an image)',
    params: backupPathParams,
    answer: cancelledBackupSchema,
    errors: [404, 409],
    serve: (deps, { params, principal }) =>
      operationOf(deps.backups, 'cancel', 'cancelling backups')(params.backupId, principal ?? 'anonymous'),
  }),
  route('POST /backups/{backupId}/resume', 'resumeBackup', {
    summary:
      'Resume a suspended backup (its copy failed after its retries): its execution is redriven, takes the volumes’ locks back and goes on where it failed, skipping ranges already copied (409 when it is not suspended, past the 14-day redrive window, its kept snapshot is gone, or another backup holds a volume)',
    params: backupPathParams,
    answer: resumedBackupSchema,
    errors: [404, 409],
    serve: (deps, { params }) => operationOf(deps.backups, 'resume', 'resuming backups')(params.backupId),
    accepted: (answer) => `/backups/${answer.backupId}`,
  }),
  route('POST /restores/{restoreId}/cancel', 'cancelRestore', {
    summary:
      'Cancel a restore: it ends CANCELLED and is never handed out; a volume restore is stopped and its unfinished snapshot deleted (409 when it finished)',
    params: restorePathParams,
    answer: restoreSchema,
    errors: [404, 409],
    serve: (deps, { params }) =>
      operationOf(deps.restores, 'cancel', 'cancelling restores')(params.restoreId),
  }),
];
