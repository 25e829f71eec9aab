/**
 * The contract of BackupStarter (lambdas/core/plans/plan-ports.ts): a plan task's backup. What the
 * plan run relies on: `start` runs one backup execution named by the backup id over every replica
 * volume of the server in the directory's order (`source: primary` only for a primary backup), a
 * repeated start is the same backup whatever it asks, its input carries the plan's trigger
 * (`plan:<plan>`), and a server without replica volumes is a
 * PermanentError naming it; `progress` reads a backup never started as failed (NotFoundError),
 * a running one as running, a succeeded one with its recovery point's images, one that ended at
 * "Backup Skipped" (a running backup held the server) as skipped with the lock's reason, and one
 * that failed with its error and cause. Step Functions' rule behind the repeated start: StartExecution
 * of an existing name with another input is ExecutionAlreadyExists
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
 */
import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../lambdas/core/errors.ts';
import type { BackupStart, BackupStarter } from '../../lambdas/core/plans/plan-ports.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

/** The servers the harness's directory has; the backup state machine's outcome goes by server. */
export const PLAN_BACKUP_SERVERS = {
  /** Its backups run until the test ends them. */
  runs: 'PB-RUNS',
  /** Its backups succeed with SUCCEEDED_IMAGES. */
  succeeds: 'PB-SUCCEEDS',
  /** Its backups fail with FAILED_ERROR and FAILED_CAUSE. */
  fails: 'PB-FAILS',
  /** It has no replica volumes. */
  empty: 'PB-EMPTY',
  /** Its backups end skipped ("Backup Skipped") with SKIPPED_REASON. */
  skips: 'PB-SKIPS',
} as const;
export const SUCCEEDED_IMAGES = ['img-pb-1', 'img-pb-2'];
export const FAILED_ERROR = 'IntegrityError';
export const FAILED_CAUSE = 'chunk missing';
/** The lock's refusal as Acquire Lock returns it for a run whose trigger skips when locked. */
export const SKIPPED_REASON =
  'volume vol-0a1b2c3d4e5f60718 is being backed up by bk-0200 (lock held until 2099-01-01T00:00:00.000Z); backup pb-skip-1 was not started';

export interface PlanBackupsHarness {
  readonly backups: BackupStarter;
  /** The replica volumes of `server` in the directory, in order. */
  volumesOf(server: string): Promise<readonly string[]>;
  /** The input the execution named `backupId` was started with. */
  inputOf(backupId: string): Promise<unknown>;
  /** Resolves once the execution named `backupId` ended (its server's outcome). */
  ended(backupId: string): Promise<void>;
}

const task = (backupId: string, server: string, source: BackupStart['source'] = 'replica'): BackupStart => ({
  backupId,
  plan: 'nightly',
  runId: 'pr-1',
  taskIndex: 0,
  server,
  source,
});

export function planBackupsContract(name: string, open: () => Promise<PlanBackupsHarness>): void {
  describe(`BackupStarter contract: ${name}`, () => {
    it('starts one execution by backup id over the server’s volumes; a repeated start is the same backup', async () => {
      const h = await open();
      const volumeIds = await h.volumesOf(PLAN_BACKUP_SERVERS.runs);
      await h.backups.start(task('pb-start-1', PLAN_BACKUP_SERVERS.runs));
      await h.backups.start(task('pb-start-1', PLAN_BACKUP_SERVERS.runs, 'primary'));
      expect(await h.inputOf('pb-start-1')).toMatchObject({
        serverId: PLAN_BACKUP_SERVERS.runs,
        volumeIds,
        trigger: 'plan:nightly',
      });
      expect(await h.inputOf('pb-start-1')).not.toHaveProperty('source');
      await h.backups.start(task('pb-start-2', PLAN_BACKUP_SERVERS.runs, 'primary'));
      expect(await h.inputOf('pb-start-2')).toMatchObject({
        serverId: PLAN_BACKUP_SERVERS.runs,
        volumeIds,
        source: 'primary',
      });
      expect(await h.backups.progress('pb-start-1')).toEqual({ state: 'running' });
      const empty = await rejectionOf(h.backups.start(task('pb-empty-1', PLAN_BACKUP_SERVERS.empty)));
      expect(empty).toBeInstanceOf(PermanentError);
      expect(empty.message).toBe(`server ${PLAN_BACKUP_SERVERS.empty} has no replica volumes`);
    });

    it('reads a backup never started, succeeded, skipped with the lock’s reason, or failed with its error and cause', async () => {
      const h = await open();
      expect(await h.backups.progress('pb-never')).toEqual({
        state: 'failed',
        errorName: 'NotFoundError',
        reason: 'backup pb-never was never started',
      });
      await h.backups.start(task('pb-ok-1', PLAN_BACKUP_SERVERS.succeeds));
      await h.ended('pb-ok-1');
      expect(await h.backups.progress('pb-ok-1')).toEqual({ state: 'succeeded', imageIds: SUCCEEDED_IMAGES });
      await h.backups.start(task('pb-fail-1', PLAN_BACKUP_SERVERS.fails));
      await h.ended('pb-fail-1');
      expect(await h.backups.progress('pb-fail-1')).toEqual({
        state: 'failed',
        errorName: FAILED_ERROR,
        reason: `backup pb-fail-1 failed: ${FAILED_ERROR} (${FAILED_CAUSE})`,
      });
      await h.backups.start(task('pb-skip-1', PLAN_BACKUP_SERVERS.skips));
      await h.ended('pb-skip-1');
      expect(await h.backups.progress('pb-skip-1')).toEqual({
        state: 'skipped',
        reason: `backup pb-skip-1 skipped: ${SKIPPED_REASON}`,
      });
    });
  });
}
