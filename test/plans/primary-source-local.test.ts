/**
 * Replica or primary, on the local stack with real ext4 disks, the real backup state machine and
 * handlers: server QA1 has a replica (`rbp local replica create`) and a primary (`rbp local
 * primary create`) with different contents. The source is chosen from the server's state as a
 * plan task chooses it (`selectSource` over the EC2 server view), and the backup runs with that
 * source (the execution input's `source`, what a plan task starts):
 *
 * - a stalled replica with prefer-replica is backed up from the primary: the image equals the
 *   primary byte for byte, its record says `source: primary`;
 * - with replica-only the task fails with the reason (no backup starts);
 * - a healthy replica with prefer-primary uses the primary (an incremental of the first primary
 *   image), with prefer-replica the replica (a full image: a primary image is never the parent of
 *   a replica image), equal to the replica byte for byte.
 */
import '../support/quiet-powertools.ts';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { SFNClient, StartExecutionCommand, type DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { createSdkClients, type SdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { SourcePreference } from '../../lambdas/core/plans/plan-document.ts';
import { serversFromVolumes, type ServerView } from '../../lambdas/core/plans/servers.ts';
import { selectSource } from '../../lambdas/core/plans/source-selection.ts';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { makeExtImage, prng, randomBytes } from '../support/fs-images.ts';
import { useDeployedProduct } from '../support/local-product.ts';

/** Big enough for a real ext4 with a journal, small enough for moto on a loaded machine. */
const DISK_BYTES = 32 * 1024 * 1024;
/** The activity default (docs/plans.md). */
const MAX_LAG_SECONDS = 60;
/** Ten minutes for a backup of a 32 MiB ext4 disk on a loaded machine (each test allows 900 s). */
const BACKUP_WAIT: ExecutionWait = { timeoutMs: 600_000, pollMs: 500 };

const deployment = useDeployedProduct('primary-source', { handlerEnv: { RANGE_WORKERS: '2' } });
const local = deployment.local;
let clients: SdkClients;
let sfn: SFNClient;
let work: string;
let replicaVolumeId: string;
let primaryVolumeId: string;
let replicaImage: Buffer;
let primaryImage: Buffer;

beforeAll(async () => {
  // The control profile, so the SDK retries a transient failure (3 attempts): the engine profile
  // makes one attempt whatever maxAttempts says (lambdas/aws/sdk-clients.ts), and one reset
  // connection or 5xx from the loaded local stack would fail a decision at once.
  clients = createSdkClients('control', { ...local.clientConfig(), maxAttempts: 3 });
  sfn = new SFNClient(local.clientConfig({ maxAttempts: 3 }));
  work = deployment.work;
  const rand = prng(4);
  const disks: Record<string, Record<string, Uint8Array | string>> = {
    replica: { 'etc/hostname': 'qa1\n', 'srv/data.bin': randomBytes(rand, 400_000) },
    primary: {
      'etc/hostname': 'qa1\n',
      'srv/data.bin': randomBytes(rand, 400_000),
      'srv/written-after-the-replica-stalled.bin': randomBytes(rand, 700_000),
    },
  };
  const paths: Record<string, string> = {};
  for (const [name, files] of Object.entries(disks)) {
    const source = join(work, name);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(source, path, '..'), { recursive: true });
      await writeFile(join(source, path), content);
    }
    paths[name] = join(work, `${name}.img`);
    await makeExtImage(paths[name], { type: 'ext4', sizeBytes: DISK_BYTES, sourceDir: source, label: name });
  }
  replicaImage = await readFile(paths.replica!);
  primaryImage = await readFile(paths.primary!);
  replicaVolumeId = (await local.stack.replicas.create({ imagePath: paths.replica!, serverId: 'QA1' }))
    .volumeId;
  primaryVolumeId = (await local.stack.replicas.createPrimary({ imagePath: paths.primary!, serverId: 'QA1' }))
    .volumeId;
}, 300_000);

afterAll(() => {
  sfn?.destroy();
});

async function server(): Promise<ServerView> {
  const { Volumes = [] } = await clients.ec2.send(
    new DescribeVolumesCommand({ VolumeIds: [replicaVolumeId] }),
  );
  const [view] = serversFromVolumes(
    Volumes.map((v) => ({
      volumeId: v.VolumeId!,
      tags: Object.fromEntries((v.Tags ?? []).map((t) => [t.Key!, t.Value!])),
    })),
  );
  return view!;
}

async function decide(preference: SourcePreference) {
  return selectSource(await server(), preference, MAX_LAG_SECONDS);
}

async function backUp(name: string, source: 'replica' | 'primary'): Promise<DescribeExecutionCommandOutput> {
  const started = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: deployment.product.stateMachineArn,
      name,
      input: JSON.stringify({ serverId: 'QA1', volumeIds: [replicaVolumeId], source, trigger: 'plan:test' }),
    }),
  );
  return executionEnded(sfn, started.executionArn!, BACKUP_WAIT);
}

async function imageBytes(imageId: string): Promise<{ bytes: Buffer; record: unknown }> {
  const records = new DynamoDbImageRecordStore(clients.documents, deployment.product.names.table);
  const record = await records.getImageRecord(replicaVolumeId, imageId);
  const images = new ImageStore(new S3ObjectStore(clients.s3, deployment.product.names.imageBucket));
  const reader = new ImageReader(
    images,
    await images.getManifest(replicaVolumeId, imageId, record.manifestSha256),
  );
  return { bytes: Buffer.from(await reader.read(0, DISK_BYTES)), record };
}

describe('replica or primary on the local stack', () => {
  it('backs up a stalled replica under prefer-replica from the primary, byte for byte', async () => {
    await local.stack.agent.reportReplication('QA1', { replication: 'stalled' });
    const decision = await decide('prefer-replica');
    expect(decision).toEqual({
      ok: true,
      source: 'primary',
      why: 'replica of QA1 is stalled; prefer-replica falls back to the primary',
    });
    const run = await backUp('seed004-stalled', 'primary');
    expect(run.status, run.cause ?? run.error).toBe('SUCCEEDED');
    const { bytes, record } = await imageBytes('img-seed004-stalled');
    expect(record).toMatchObject({ source: 'primary', kind: 'full', imageId: 'img-seed004-stalled' });
    expect(bytes.equals(primaryImage), 'the image is the primary byte for byte').toBe(true);
    expect(bytes.equals(replicaImage)).toBe(false);
    // The snapshot read was one of the primary volume, taken with CreateSnapshots of QA1's instance.
    const snapshotVolume = local.stack.emulator.snapshotStatus((record as { snapshotId: string }).snapshotId);
    expect(snapshotVolume).toBeDefined();
    expect(local.stack.gateway.stats().requests['ec2:CreateSnapshots']).toBe(1);
  }, 900_000);

  it('fails a replica-only task on a stalled replica with the reason, before any backup', async () => {
    // Each test reports the replication state it needs: none relies on what an earlier one left.
    await local.stack.agent.reportReplication('QA1', { replication: 'stalled' });
    expect(await decide('replica-only')).toEqual({
      ok: false,
      reason: 'replica of QA1 is stalled; source replica-only does not allow the primary',
    });
  });

  it('uses the primary under prefer-primary on a healthy replica, incrementally on the primary lineage', async () => {
    await local.stack.agent.reportReplication('QA1', { replication: 'in-sync' });
    expect(await decide('prefer-primary')).toMatchObject({ ok: true, source: 'primary' });
    const run = await backUp('seed004-prefer-primary', 'primary');
    expect(run.status, run.cause ?? run.error).toBe('SUCCEEDED');
    const { bytes, record } = await imageBytes('img-seed004-prefer-primary');
    expect(record).toMatchObject({
      source: 'primary',
      kind: 'incremental',
      parentImageId: 'img-seed004-stalled',
    });
    expect(bytes.equals(primaryImage)).toBe(true);
  }, 900_000);

  it('uses the replica under prefer-replica on a healthy replica: a full image, never a child of a primary image', async () => {
    await local.stack.agent.reportReplication('QA1', { replication: 'in-sync' });
    expect(await decide('prefer-replica')).toEqual({
      ok: true,
      source: 'replica',
      why: 'replica replicates properly',
    });
    const run = await backUp('seed004-prefer-replica', 'replica');
    expect(run.status, run.cause ?? run.error).toBe('SUCCEEDED');
    const { bytes, record } = await imageBytes('img-seed004-prefer-replica');
    expect(record).toMatchObject({ source: 'replica', kind: 'full' });
    expect((record as { parentImageId?: string }).parentImageId).toBeUndefined();
    expect(bytes.equals(replicaImage), 'the image is the replica byte for byte').toBe(true);
    expect(primaryVolumeId).toMatch(/^vol-/);
  }, 900_000);

  it('takes source: primary on POST /backups and shows the image source on GET /images/{id}', async () => {
    const accepted = await fetch(`${deployment.product.apiUrl}/backups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serverId: 'QA1', source: 'primary' }),
    });
    expect(accepted.status).toBe(202);
    const { backupId } = (await accepted.json()) as { backupId: string };
    const deadline = Date.now() + 600_000;
    let status = 'RUNNING';
    while (status === 'RUNNING' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      status = (
        (await (await fetch(`${deployment.product.apiUrl}/backups/${backupId}`)).json()) as { status: string }
      ).status;
    }
    expect(status).toBe('SUCCEEDED');
    const image = (await (
      await fetch(`${deployment.product.apiUrl}/images/img-${backupId}`)
    ).json()) as Record<string, unknown>;
    expect(image).toMatchObject({ imageId: `img-${backupId}`, source: 'primary', kind: 'incremental' });
    const replicaImage = (await (
      await fetch(`${deployment.product.apiUrl}/images/img-seed004-prefer-replica`)
    ).json()) as Record<string, unknown>;
    expect(replicaImage).toMatchObject({ source: 'replica' });
    const refused = await fetch(`${deployment.product.apiUrl}/backups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serverId: 'QA1', source: 'secondary' }),
    });
    expect(refused.status).toBe(400);
  }, 900_000);
});
