/**
 * Workflow runs on the local stack (the product deployed by local/deploy.ts: the workflow-run
 * state machine in moto with its real function, the volume-restore state machine, the EBS
 * emulator, moto's EC2), over a real ext4 replica backed up by the backup state machine:
 *
 * - a LiveClone run makes a snapshot whose blocks equal the image's (the replica as it was
 *   backed up), tagged rbp:workflow and rbp:image, not rbp:non-sensitive;
 * - a second run after another backup puts exactly the blocks of the changed chunks (the gateway's
 *   PutSnapshotBlock count equals local/clone-oracle.ts deltaRestoreBlocks of the two images) on the
 *   previous clone, the new clone equals the new image, and the old clone is gone;
 * - a masked LiveClone (the local file-masking hook, local/masking-hook) differs from the image
 *   only inside /etc/shadow, carries rbp:non-sensitive=true, and its unmasked restore is deleted;
 * - a failing masking hook fails the run and leaves no clone behind;
 * - a DirectMount attaches a volume made from the clone to a moto instance; a refresh attaches
 *   the new one and then removes the old one; an unmount detaches and deletes it;
 * - a disabled workflow's run is a 400 (CLI exit 5) naming the reason, and nothing is started.
 */
import '../support/quiet-powertools.ts';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowRunView } from '../../lambdas/core/workflows/workflow-run.ts';
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { changeReplicaFile } from '../../local/replica/replica-files.ts';
import { launchInstance } from '../support/ec2-instances.ts';
import { useDeployedProduct } from '../support/local-product.ts';
import { useLocalClients } from '../support/local-stack.ts';
import { createMaskingHooks } from './masking-hooks.ts';
import { deltaRestoreBlocks, differingBlocks, snapshotBytes } from './snapshot-blocks.ts';

const exec = promisify(execFile);

const deployment = useDeployedProduct('workflow-runs');
const local = deployment.local;
const aws = useLocalClients(local);
const api = deployment.api;
const rbp = deployment.rbp;
const ZONE = 'us-east-1a';
/** The replica's size: mkfs.ext4 on a sparse file of 256 MiB (512 EBS blocks). */
const IMAGE_BYTES = 256 * 1024 * 1024;
const SHADOW = [
  'root:$6$Qm0rA1x$0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d:19700:0:99999:7:::',
  'alice:$6$Zx9yW8v$ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100:19701:0:99999:7:::',
  '',
].join('\n');

let admin: LocalAdminClient;
let workDir: string;
let imagePath: string;
let volumeId: string;
let instanceId: string;
/** The instance's volumes before any run (its root volume). */
let rootVolumes: string[] = [];
/** The replica's bytes at each backup, by image id: the oracle of the clones. */
const imageCopies = new Map<string, string>();

async function poll<T>(path: string, done: (value: T) => boolean, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api<T>('GET', path);
    if (done(body)) return body;
    if (Date.now() > deadline) throw new Error(`${path} did not finish: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** A backup of the replica through the API; keeps a copy of the replica as the image holds it. */
async function backup(): Promise<string> {
  const started = await api<{ backupId: string }>('POST', '/backups', { volumeId });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const done = await poll<{ status: string; imageId?: string }>(
    `/backups/${started.body.backupId}`,
    (b) => b.status !== 'RUNNING' && b.status !== 'PENDING',
  );
  expect(done.status, JSON.stringify(done)).toBe('SUCCEEDED');
  const copy = join(workDir, `${done.imageId!}.img`);
  await exec('cp', ['--sparse=always', imagePath, copy]);
  imageCopies.set(done.imageId!, copy);
  return done.imageId!;
}

async function createWorkflow(document: Record<string, unknown>): Promise<void> {
  const created = await api('POST', '/workflows', document);
  expect(created.status, JSON.stringify(created.body)).toBe(200);
}

async function runWorkflow(name: string, body: unknown = {}): Promise<WorkflowRunView> {
  const started = await api<{ runId: string }>('POST', `/workflows/${name}/runs`, body);
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return poll<WorkflowRunView>(`/workflow-runs/${started.body.runId}`, (r) => r.status !== 'Running');
}

/** The snapshot's blocks as a buffer of the image's size. */
function download(snapshotId: string): Promise<Buffer> {
  return snapshotBytes(aws.ebs, snapshotId, IMAGE_BYTES);
}

async function snapshotTags(snapshotId: string): Promise<Record<string, string> | undefined> {
  const found = await aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: 'snapshot-id', Values: [snapshotId] }],
    }),
  );
  const snapshot = found.Snapshots?.[0];
  if (snapshot === undefined) return undefined;
  return Object.fromEntries((snapshot.Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
}

async function snapshotsOfWorkflow(workflow: string): Promise<string[]> {
  const found = await aws.ec2.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: 'tag:rbp:workflow', Values: [workflow] }],
    }),
  );
  return (found.Snapshots ?? []).map((s) => s.SnapshotId!).sort();
}

/** The volumes attached to the instance besides its root volume (moto attaches one at launch). */
async function attachmentsOf(instance: string): Promise<{ volumeId: string; device: string }[]> {
  return (await allAttachmentsOf(instance)).filter((a) => !rootVolumes.includes(a.volumeId));
}

async function allAttachmentsOf(instance: string): Promise<{ volumeId: string; device: string }[]> {
  const found = await aws.ec2.send(
    new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instance] }] }),
  );
  return (found.Volumes ?? [])
    .flatMap((v) => (v.Attachments ?? []).map((a) => ({ volumeId: v.VolumeId!, device: a.Device! })))
    .sort((a, b) => a.device.localeCompare(b.device));
}

async function volumeExists(id: string): Promise<boolean> {
  const found = await aws.ec2.send(
    new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [id] }] }),
  );
  return (found.Volumes ?? []).length === 1;
}

beforeAll(async () => {
  admin = new LocalAdminClient(local.stack.endpoint);
  workDir = deployment.work;
  const tree = join(workDir, 'tree');
  await mkdir(join(tree, 'etc'), { recursive: true });
  await mkdir(join(tree, 'srv'), { recursive: true });
  await writeFile(join(tree, 'etc', 'shadow'), SHADOW, { mode: 0o640 });
  await writeFile(join(tree, 'etc', 'hostname'), 'web01\n');
  await writeFile(join(tree, 'srv', 'data.txt'), 'production data, version 1\n'.repeat(50_000));
  imagePath = join(workDir, 'web01.img');
  await exec('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', tree, imagePath, `${IMAGE_BYTES / 1024 / 1024}M`]);
  volumeId = (await local.stack.replicas.create({ imagePath, serverId: 'web01' })).volumeId;
  await createMaskingHooks(local.stack.endpoint);
  instanceId = await launchInstance(aws.ec2, ZONE);
  rootVolumes = (await allAttachmentsOf(instanceId)).map((a) => a.volumeId);
}, 300_000);

describe('workflow runs on the local stack', () => {
  let firstImage: string;
  let secondImage: string;
  let firstClone: WorkflowRunView;

  it('a LiveClone run makes a snapshot whose blocks equal the image', async () => {
    firstImage = await backup();
    await createWorkflow({
      name: 'qaclone',
      type: 'LiveClone',
      server: 'web01',
      schedule: { type: 'on-demand' },
      target: { region: 'us-east-1' },
      tags: { team: 'qa' },
    });
    firstClone = await runWorkflow('qaclone');
    expect({ status: firstClone.status, reason: firstClone.reason, images: firstClone.imageIds }).toEqual({
      status: 'Succeeded',
      reason: undefined,
      images: [firstImage],
    });
    expect(firstClone.snapshotIds).toHaveLength(1);
    const clone = await download(firstClone.snapshotIds[0]!);
    expect(differingBlocks(clone, await readFile(imageCopies.get(firstImage)!))).toEqual([]);
    expect(await snapshotTags(firstClone.snapshotIds[0]!)).toMatchObject({
      'rbp:workflow': 'qaclone',
      'rbp:image': firstImage,
      'rbp:run-id': firstClone.runId,
      team: 'qa',
    });
    expect((await snapshotTags(firstClone.snapshotIds[0]!))!['rbp:non-sensitive']).toBeUndefined();
  }, 600_000);

  it('a refresh after another backup puts only the changed blocks; the new clone equals the new image and replaces the old one', async () => {
    const newData = join(workDir, 'data-v2.txt');
    await writeFile(newData, 'production data, version 2\n'.repeat(50_000));
    await changeReplicaFile(
      imagePath,
      { kind: 'write', from: newData, to: '/srv/data.txt' },
      (offset, data) => local.stack.agent.write(volumeId, offset, data),
    );
    secondImage = await backup();
    const before = await readFile(imageCopies.get(firstImage)!);
    const after = await readFile(imageCopies.get(secondImage)!);
    const changed = differingBlocks(before, after);
    expect(changed.length).toBeGreaterThan(0);

    await admin.resetStats();
    const cli = await rbp('workflows', 'run', 'qaclone', '--wait', '--json', '--poll-interval', '1');
    expect(cli.code, cli.stderr).toBe(0);
    const printed = JSON.parse(cli.stdout) as Record<string, unknown>;
    expect(Object.keys(printed).sort()).toEqual(['imageIds', 'runId', 'snapshotIds', 'status', 'workflow']);
    expect(printed).toMatchObject({ workflow: 'qaclone', status: 'Succeeded', imageIds: [secondImage] });
    const stats = await admin.stats();
    const run = (await api<WorkflowRunView>('GET', `/workflow-runs/${printed['runId'] as string}`)).body;
    expect(run.volumes[0]!.parentRestoreId).toBe(firstClone.volumes[0]!.restoreId);
    // Exactly the blocks the delta restore must write: of each 1 MiB chunk that differs between the
    // images, the halves holding data now, and the zero halves where the chunk held data before.
    const expected = deltaRestoreBlocks(before, after);
    expect(expected.length).toBeGreaterThanOrEqual(changed.length);
    expect(stats.requests['ebs:PutSnapshotBlock']).toBe(expected.length);
    expect(run.volumes[0]!.changedBlocksCount).toBe(expected.length);
    const clone = await download(run.snapshotIds[0]!);
    expect(differingBlocks(clone, after)).toEqual([]);
    // The clone it replaces is gone, after the new one was complete; the old run says so.
    expect(await snapshotTags(firstClone.snapshotIds[0]!)).toBeUndefined();
    const old = (await api<WorkflowRunView>('GET', `/workflow-runs/${firstClone.runId}`)).body;
    expect(old.replacedByRunId).toBe(run.runId);
    expect(await snapshotsOfWorkflow('qaclone')).toEqual(run.snapshotIds);
    const listed = await rbp('workflows', 'runs', 'qaclone', '--json');
    expect((JSON.parse(listed.stdout) as { runId: string }[]).map((r) => r.runId)).toEqual([
      run.runId,
      firstClone.runId,
    ]);
  }, 600_000);

  it('a masked LiveClone differs from the image only in the masked file and is flagged non-sensitive', async () => {
    await createWorkflow({
      name: 'qamasked',
      type: 'LiveClone',
      server: 'web01',
      schedule: { type: 'on-demand' },
      target: { region: 'us-east-1' },
      masking: { function: 'maskshadow', timeoutSeconds: 300 },
    });
    const run = await runWorkflow('qamasked');
    expect({ status: run.status, reason: run.reason, nonSensitive: run.nonSensitive }).toEqual({
      status: 'Succeeded',
      reason: undefined,
      nonSensitive: true,
    });
    const image = await readFile(imageCopies.get(secondImage)!);
    const clone = await download(run.snapshotIds[0]!);
    // The shadow file's data block (4 KiB filesystem blocks): every differing byte lies inside it.
    const block = Number(
      (await exec('debugfs', ['-R', 'bmap /etc/shadow 0', imageCopies.get(secondImage)!])).stdout.trim(),
    );
    const start = block * 4096;
    const differing: number[] = [];
    for (let i = 0; i < image.length; i += 1) if (image[i] !== clone[i]) differing.push(i);
    expect(differing.length).toBeGreaterThan(0);
    expect(differing.every((offset) => offset >= start && offset < start + SHADOW.length)).toBe(true);
    expect(await snapshotTags(run.snapshotIds[0]!)).toMatchObject({
      'rbp:workflow': 'qamasked',
      'rbp:non-sensitive': 'true',
      'rbp:image': secondImage,
    });
    // The unmasked restore is deleted: only the masked clone is left.
    expect(run.volumes[0]!.restoredSnapshotId).not.toBe(run.snapshotIds[0]);
    expect(await snapshotTags(run.volumes[0]!.restoredSnapshotId!)).toBeUndefined();
  }, 600_000);

  it('a failing masking hook fails the run and leaves no clone behind', async () => {
    await createWorkflow({
      name: 'qafail',
      type: 'LiveClone',
      server: 'web01',
      schedule: { type: 'on-demand' },
      target: { region: 'us-east-1' },
      masking: { function: 'masknothing', timeoutSeconds: 300 },
    });
    const run = await runWorkflow('qafail');
    expect(run.status).toBe('Failed');
    expect(run.reason).toMatch(/^masking hook masknothing failed: /);
    expect(run.snapshotIds).toEqual([]);
    const restore = (await api<{ status: string }>('GET', `/restores/${run.volumes[0]!.restoreId!}`)).body;
    expect(restore.status).toBe('SUCCEEDED');
    const restored = (await api<{ snapshotId?: string }>('GET', `/restores/${run.volumes[0]!.restoreId!}`))
      .body;
    if (restored.snapshotId !== undefined) expect(await snapshotTags(restored.snapshotId)).toBeUndefined();
    expect(await snapshotsOfWorkflow('qafail')).toEqual([]);
  }, 600_000);

  it('a DirectMount attaches a volume made from the clone; a refresh swaps it; an unmount removes it', async () => {
    await createWorkflow({
      name: 'qamount',
      type: 'DirectMount',
      server: 'web01',
      schedule: { type: 'on-demand' },
      target: { instanceId, availabilityZone: ZONE, device: '/dev/sdf' },
    });
    const first = await runWorkflow('qamount');
    expect({ status: first.status, reason: first.reason }).toEqual({
      status: 'Succeeded',
      reason: undefined,
    });
    expect(first.volumeIds).toHaveLength(1);
    expect(await attachmentsOf(instanceId)).toEqual([{ volumeId: first.volumeIds[0], device: '/dev/sdf' }]);
    const described = await aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: first.volumeIds }));
    expect(described.Volumes![0]!.SnapshotId).toBe(first.snapshotIds[0]);
    expect(described.Volumes![0]!.AvailabilityZone).toBe(ZONE);

    const second = await runWorkflow('qamount');
    expect({ status: second.status, reason: second.reason }).toEqual({
      status: 'Succeeded',
      reason: undefined,
    });
    // The new volume went to the next free name while the old one held /dev/sdf; the old one is gone.
    expect(await attachmentsOf(instanceId)).toEqual([{ volumeId: second.volumeIds[0], device: '/dev/sdg' }]);
    expect(await volumeExists(first.volumeIds[0]!)).toBe(false);
    expect(await snapshotTags(first.snapshotIds[0]!)).toBeUndefined();

    const cli = await rbp(
      'workflows',
      'run',
      'qamount',
      '--unmount',
      '--wait',
      '--json',
      '--poll-interval',
      '1',
    );
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ workflow: 'qamount', status: 'Succeeded' });
    expect(await attachmentsOf(instanceId)).toEqual([]);
    expect(await volumeExists(second.volumeIds[0]!)).toBe(false);
    expect(await snapshotsOfWorkflow('qamount')).toEqual([]);
    const instance = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    expect(instance.Reservations![0]!.Instances![0]!.State!.Name).toBe('running');
  }, 600_000);

  it("a disabled workflow's run is refused with a 400 naming the reason (CLI exit 5), and nothing is started", async () => {
    await createWorkflow({
      name: 'qaoff',
      type: 'LiveClone',
      server: 'web01',
      schedule: { type: 'on-demand' },
      target: { region: 'us-east-1' },
      enabled: false,
    });
    const refused = await api<{ message: string }>('POST', '/workflows/qaoff/runs', {});
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe(
      'workflow qaoff is disabled: its runs are refused until it is enabled again',
    );
    const cli = await rbp('workflows', 'run', 'qaoff', '--wait', '--json');
    expect(cli.code).toBe(5);
    expect(cli.stderr).toContain('workflow qaoff is disabled');
    expect((await api<{ items: unknown[] }>('GET', '/workflows/qaoff/runs')).body.items).toEqual([]);
    expect(await snapshotsOfWorkflow('qaoff')).toEqual([]);
  }, 120_000);
});
