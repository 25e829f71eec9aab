/**
 * A configured server's DRS probe (lib/config.ts servers[].probe {kind: 'drs'}) runs on the local
 * stack: the deployment's Probe Replica reads AWS Elastic Disaster Recovery's view of the source
 * server from the gateway's local DRS (local/drs, docs/local-stack.md), made of the replica
 * volumes' tags. With the real API, backup state machine and handlers:
 *
 * - the replication agent answers the checkpoint request (IN_SYNC, no backlog, a checkpoint time
 *   after the request), DRS reports the server CONTINUOUS, and the backup succeeds;
 * - once the agent reports the server disconnected, the probe waits and the backup fails at its
 *   configured sync timeout with DRS's reason.
 */
import '../support/quiet-powertools.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbServerBackupSettings } from '../../lambdas/aws/dynamodb-server-settings.ts';
import { backupServer, useDeployedProduct } from '../support/local-product.ts';

const deployment = useDeployedProduct('drs-probe', { handlerEnv: { RANGE_WORKERS: '2' } });
let sfn: SFNClient;
let documents: DynamoDBDocumentClient;
let volumeId: string;

/** A DRS source server id: the server's volumes are tagged rbp:source-server with it. */
const SERVER = 's-0123456789abcdef0';
const PROBE = { kind: 'drs', sourceServerId: SERVER, maxLagSeconds: 30 } as const;
/** Probe every second, give up after 4: the failing case ends within seconds. */
const SYNC_WAIT = { intervalSeconds: 1, timeoutSeconds: 4 };

beforeAll(async () => {
  sfn = new SFNClient(deployment.local.clientConfig({ maxAttempts: 3 }));
  documents = DynamoDBDocumentClient.from(
    new DynamoDBClient(deployment.local.clientConfig({ maxAttempts: 3 })),
  );
  ({ volumeId } = await deployment.makeReplica(
    'root',
    { 'etc/hostname': 'drs-01\n' },
    { serverId: SERVER, device: '/dev/xvda' },
  ));
  await new DynamoDbServerBackupSettings(documents, deployment.product.names.table).put([
    { serverId: SERVER, probe: PROBE, syncWait: SYNC_WAIT },
  ]);
}, 300_000);

afterAll(() => {
  sfn.destroy();
  documents.destroy();
});

async function execution(backupId: string): Promise<{ input: unknown; error?: string; cause?: string }> {
  const arn = deployment.product.stateMachineArn;
  const described = await sfn.send(
    new DescribeExecutionCommand({
      executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${backupId}`,
    }),
  );
  return {
    input: JSON.parse(described.input!),
    ...(described.error === undefined ? {} : { error: described.error }),
    ...(described.cause === undefined ? {} : { cause: described.cause }),
  };
}

describe('the DRS probe on the local stack', () => {
  it("reads the local DRS's view of the server, and the backup succeeds", async () => {
    deployment.local.stack.gateway.resetStats();
    const backup = await backupServer<{ backupId: string; status: string }>(deployment.rbp, SERVER);
    expect(backup.status).toBe('SUCCEEDED');
    expect((await execution(backup.backupId)).input).toMatchObject({
      probe: PROBE,
      serverId: SERVER,
      volumeIds: [volumeId],
    });
    expect(
      deployment.local.stack.gateway.stats().requests['drs:DescribeSourceServers'],
    ).toBeGreaterThanOrEqual(1);
  }, 600_000);

  it('waits while DRS reports the server disconnected, and fails at the sync timeout with its reason', async () => {
    const ec2 = new EC2Client(deployment.local.clientConfig({ maxAttempts: 3 }));
    try {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [volumeId],
          Tags: [{ Key: 'rbp:replication-state', Value: 'disconnected' }],
        }),
      );
    } finally {
      ec2.destroy();
    }
    deployment.local.stack.gateway.resetStats();
    const started = await deployment.rbp(
      'backup',
      'start',
      '--server',
      SERVER,
      '--wait',
      '--timeout',
      '600',
      '--json',
    );
    expect(started.code).not.toBe(0);
    const { backupId } = JSON.parse(started.stdout) as { backupId: string };
    const failed = await execution(backupId);
    expect(failed.error).toBe('ReplicaNotInSync');
    expect(failed.cause).toMatch(
      /replica not in sync at checkpoint \S+ by \S+: s-0123456789abcdef0: replication state is DISCONNECTED, not CONTINUOUS/,
    );
    // Probed every second until the 4-second timeout: DRS was asked more than once.
    expect(
      deployment.local.stack.gateway.stats().requests['drs:DescribeSourceServers'],
    ).toBeGreaterThanOrEqual(2);
  }, 600_000);
});
