/**
 * The contract of ReplicaStatePort (lambdas/core/orchestration/orchestration-ports.ts): what the
 * replica probe reads, once per probe.
 *
 * The volume side: every tag of each volume asked, as the replication agent last wrote it
 * (nothing kept between reads: the probe loop waits for the agent's next CreateTags); an unknown
 * volume fails the read, as EC2 DescribeVolumes answers InvalidVolume.NotFound
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 *
 * The DRS side: AWS Elastic Disaster Recovery's view of a source server, read anew on every call
 * (DescribeSourceServers filtered by its id,
 * https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeSourceServers.html); an unknown
 * server is undefined, as DRS answers an empty list for an id it does not know. Here a source
 * server is what the local stack's DRS makes of the replica volumes' tags (local/drs,
 * docs/local-stack.md "Elastic Disaster Recovery"): the harness only creates and tags volumes.
 *
 * Run against MemoryReplicaState (test/fakes) and Ec2DrsReplicaState with DrsReplication on the
 * local stack (test/contracts/ec2-ports.contract.test.ts).
 */
import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import type { ReplicaStatePort } from '../../lambdas/core/orchestration/orchestration-ports.ts';
import type { ReplicaVolumeTags } from '../../lambdas/core/orchestration/replica-probe.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

export interface ReplicaStateHarness {
  readonly state: ReplicaStatePort;
  /** Creates a volume with `tags`; its id. */
  volume(tags: Readonly<Record<string, string>>): Promise<string>;
  /** The agent's CreateTags on a volume: adds tags or replaces their values. */
  tag(volumeId: string, tags: Readonly<Record<string, string>>): Promise<void>;
}

const UNKNOWN_VOLUME = 'vol-0fedcba9876543210';

const REPORTED = {
  'rbp:replica': 'true',
  'rbp:source-server': 'web01',
  'rbp:checkpoint-id': 'cp-1',
  'rbp:checkpoint-time': '2026-12-03T02:00:00.000Z',
  'rbp:sync-state': 'BACKLOG',
  'rbp:backlog-bytes': '65536',
};

const byVolumeId = (volumes: readonly ReplicaVolumeTags[]): ReplicaVolumeTags[] =>
  [...volumes].sort((a, b) => (a.volumeId < b.volumeId ? -1 : 1));

export function replicaStateContract(name: string, open: () => Promise<ReplicaStateHarness>): void {
  describe(`replica state contract: ${name}`, () => {
    it('reads every tag of each volume asked, and only those volumes', async () => {
      const harness = await open();
      const reporting = await harness.volume({ ...REPORTED, Name: 'web01 /dev/sda' });
      const silent = await harness.volume({ 'rbp:replica': 'true' });
      const untagged = await harness.volume({});
      expect(byVolumeId(await harness.state.volumeTags([reporting, silent, untagged]))).toEqual(
        byVolumeId([
          { volumeId: reporting, tags: { ...REPORTED, Name: 'web01 /dev/sda' } },
          { volumeId: silent, tags: { 'rbp:replica': 'true' } },
          { volumeId: untagged, tags: {} },
        ]),
      );
      expect(await harness.state.volumeTags([silent])).toEqual([
        { volumeId: silent, tags: { 'rbp:replica': 'true' } },
      ]);
    });

    it("each read sees the agent's newest tags", async () => {
      const harness = await open();
      const volumeId = await harness.volume(REPORTED);
      expect(await harness.state.volumeTags([volumeId])).toEqual([{ volumeId, tags: REPORTED }]);
      await harness.tag(volumeId, {
        'rbp:checkpoint-id': 'cp-2',
        'rbp:sync-state': 'IN_SYNC',
        'rbp:backlog-bytes': '0',
      });
      expect(await harness.state.volumeTags([volumeId])).toEqual([
        {
          volumeId,
          tags: {
            ...REPORTED,
            'rbp:checkpoint-id': 'cp-2',
            'rbp:sync-state': 'IN_SYNC',
            'rbp:backlog-bytes': '0',
          },
        },
      ]);
    });

    it('an unknown volume is a NotFoundError naming it, even beside a known one', async () => {
      const harness = await open();
      const known = await harness.volume(REPORTED);
      const error = await rejectionOf(harness.state.volumeTags([known, UNKNOWN_VOLUME]));
      expect(error).toBeInstanceOf(NotFoundError);
      // EC2 names the unknown volume; moto names every volume asked, in its own order.
      expect(error.message).toMatch(/^DescribeVolumes failed: InvalidVolume\.NotFound: The volume '/);
      expect(error.message).toContain(UNKNOWN_VOLUME);
    });
  });
}

const ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A fresh DRS source server id (s- and 17 characters): each test's servers are its own. */
function sourceServerId(): string {
  let id = 's-';
  for (let i = 0; i < 17; i += 1) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** A disk of a DRS-replicated server as the local agent registers it (docs/replica-tags.md). */
const disk = (server: string, device: string): Record<string, string> => ({
  'rbp:replica': 'true',
  'rbp:source-server': server,
  'rbp:source-device': device,
});

export function drsSourceServerContract(name: string, open: () => Promise<ReplicaStateHarness>): void {
  describe(`replica state contract, DRS side: ${name}`, () => {
    it("reads a known server's replication from its disks: the least healthy state, the largest lag, the newest report", async () => {
      const harness = await open();
      const server = sourceServerId();
      await harness.volume({
        ...disk(server, '/dev/xvda'),
        'rbp:sync-state': 'IN_SYNC',
        'rbp:backlog-bytes': '0',
        'rbp:checkpoint-id': 'cp-7',
        'rbp:checkpoint-time': '2026-12-03T02:00:00.000Z',
        'rbp:lag-seconds': '3',
      });
      await harness.volume({
        ...disk(server, '/dev/sdb'),
        'rbp:sync-state': 'BACKLOG',
        'rbp:backlog-bytes': '65536',
        'rbp:checkpoint-id': 'cp-8',
        'rbp:checkpoint-time': '2026-12-03T02:05:00.000Z',
        'rbp:lag-seconds': '42',
      });
      expect(await harness.state.drsSourceServer(server)).toEqual({
        sourceServerId: server,
        dataReplicationState: 'BACKLOG',
        lagDuration: 'PT42S',
        replicatedDisks: [
          { deviceName: '/dev/sdb', backloggedStorageBytes: 65536 },
          { deviceName: '/dev/xvda', backloggedStorageBytes: 0 },
        ],
        lastSeenByServiceDateTime: '2026-12-03T02:05:00.000Z',
      });
    });

    it('a server the agent has not reported on has no lag, no last-seen time and no known backlog', async () => {
      const harness = await open();
      const server = sourceServerId();
      await harness.volume(disk(server, '/dev/xvda'));
      expect(await harness.state.drsSourceServer(server)).toEqual({
        sourceServerId: server,
        dataReplicationState: 'INITIAL_SYNC',
        replicatedDisks: [{ deviceName: '/dev/xvda' }],
      });
    });

    it("the agent's replication state wins over its sync state, an unknown one counting as stalled", async () => {
      const harness = await open();
      const server = sourceServerId();
      const volumeId = await harness.volume({
        ...disk(server, '/dev/xvda'),
        'rbp:sync-state': 'IN_SYNC',
        'rbp:backlog-bytes': '0',
        'rbp:replication-state': 'disconnected',
      });
      const view = {
        sourceServerId: server,
        replicatedDisks: [{ deviceName: '/dev/xvda', backloggedStorageBytes: 0 }],
      };
      expect(await harness.state.drsSourceServer(server)).toEqual({
        ...view,
        dataReplicationState: 'DISCONNECTED',
      });
      await harness.tag(volumeId, { 'rbp:replication-state': 'resyncing' });
      expect(await harness.state.drsSourceServer(server)).toEqual({
        ...view,
        dataReplicationState: 'STALLED',
      });
    });

    it('an unknown server is undefined, and so is one whose volumes are not replicas', async () => {
      const harness = await open();
      const notReplica = sourceServerId();
      await harness.volume({ 'rbp:source-server': notReplica, 'rbp:source-device': '/dev/xvda' });
      expect(await harness.state.drsSourceServer(sourceServerId())).toBeUndefined();
      expect(await harness.state.drsSourceServer(notReplica)).toBeUndefined();
    });

    it("each read sees the agent's newest tags", async () => {
      const harness = await open();
      const server = sourceServerId();
      const volumeId = await harness.volume({
        ...disk(server, '/dev/xvda'),
        'rbp:sync-state': 'BACKLOG',
        'rbp:backlog-bytes': '4096',
        'rbp:checkpoint-id': 'cp-1',
        'rbp:checkpoint-time': '2026-12-03T02:00:00.000Z',
      });
      expect(await harness.state.drsSourceServer(server)).toEqual({
        sourceServerId: server,
        dataReplicationState: 'BACKLOG',
        replicatedDisks: [{ deviceName: '/dev/xvda', backloggedStorageBytes: 4096 }],
        lastSeenByServiceDateTime: '2026-12-03T02:00:00.000Z',
      });
      await harness.tag(volumeId, {
        'rbp:sync-state': 'IN_SYNC',
        'rbp:backlog-bytes': '0',
        'rbp:checkpoint-id': 'cp-2',
        'rbp:checkpoint-time': '2026-12-03T02:10:00.000Z',
      });
      expect(await harness.state.drsSourceServer(server)).toEqual({
        sourceServerId: server,
        dataReplicationState: 'CONTINUOUS',
        replicatedDisks: [{ deviceName: '/dev/xvda', backloggedStorageBytes: 0 }],
        lastSeenByServiceDateTime: '2026-12-03T02:10:00.000Z',
      });
    });
  });
}
