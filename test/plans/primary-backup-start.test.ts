/**
 * A plan task's backup from the primary, as it starts in AWS, on moto through the local stack:
 *
 * - `SfnPlanBackups.start` passes `source: "primary"` in the backup execution's input (the backup
 *   state machine's Create Snapshots then snapshots the primaries); a replica task's input has no
 *   `source` (the state machine's default), every task's input carries `trigger: "plan:<plan>"`
 *   (its recovery point's trigger, which the plan's expiry goes by), and a repeated start is the
 *   same execution;
 * - the EC2 adapter refuses a primary volume or an instance not marked `rbp:primary=true` with a
 *   message naming it (the stack's IAM allows CreateSnapshots only on marked ones), and reads a
 *   marked primary with the instance it is attached to.
 */
import { AttachVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2PrimarySnapshots } from '../../lambdas/aws/ec2-primary-snapshots.ts';
import { SfnPlanBackups } from '../../lambdas/aws/plan-run-adapters.ts';
import type { BackupStart, ServerDirectory } from '../../lambdas/core/plans/plan-ports.ts';
import type { ServerView } from '../../lambdas/core/plans/servers.ts';
import { createTaggedVolume, launchInstance } from '../support/ec2-instances.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { createPassStateMachine } from '../support/stand-in-state-machines.ts';
import { server } from './fake-plan-ports.ts';

const local = useLocalStack();
let sfn: SFNClient;
let ec2: EC2Client;
let stateMachineArn: string;

const QA1: ServerView = server('QA1', {
  volumes: [
    { volumeId: 'vol-0000000000000000a', tags: { 'rbp:source-server': 'QA1' } },
    { volumeId: 'vol-0000000000000000b', tags: { 'rbp:source-server': 'QA1' } },
  ],
  hasPrimary: true,
});
const directory: ServerDirectory = {
  list: () => Promise.resolve([QA1]),
  get: (name) => Promise.resolve(name === 'QA1' ? QA1 : undefined),
};

function task(backupId: string, source: BackupStart['source']): BackupStart {
  return { backupId, plan: 'nightly-qa', runId: 'pr-1', taskIndex: 0, server: 'QA1', source };
}

beforeAll(async () => {
  sfn = new SFNClient(local.clientConfig());
  ec2 = new EC2Client(local.clientConfig());
  stateMachineArn = await createPassStateMachine(
    sfn,
    'backup-under-test',
    'arn:aws:iam::123456789012:role/backup-under-test',
  );
});

afterAll(() => {
  sfn.destroy();
  ec2.destroy();
});

async function inputOf(backupId: string): Promise<unknown> {
  const described = await sfn.send(
    new DescribeExecutionCommand({
      executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${backupId}`,
    }),
  );
  return JSON.parse(described.input!);
}

describe('SfnPlanBackups.start', () => {
  it('passes source primary in the execution input; a replica task names no source; both carry the plan trigger', async () => {
    const backups = new SfnPlanBackups(sfn, stateMachineArn, directory, {
      inputDefaults: { snapshotWait: { intervalSeconds: 1, timeoutSeconds: 60 } },
    });
    await backups.start(task('pr-1-t0', 'primary'));
    await backups.start(task('pr-1-t1', 'replica'));
    expect(await inputOf('pr-1-t0')).toEqual({
      snapshotWait: { intervalSeconds: 1, timeoutSeconds: 60 },
      serverId: 'QA1',
      volumeIds: ['vol-0000000000000000a', 'vol-0000000000000000b'],
      source: 'primary',
      trigger: 'plan:nightly-qa',
    });
    expect(await inputOf('pr-1-t1')).toEqual({
      snapshotWait: { intervalSeconds: 1, timeoutSeconds: 60 },
      serverId: 'QA1',
      volumeIds: ['vol-0000000000000000a', 'vol-0000000000000000b'],
      trigger: 'plan:nightly-qa',
    });
  });

  it('a repeated start of the same task is the same execution (ExecutionAlreadyExists is not an error)', async () => {
    const backups = new SfnPlanBackups(sfn, stateMachineArn, directory);
    await backups.start(task('pr-1-t2', 'primary'));
    await backups.start(task('pr-1-t2', 'primary'));
    const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn }));
    expect((listed.executions ?? []).filter((e) => e.name === 'pr-1-t2')).toHaveLength(1);
  });

  it('refuses a server without replica volumes before starting anything', async () => {
    const backups = new SfnPlanBackups(sfn, stateMachineArn, directory);
    await expect(backups.start({ ...task('pr-1-t3', 'primary'), server: 'GONE' })).rejects.toThrow(
      'server GONE has no replica volumes',
    );
  });
});

describe('Ec2PrimarySnapshots: only primaries marked rbp:primary=true', () => {
  async function primaryOn(instanceTagged: boolean, volumeTagged: boolean) {
    const marked = { 'rbp:primary': 'true' };
    const instanceId = await launchInstance(ec2, 'us-east-1a', instanceTagged ? marked : {});
    const primaryVolumeId = await createTaggedVolume(ec2, 'us-east-1a', volumeTagged ? marked : {});
    await ec2.send(
      new AttachVolumeCommand({ VolumeId: primaryVolumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
    );
    const replicaVolumeId = await createTaggedVolume(ec2, 'us-east-1a', {
      'rbp:primary-volume': primaryVolumeId,
    });
    return { instanceId, primaryVolumeId, replicaVolumeId };
  }

  it('reads a marked primary and the instance it is attached to', async () => {
    const { instanceId, primaryVolumeId, replicaVolumeId } = await primaryOn(true, true);
    expect(await new Ec2PrimarySnapshots(ec2).primaryVolumes([replicaVolumeId])).toEqual([
      { replicaVolumeId, primaryVolumeId, instanceId },
    ]);
  });

  it('names an unmarked primary volume', async () => {
    const { primaryVolumeId, replicaVolumeId } = await primaryOn(true, false);
    await expect(new Ec2PrimarySnapshots(ec2).primaryVolumes([replicaVolumeId])).rejects.toThrow(
      `primary volume ${primaryVolumeId} is not tagged rbp:primary=true: this deployment snapshots only ` +
        'primaries their operator has marked (docs/plans.md, Replica or primary)',
    );
  });

  it('names an unmarked instance before CreateSnapshots', async () => {
    const { instanceId, primaryVolumeId } = await primaryOn(false, true);
    await expect(
      new Ec2PrimarySnapshots(ec2).createInstanceSnapshots(instanceId, [primaryVolumeId], {}, 'test'),
    ).rejects.toThrow(
      `instance ${instanceId} is not tagged rbp:primary=true: this deployment snapshots only ` +
        'primaries their operator has marked (docs/plans.md, Replica or primary)',
    );
  });
});
