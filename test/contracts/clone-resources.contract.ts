/**
 * The contracts of the EC2 ports of workflows: CloneResources (core/workflows/workflow-run-ports.ts,
 * what a run makes and removes) and CreatedResources (core/workflows/workflow-service.ts, what a
 * delete with `created=remove` finds and removes). EC2 facts both sides must show: CreateVolume
 * with a ClientToken already used answers the same volume
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Run_Instance_Idempotency.html; moto
 * ignores the token, so that part runs on the fake only); a volume is tagged at creation;
 * AttachVolume and DetachVolume return while the attachment is `attaching` or `detaching` and the
 * volume becomes `in-use` or `available` later; DeleteVolume of an attached volume (VolumeInUse)
 * and DetachVolume of a volume not attached are refused with errors the caller cannot retry into
 * success (the run engine reads the volume first and never asks for either); DescribeSnapshots or
 * DescribeVolumes of an unknown id is `*.NotFound`, which the ports answer as absent, and deleting
 * an absent snapshot or volume is success
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 *
 * Several contracts share one account (one moto per test file), so each test tags with its own
 * run id or workflow name and looks only at what it made.
 */
import { describe, expect, it } from 'vitest';
import { isRetryable, RbpError } from '../../lambdas/core/errors.ts';
import type { CloneResources, CloneVolume } from '../../lambdas/core/workflows/workflow-run-ports.ts';
import type { CreatedResources } from '../../lambdas/core/workflows/workflow-service.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

export interface CloneResourcesHarness {
  readonly resources: CloneResources;
  /** What workflows created, over the same account. */
  readonly created: CreatedResources;
  /** A completed snapshot tagged `tags`, made outside the ports (a restore, a masking hook); its id. */
  snapshot(tags: Readonly<Record<string, string>>): Promise<string>;
  /** A running instance; its id and zone. */
  readonly instance: () => Promise<{ readonly instanceId: string; readonly availabilityZone: string }>;
  /** Time passes (volumes leave `creating`, attachments settle). */
  tick(): Promise<void>;
}

/** Ticks before a volume must have settled (in moto at once, in the fake after one tick). */
const MAX_TICKS = 40;
const UNKNOWN_SNAPSHOT = 'snap-0fedcba9876543210';
const UNKNOWN_VOLUME = 'vol-0fedcba9876543210';
const DEVICE = '/dev/sdf';

async function until(
  harness: CloneResourcesHarness,
  volumeId: string,
  settled: (volume: CloneVolume | undefined) => boolean,
): Promise<CloneVolume | undefined> {
  for (let ticks = 0; ticks < MAX_TICKS; ticks += 1) {
    const volume = await harness.resources.describeVolume(volumeId);
    if (settled(volume)) return volume;
    await harness.tick();
  }
  throw new Error(`${volumeId} did not settle`);
}

async function expectRefused(attempt: Promise<unknown>, what: RegExp): Promise<void> {
  const error = await rejectionOf(attempt);
  expect(error).toBeInstanceOf(RbpError);
  expect(isRetryable(error)).toBe(false);
  expect(error.message).toMatch(what);
}

export function cloneResourcesContract(
  name: string,
  service: { readonly honoursClientToken: boolean },
  open: () => Promise<CloneResourcesHarness>,
): void {
  describe(`CloneResources and CreatedResources contract: ${name}`, () => {
    it.skipIf(!service.honoursClientToken)(
      'a client token already used answers the same volume',
      async () => {
        const harness = await open();
        const { availabilityZone } = await harness.instance();
        const request = {
          snapshotId: await harness.snapshot({}),
          availabilityZone,
          tags: { 'rbp:run-id': 'wfr-token' },
          clientToken: 'wfr-token-0',
        };
        const volumeId = await harness.resources.createVolume(request);
        expect(await harness.resources.createVolume(request)).toBe(volumeId);
        expect(await harness.resources.taggedWithRun('wfr-token')).toEqual({
          snapshotIds: [],
          volumeIds: [volumeId],
        });
      },
    );

    it('creates a volume from a completed snapshot, tagged at creation', async () => {
      const harness = await open();
      const { resources } = harness;
      const { availabilityZone } = await harness.instance();
      const snapshotId = await harness.snapshot({ 'rbp:run-id': 'wfr-create' });
      expect(await resources.snapshotState(snapshotId)).toBe('completed');
      const request = {
        snapshotId,
        availabilityZone,
        tags: { 'rbp:run-id': 'wfr-create', 'rbp:workflow': 'wf-create' },
        clientToken: 'wfr-create-0',
      };
      const volumeId = await resources.createVolume(request);
      const volume = await until(harness, volumeId, (v) => v?.state === 'available');
      expect(volume).toEqual({ volumeId, state: 'available', availabilityZone, attachments: [] });
      expect(await resources.taggedWithRun('wfr-create')).toEqual({
        snapshotIds: [snapshotId],
        volumeIds: [volumeId],
      });
      expect(await harness.created.find('wf-create')).toEqual({
        snapshotIds: [],
        volumes: [{ volumeId, attachments: [] }],
      });
    });

    it('tags snapshots and volumes; tagged ones are found by run and by workflow, in id order', async () => {
      const harness = await open();
      const { resources } = harness;
      const { availabilityZone } = await harness.instance();
      const snapshots = [await harness.snapshot({}), await harness.snapshot({})];
      const volumeId = await resources.createVolume({
        snapshotId: snapshots[0]!,
        availabilityZone,
        tags: { 'rbp:contract': 'tag' },
        clientToken: 'wfr-tag-0',
      });
      await resources.tag([], { 'rbp:run-id': 'wfr-tag' });
      await resources.tag([...snapshots, volumeId], { 'rbp:run-id': 'wfr-tag', 'rbp:workflow': 'wf-tag' });
      await until(harness, volumeId, (v) => v?.state === 'available');
      expect(await resources.taggedWithRun('wfr-tag')).toEqual({
        snapshotIds: [...snapshots].sort(),
        volumeIds: [volumeId],
      });
      expect(await harness.created.find('wf-tag')).toEqual({
        snapshotIds: [...snapshots].sort(),
        volumes: [{ volumeId, attachments: [] }],
      });
      expect(await resources.taggedWithRun('wfr-none')).toEqual({ snapshotIds: [], volumeIds: [] });
      expect(await harness.created.find('wf-none')).toEqual({ snapshotIds: [], volumes: [] });
    });

    it('attaches and detaches; a delete while attached and a detach of a free volume are refused', async () => {
      const harness = await open();
      const { resources } = harness;
      const { instanceId, availabilityZone } = await harness.instance();
      const snapshotId = await harness.snapshot({});
      const volumeId = await resources.createVolume({
        snapshotId,
        availabilityZone,
        tags: { 'rbp:workflow': 'wf-attach' },
        clientToken: 'wfr-attach-0',
      });
      await until(harness, volumeId, (v) => v?.state === 'available');
      await resources.attachVolume(volumeId, instanceId, DEVICE);
      const attached = await until(harness, volumeId, (v) => v?.state === 'in-use');
      expect(attached?.attachments).toEqual([{ instanceId, device: DEVICE, state: 'attached' }]);
      expect(await harness.created.find('wf-attach')).toEqual({
        snapshotIds: [],
        volumes: [{ volumeId, attachments: [{ instanceId, device: DEVICE }] }],
      });
      await expectRefused(resources.deleteVolume(volumeId), /VolumeInUse/);
      await resources.detachVolume(volumeId, instanceId);
      const detached = await until(harness, volumeId, (v) => v?.state === 'available');
      expect(detached?.attachments).toEqual([]);
      await expectRefused(resources.detachVolume(volumeId, instanceId), new RegExp(volumeId));
    });

    it('CreatedResources.detach waits until the volume is free; detaching a free volume is no error', async () => {
      const harness = await open();
      const { resources, created } = harness;
      const { instanceId, availabilityZone } = await harness.instance();
      const volumeId = await resources.createVolume({
        snapshotId: await harness.snapshot({}),
        availabilityZone,
        tags: { 'rbp:workflow': 'wf-detach' },
        clientToken: 'wfr-detach-0',
      });
      await until(harness, volumeId, (v) => v?.state === 'available');
      await resources.attachVolume(volumeId, instanceId, DEVICE);
      await until(harness, volumeId, (v) => v?.state === 'in-use');
      await created.detach(volumeId, instanceId);
      expect(await resources.describeVolume(volumeId)).toMatchObject({ state: 'available', attachments: [] });
      await created.detach(volumeId, instanceId);
      await created.deleteVolume(volumeId);
    });

    it('deletes volumes and snapshots; absent ones read as absent and deleting them again is success', async () => {
      const harness = await open();
      const { resources, created } = harness;
      const { availabilityZone } = await harness.instance();
      const snapshotId = await harness.snapshot({ 'rbp:run-id': 'wfr-delete' });
      const second = await harness.snapshot({ 'rbp:workflow': 'wf-delete' });
      const volumeId = await resources.createVolume({
        snapshotId,
        availabilityZone,
        tags: { 'rbp:run-id': 'wfr-delete', 'rbp:workflow': 'wf-delete' },
        clientToken: 'wfr-delete-0',
      });
      await until(harness, volumeId, (v) => v?.state === 'available');
      await resources.deleteVolume(volumeId);
      await until(harness, volumeId, (v) => v === undefined);
      await resources.deleteVolume(volumeId);
      await resources.deleteSnapshot(snapshotId);
      expect(await resources.snapshotState(snapshotId)).toBe('absent');
      await resources.deleteSnapshot(snapshotId);
      await created.deleteSnapshot(second);
      await created.deleteSnapshot(second);
      await created.deleteVolume(volumeId);
      expect(await resources.taggedWithRun('wfr-delete')).toEqual({ snapshotIds: [], volumeIds: [] });
      expect(await created.find('wf-delete')).toEqual({ snapshotIds: [], volumes: [] });
      expect(await resources.snapshotState(UNKNOWN_SNAPSHOT)).toBe('absent');
      expect(await resources.describeVolume(UNKNOWN_VOLUME)).toBeUndefined();
      await resources.deleteSnapshot(UNKNOWN_SNAPSHOT);
      await resources.deleteVolume(UNKNOWN_VOLUME);
    });
  });
}
