/**
 * The contract of ReplicaStatePort's volume side (lambdas/core/orchestration/orchestration-ports.ts):
 * what the replica probe reads of the replica volumes, once per probe. Every tag of each volume
 * asked, as the replication agent last wrote it (nothing kept between reads: the probe loop
 * waits for the agent's next CreateTags); an unknown volume fails the read, as EC2 DescribeVolumes
 * answers InvalidVolume.NotFound
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 * Run against MemoryReplicaState (test/fakes) and Ec2DrsReplicaState on moto
 * (test/contracts/ec2-ports.contract.test.ts). The DRS side has no emulator on the local stack
 * (moto has no Elastic Disaster Recovery): DrsReplication's mapping of DescribeSourceServers is
 * tested in test/orchestration/orchestration-adapters.test.ts.
 */
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
