/**
 * `rbp backup resume` on the local stack. The product is deployed on moto (backup.asl.json in
 * moto's Step Functions, the real handlers through the gateway). A backup's ranges are copied, and
 * then its Commit Image fails until its retries are spent: every S3 PutObject is answered 500 from
 * the moment Renew Lock is entered, an injected fault. The backup is suspended at "Await Redrive".
 * With the fault cleared, `rbp backup resume ID --wait` redrives the execution (moto_patch.py's
 * RedriveExecution), which takes the lock back and commits one image that restores byte for byte
 * to the replica's disk.
 *
 * A second backup fails in the copy itself: every GetSnapshotBlock is answered 500, so its Copy
 * Range child execution fails after its retries, the Distributed Map "Copy Ranges" fails with
 * States.ExceedToleratedFailureThreshold (no failure is tolerated) and the run is suspended at
 * "Await Redrive" too; resumed with the fault cleared, it copies, commits and restores byte for
 * byte. Before moto_patch.py's patch 14, moto's Map Run succeeded without the failed child's
 * output, and the run ended at Commit Image as BackupFailed ("0 of 1 range summaries found").
 * The suspended run's cause is the range's own error (Explain Copy Failure reads the record Copy
 * Range wrote), not the Map Run's generic States.ExceedToleratedFailureThreshold.
 *
 * A third backup's GetSnapshotBlock calls are all refused (403 AccessDeniedException): a permanent
 * error, so the run is not suspended but cleaned up (Explain Copy Failure throws AccessDeniedError,
 * Back Up Volumes' Catch → Clean Up) and fails as BackupFailed with the range's message; its lock
 * is released and its snapshot deleted.
 */
import '../support/quiet-powertools.ts';
import { readFile } from 'node:fs/promises';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { readImage, useDeployedProduct } from '../support/local-product.ts';

const deployment = useDeployedProduct('backup-resume-local', {
  snapshotCompletionDelayMs: 300,
  handlerEnv: { RANGE_WORKERS: '2' },
});
const { rbp } = deployment;
/** The replica disk `makeReplica` writes: 32 MiB. */
const DISK_BYTES = 32 * 1024 * 1024;
/** The backup to its commit, and Commit Image's 5 retries of a retryable error (up to 155 s of waits). */
const SUSPEND_TIMEOUT_MS = 420_000;
const POLL_MS = 1_000;
/** Checks of the execution's history for the copy's end: well inside LAMBDA_LATENCY_MS. */
const ENTERED_POLL_MS = 200;
/** A delay before each Lambda invocation while the copy runs (Renew Lock's, then Commit Image's). */
const LAMBDA_LATENCY_MS = 3_000;

interface StatusJson {
  readonly status: string;
  readonly error?: string;
  readonly cause?: string;
}

interface FinishedJson {
  readonly status: string;
  readonly images: { volumeId: string; imageId: string }[];
}

let sfn: SFNClient;
let volumeId: string;
let image: string;
/** The replica whose first backup's copy fails (a full backup: every block is read). */
let copyVolumeId: string;
let copyImage: string;
/** The replica whose backup is refused every block read. */
let deniedVolumeId: string;

beforeAll(async () => {
  sfn = new SFNClient(deployment.local.clientConfig({ maxAttempts: 3 }));
  ({ volumeId, image } = await deployment.makeReplica('disk', {
    'etc/motd': 'resumed after a suspended copy\n',
    'var/data.bin': Buffer.alloc(3 * 1024 * 1024, 0x6b),
  }));
  ({ volumeId: copyVolumeId, image: copyImage } = await deployment.makeReplica('copy-disk', {
    'etc/motd': 'resumed after a failed range copy\n',
    'var/data.bin': Buffer.alloc(2 * 1024 * 1024, 0x3c),
  }));
  ({ volumeId: deniedVolumeId } = await deployment.makeReplica('denied-disk', {
    'etc/motd': 'never copied\n',
  }));
}, 240_000);

afterAll(() => sfn?.destroy());

/** Waits until the execution's history shows `state` entered. */
async function entered(executionArn: string, state: string): Promise<void> {
  const deadline = Date.now() + SUSPEND_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    if ((history.events ?? []).some((e) => e.stateEnteredEventDetails?.name === state)) return;
    await new Promise((resolve) => setTimeout(resolve, ENTERED_POLL_MS));
  }
  throw new Error(`${executionArn} did not enter ${state}`);
}

/** `rbp backup status --json` once the backup has stopped running: its exit code and its answer. */
async function settled(backupId: string): Promise<{ code: number; status: StatusJson }> {
  const deadline = Date.now() + SUSPEND_TIMEOUT_MS;
  for (;;) {
    const run = await rbp('backup', 'status', backupId, '--json');
    const status = JSON.parse(run.stdout) as StatusJson;
    if (status.status !== 'RUNNING' || Date.now() > deadline) return { code: run.code, status };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * `rbp backup resume --wait` of a suspended backup of one replica: it succeeds with one image of
 * `replicaVolumeId`, the only image of the volume, which restores byte for byte as `replicaImage`.
 */
async function resumeRestoresReplica(
  backupId: string,
  replicaVolumeId: string,
  replicaImage: string,
): Promise<void> {
  const resumed = await rbp.json<FinishedJson>(
    'backup',
    'resume',
    backupId,
    '--wait',
    '--timeout',
    '600',
    '--poll-interval',
    '1',
  );
  expect(resumed.status).toBe('SUCCEEDED');
  expect(resumed.images.map((i) => i.volumeId)).toEqual([replicaVolumeId]);
  const imageId = resumed.images[0]!.imageId;
  const images = await rbp.json<{ imageId: string }[]>('images', 'ls', '--volume', replicaVolumeId);
  expect(images.map((i) => i.imageId)).toEqual([imageId]);
  const restored = await readImage(deployment.engine, replicaVolumeId, imageId, DISK_BYTES);
  expect(restored.equals(await readFile(replicaImage))).toBe(true);
}

describe('rbp backup resume on the local stack', () => {
  it(
    'a commit that keeps failing after the copy suspends the backup; resume --wait commits it once and the image restores byte for byte',
    async () => {
      // Each Lambda invocation waits LAMBDA_LATENCY_MS, so the commit starts well after Renew Lock is entered.
      deployment.stack.gateway.setFaults({ latencyMs: { lambda: LAMBDA_LATENCY_MS } });
      const started = await rbp.json<{ backupId: string }>('backup', 'start', '--volume', volumeId);
      const executionArn = `${deployment.product.stateMachineArn.replace(':stateMachine:', ':execution:')}:${started.backupId}`;
      await entered(executionArn, 'Renew Lock');
      deployment.stack.gateway.setFaults({ seed: 1, serverErrorRate: { 's3:PutObject': 1 } });
      const { code, status: suspended } = await settled(started.backupId);
      deployment.stack.gateway.setFaults({});
      expect(code).toBe(EXIT.JOB_FAILED);
      expect(suspended.status).toBe('FAILED');
      expect(suspended.error, JSON.stringify(suspended)).toBe('BackupSuspendedError');
      expect(suspended.cause).toContain(`rbp backup resume ${started.backupId}`);
      expect(await rbp.json<unknown[]>('images', 'ls', '--volume', volumeId)).toEqual([]);

      await resumeRestoresReplica(started.backupId, volumeId, image);

      // One execution, redriven once: the same ARN, its history going on after ExecutionRedriven.
      const executions = await sfn.send(
        new ListExecutionsCommand({ stateMachineArn: deployment.product.stateMachineArn }),
      );
      const mine = (executions.executions ?? []).filter((e) => e.name === started.backupId);
      expect(mine).toHaveLength(1);
      const described = await sfn.send(new DescribeExecutionCommand({ executionArn: mine[0]!.executionArn }));
      expect(described).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
      const history = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn: mine[0]!.executionArn, maxResults: 1000 }),
      );
      const events = history.events ?? [];
      expect(events.filter((e) => e.type === 'ExecutionRedriven')).toHaveLength(1);
      const afterRedrive = events.slice(events.findIndex((e) => e.type === 'ExecutionRedriven'));
      expect(afterRedrive[1]?.stateEnteredEventDetails?.name).toBe('Await Redrive');
      expect(
        afterRedrive.filter((e) => e.stateEnteredEventDetails?.name === 'Commit Image').length,
      ).toBeGreaterThan(0);
      expect(afterRedrive.at(-1)?.type).toBe('ExecutionSucceeded');
    },
    SUSPEND_TIMEOUT_MS + 600_000,
  );

  it(
    'a range copy that keeps failing suspends the backup (the Map Run fails); resume --wait copies and commits it, and the image restores byte for byte',
    async () => {
      deployment.stack.gateway.resetStats();
      deployment.stack.gateway.setFaults({ seed: 1, serverErrorRate: { 'ebs:GetSnapshotBlock': 1 } });
      const started = await rbp.json<{ backupId: string }>('backup', 'start', '--volume', copyVolumeId);
      const { code, status: suspended } = await settled(started.backupId);
      const faults = deployment.stack.gateway.stats().faults;
      deployment.stack.gateway.setFaults({});
      expect(code).toBe(EXIT.JOB_FAILED);
      expect(suspended.status).toBe('FAILED');
      expect(suspended.error, JSON.stringify(suspended)).toBe('BackupSuspendedError');
      expect(suspended.cause).toContain(
        `rbp backup resume ${started.backupId} resumes it at Back Up Volumes`,
      );
      // The range's own error, not the Map Run's generic one (Explain Copy Failure). A 1 GiB
      // replica is one range of 2,048 blocks.
      expect(suspended.cause).toMatch(
        new RegExp(
          `range 0-2048 of ${copyVolumeId}: RetryableError: GetSnapshotBlock failed: [^"]*Internal failure \\(fault injected by the local gateway\\) \\(1 of 1 ranges failed\\) \\(backup ${started.backupId} suspended`,
        ),
      );
      expect(faults['ebs:GetSnapshotBlock:server-error']).toBeGreaterThan(0);
      expect(await rbp.json<unknown[]>('images', 'ls', '--volume', copyVolumeId)).toEqual([]);

      const executionArn = `${deployment.product.stateMachineArn.replace(':stateMachine:', ':execution:')}:${started.backupId}`;
      const failedEvents =
        (await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }))).events ?? [];
      expect(
        failedEvents.filter((e) => e.type === 'MapRunFailed').map((e) => e.mapRunFailedEventDetails),
      ).toEqual([
        {
          error: 'States.ExceedToleratedFailureThreshold',
          cause: 'The specified tolerated failure threshold was exceeded',
        },
      ]);
      // The copy failed, so nothing after it in the volume's iteration ran.
      expect(failedEvents.some((e) => e.stateEnteredEventDetails?.name === 'Commit Image')).toBe(false);

      await resumeRestoresReplica(started.backupId, copyVolumeId, copyImage);

      const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      expect(described).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
      const events =
        (await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }))).events ?? [];
      const afterRedrive = events.slice(events.findIndex((e) => e.type === 'ExecutionRedriven'));
      expect(afterRedrive[1]?.stateEnteredEventDetails?.name).toBe('Await Redrive');
      expect(afterRedrive.filter((e) => e.type === 'MapRunSucceeded')).toHaveLength(1);
      expect(afterRedrive.at(-1)?.type).toBe('ExecutionSucceeded');
    },
    SUSPEND_TIMEOUT_MS + 600_000,
  );

  it(
    "a range copy refused access ends the backup through Clean Up (AccessDeniedError): failed with the range's message, not suspended, lock released, snapshot deleted",
    async () => {
      deployment.stack.gateway.resetStats();
      deployment.stack.gateway.setFaults({ seed: 1, accessDeniedRate: { 'ebs:GetSnapshotBlock': 1 } });
      const started = await rbp.json<{ backupId: string }>('backup', 'start', '--volume', deniedVolumeId);
      const { code, status } = await settled(started.backupId);
      const { faults, requests } = deployment.stack.gateway.stats();
      deployment.stack.gateway.setFaults({});
      expect(code).toBe(EXIT.JOB_FAILED);
      expect(status.status).toBe('FAILED');
      // The run ends at the named Fail of a caught error; its cause is the range's message.
      expect(status.error, JSON.stringify(status)).toBe('BackupFailed');
      expect(status.cause).toBe(
        `range 0-2048 of ${deniedVolumeId}: GetSnapshotBlock failed: AccessDeniedException: User is not authorized to perform this action (fault injected by the local gateway) (1 of 1 ranges failed)`,
      );
      // Every block read was refused: nothing of the range was copied.
      expect(faults['ebs:GetSnapshotBlock:access-denied']).toBeGreaterThan(0);
      expect(faults['ebs:GetSnapshotBlock:access-denied']).toBe(requests['ebs:GetSnapshotBlock']);

      const executionArn = `${deployment.product.stateMachineArn.replace(':stateMachine:', ':execution:')}:${started.backupId}`;
      const events =
        (await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }))).events ?? [];
      const enteredStates = events.flatMap((e) => e.stateEnteredEventDetails?.name ?? []);
      expect(enteredStates).toContain('Explain Copy Failure');
      expect(enteredStates).toContain('Clean Up');
      expect(enteredStates).not.toContain('Suspend Run');
      expect(enteredStates).not.toContain('Await Redrive');
      expect(events.filter((e) => e.type === 'MapRunFailed')).toHaveLength(1);
      // Explain Copy Failure threw the range's own error class, which Back Up Volumes sent to Clean Up.
      expect(events.flatMap((e) => e.taskFailedEventDetails?.error ?? [])).toEqual(['AccessDeniedError']);

      const clients = deployment.local.clientConfig({ maxAttempts: 3 });
      const ddb = new DynamoDBClient(clients);
      const ec2 = new EC2Client(clients);
      try {
        const lock = await ddb.send(
          new GetItemCommand({
            TableName: deployment.product.names.table,
            Key: { pk: { S: `LOCK#${deniedVolumeId}` }, sk: { S: 'LOCK' } },
          }),
        );
        expect(lock.Item).toBeUndefined();
        const snapshots = await ec2.send(
          new DescribeSnapshotsCommand({
            OwnerIds: ['self'],
            Filters: [{ Name: 'tag:rbp:volume-id', Values: [deniedVolumeId] }],
          }),
        );
        expect(snapshots.Snapshots ?? []).toEqual([]);
      } finally {
        ddb.destroy();
        ec2.destroy();
      }
      expect(await rbp.json<unknown[]>('images', 'ls', '--volume', deniedVolumeId)).toEqual([]);
    },
    SUSPEND_TIMEOUT_MS + 120_000,
  );
});
