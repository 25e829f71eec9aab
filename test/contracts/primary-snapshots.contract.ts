/**
 * The contract of PrimarySnapshotPort (lambdas/core/backup/primary-source.ts): backups from the
 * primary. What the core relies on: `primaryVolumes` answers each replica volume in the order
 * asked, with the primary its `rbp:primary-volume` tag names and the instance that primary is
 * attached to (none when it names no primary, or the primary is not attached); a primary or an
 * instance not tagged `rbp:primary=true` is refused with a ValidationError naming it (the
 * stack's IAM allows snapshots only of marked ones); CreateSnapshots of an instance gives exactly
 * the volumes asked for a snapshot each, the instance's other volumes (its root volume among them)
 * excluded (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSnapshots.html);
 * every snapshot carries the tags and description given at creation, and tagging adds to them.
 *
 * Several contracts share one account (one moto per test file): each test looks only at the
 * volumes and instances it made.
 */
import { describe, expect, it } from 'vitest';
import {
  PRIMARY_OPT_IN_TAG,
  PRIMARY_VOLUME_TAG,
  type PrimarySnapshotPort,
} from '../../lambdas/core/backup/primary-source.ts';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

export interface PrimarySnapshotsHarness {
  readonly port: PrimarySnapshotPort;
  /** An EBS volume with `tags`; its id. */
  volume(tags: Record<string, string>): Promise<string>;
  /** A running instance tagged `tags` with `volumeIds` attached after its root volume; its id. */
  instance(tags: Record<string, string>, volumeIds: readonly string[]): Promise<string>;
  /** A snapshot as EC2 describes it. */
  snapshot(
    snapshotId: string,
  ): Promise<{ volumeId: string; description: string; tags: Record<string, string> }>;
}

const MARKED = { [PRIMARY_OPT_IN_TAG]: 'true' };
const UNKNOWN_VOLUME = 'vol-0fedcba9876543210';
const notMarked = (what: string, ids: string): string =>
  `${what} ${ids} is not tagged ${PRIMARY_OPT_IN_TAG}=true: ` +
  'this deployment snapshots only primaries their operator has marked (docs/plans.md, Replica or primary)';

export function primarySnapshotsContract(name: string, open: () => Promise<PrimarySnapshotsHarness>): void {
  describe(`PrimarySnapshotPort contract: ${name}`, () => {
    it('reads each replica volume’s primary and where it is attached, in the order asked', async () => {
      const h = await open();
      const [attached, loose] = [await h.volume(MARKED), await h.volume(MARKED)];
      const instanceId = await h.instance(MARKED, [attached]);
      const replicas = [
        await h.volume({ [PRIMARY_VOLUME_TAG]: loose }),
        await h.volume({ 'rbp:replica': 'true' }),
        await h.volume({ [PRIMARY_VOLUME_TAG]: attached }),
      ];
      expect(await h.port.primaryVolumes(replicas)).toEqual([
        { replicaVolumeId: replicas[0], primaryVolumeId: loose },
        { replicaVolumeId: replicas[1] },
        { replicaVolumeId: replicas[2], primaryVolumeId: attached, instanceId },
      ]);
      const unknown = await rejectionOf(h.port.primaryVolumes([UNKNOWN_VOLUME]));
      expect(unknown).toBeInstanceOf(NotFoundError);
      expect(unknown.message).toContain(UNKNOWN_VOLUME);
    });

    it('refuses an unmarked primary and an unmarked instance, naming them', async () => {
      const h = await open();
      const unmarked = await h.volume({});
      const replica = await h.volume({ [PRIMARY_VOLUME_TAG]: unmarked });
      const primary = await rejectionOf(h.port.primaryVolumes([replica]));
      expect(primary).toBeInstanceOf(ValidationError);
      expect(primary.message).toBe(notMarked('primary volume', unmarked));
      const data = await h.volume(MARKED);
      const instanceId = await h.instance({}, [data]);
      const instance = await rejectionOf(h.port.createInstanceSnapshots(instanceId, [data], {}, 'refused'));
      expect(instance).toBeInstanceOf(ValidationError);
      expect(instance.message).toBe(notMarked('instance', instanceId));
    });

    it('snapshots exactly the instance volumes asked for, tagged and described at creation', async () => {
      const h = await open();
      const [first, second, other] = [await h.volume(MARKED), await h.volume(MARKED), await h.volume(MARKED)];
      const instanceId = await h.instance(MARKED, [first, second, other]);
      const tags = { 'rbp:backup-id': 'bk-primary-1', 'rbp:source': 'primary' };
      const taken = await h.port.createInstanceSnapshots(
        instanceId,
        [second, first],
        tags,
        'rbp bk-primary-1',
      );
      expect([...taken.keys()].sort()).toEqual([first, second].sort());
      for (const volumeId of [first, second]) {
        expect(await h.snapshot(taken.get(volumeId)!)).toEqual({
          volumeId,
          description: 'rbp bk-primary-1',
          tags,
        });
      }
    });

    it('snapshots one volume tagged at creation; tagging adds to its tags', async () => {
      const h = await open();
      const volumeId = await h.volume(MARKED);
      const snapshotId = await h.port.createVolumeSnapshot(
        volumeId,
        { 'rbp:backup-id': 'bk-primary-2' },
        'one',
      );
      await h.port.tagSnapshot(snapshotId, {
        'rbp:volume-id': 'vol-0replica',
        'rbp:backup-id': 'bk-primary-2',
      });
      expect(await h.snapshot(snapshotId)).toEqual({
        volumeId,
        description: 'one',
        tags: { 'rbp:backup-id': 'bk-primary-2', 'rbp:volume-id': 'vol-0replica' },
      });
    });
  });
}
