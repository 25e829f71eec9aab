/**
 * BackupStarter (lambdas/core/plans/plan-ports.ts) in memory, as SfnPlanBackups runs a plan task's
 * backup: one execution of the backup state machine named by the backup id over every replica
 * volume of the server (a server without any is refused), started once whatever a repeated start
 * asks (Step Functions refuses the second, which is the same backup), with the plan's trigger;
 * progress reads the execution: never started, running, succeeded with its images, skipped (a
 * running backup held the server) with its reason, or ended otherwise with its error and cause.
 */
import { PermanentError } from '../../lambdas/core/errors.ts';
import { planTrigger } from '../../lambdas/core/orchestration/backup-request.ts';
import type {
  BackupProgress,
  BackupStart,
  BackupStarter,
  ServerDirectory,
} from '../../lambdas/core/plans/plan-ports.ts';

export interface MemoryBackupExecution {
  readonly input: Readonly<Record<string, unknown>>;
  ended?:
    | { readonly status: 'SUCCEEDED'; readonly imageIds: readonly string[] }
    /** Succeeded at "Backup Skipped": the lock's refusal. */
    | { readonly status: 'SKIPPED'; readonly reason: string }
    | {
        readonly status: 'FAILED';
        readonly error: string;
        readonly cause: string;
      };
}

export class MemoryPlanBackups implements BackupStarter {
  readonly executions = new Map<string, MemoryBackupExecution>();

  constructor(private readonly servers: ServerDirectory) {}

  async start(request: BackupStart): Promise<void> {
    const server = await this.servers.get(request.server);
    if (server === undefined || server.volumes.length === 0) {
      throw new PermanentError(`server ${request.server} has no replica volumes`, {
        context: { server: request.server },
      });
    }
    if (this.executions.has(request.backupId)) return;
    this.executions.set(request.backupId, {
      input: {
        serverId: request.server,
        volumeIds: server.volumes.map((v) => v.volumeId),
        ...(request.source === 'primary' ? { source: 'primary' } : {}),
        trigger: planTrigger(request.plan),
      },
    });
  }

  progress(backupId: string): Promise<BackupProgress> {
    const execution = this.executions.get(backupId);
    if (execution === undefined) {
      return Promise.resolve({
        state: 'failed',
        errorName: 'NotFoundError',
        reason: `backup ${backupId} was never started`,
      });
    }
    const { ended } = execution;
    if (ended === undefined) return Promise.resolve({ state: 'running' });
    if (ended.status === 'SUCCEEDED')
      return Promise.resolve({ state: 'succeeded', imageIds: [...ended.imageIds] });
    if (ended.status === 'SKIPPED')
      return Promise.resolve({ state: 'skipped', reason: `backup ${backupId} skipped: ${ended.reason}` });
    return Promise.resolve({
      state: 'failed',
      errorName: ended.error,
      reason: `backup ${backupId} failed: ${ended.error} (${ended.cause})`,
    });
  }

  /** The execution ended: its recovery point's images, or an error and cause. */
  end(backupId: string, ended: NonNullable<MemoryBackupExecution['ended']>): void {
    this.executions.get(backupId)!.ended = ended;
  }
}
