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
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { useConfiguredServer } from '../support/configured-server.ts';
import { backupServer } from '../support/local-product.ts';

/** A DRS source server id: the server's volumes are tagged rbp:source-server with it. */
const SERVER = 's-0123456789abcdef0';
const PROBE = { kind: 'drs', sourceServerId: SERVER, maxLagSeconds: 30 } as const;
/** Probe every second, give up after 4: the failing case ends within seconds. */
const SYNC_WAIT = { intervalSeconds: 1, timeoutSeconds: 4 };

const server = useConfiguredServer('drs-probe', {
  serverId: SERVER,
  hostname: 'drs-01',
  settings: () => [{ serverId: SERVER, probe: PROBE, syncWait: SYNC_WAIT }],
});
const { deployment } = server;

describe('the DRS probe on the local stack', () => {
  it("reads the local DRS's view of the server, and the backup succeeds", async () => {
    deployment.local.stack.gateway.resetStats();
    const backup = await backupServer<{ backupId: string; status: string }>(deployment.rbp, SERVER);
    expect(backup.status).toBe('SUCCEEDED');
    expect((await server.execution(backup.backupId)).input).toMatchObject({
      probe: PROBE,
      serverId: SERVER,
      volumeIds: [server.volumeId],
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
          Resources: [server.volumeId],
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
    const failed = await server.execution(backupId);
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
