/**
 * A real backup (backup.asl.json in moto's Step Functions, the real handlers through the local
 * gateway) interleaved with a garbage collection over the same table and bucket: a collection takes
 * the fence, a backup started meanwhile cannot commit (Commit Image fails with
 * CollectionInProgressError, which the state machine retries every minute); when the collection
 * ends the commit passes the gate (verifying what it reuses) and the image restores byte for byte;
 * a second collection then leaves exactly the chunks
 * the two images reference. Then the replica volume is deleted from EC2 (as AWS DRS does when a
 * source server is disconnected): a collection with the lifecycle jobs' own live set (registered
 * volumes and tagged ones) deletes nothing, and both images still restore byte for byte.
 */
import '../support/quiet-powertools.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { DeleteVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { join } from 'node:path';
import { GetExecutionHistoryCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbGcCoordination } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { Ec2ReplicaVolumes } from '../../lambdas/aws/ec2-replica-volumes.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { CHUNK_KEY_PREFIX } from '../../lambdas/core/image/image-types.ts';
import { runGc, type GcDeps } from '../../lambdas/core/lifecycle/gc.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { MemoryCheckpoints } from '../fakes/memory-lifecycle.ts';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import {
  chunkObjectKeys,
  readImage,
  referencedChunks,
  useDeployedProduct,
} from '../support/local-product.ts';

const deployment = useDeployedProduct('gc-backup', {
  snapshotCompletionDelayMs: 300,
  handlerEnv: { RANGE_WORKERS: '2' },
});
/** The replica's data: 4 MiB of a 1 GiB volume (the rest never written). */
const DATA_BYTES = GIB_BYTES / 256;

let sfn: SFNClient;
let volumeId: string;
let gc: Omit<GcDeps, 'checkpoints'>;

/** A backup's commit waits out a collection by retrying once a minute, so a backup may run minutes. */
const BACKUP_WAIT: ExecutionWait = { timeoutMs: 300_000, pollMs: 250 };

function startBackup(name: string): Promise<string> {
  return sfn
    .send(
      new StartExecutionCommand({
        stateMachineArn: deployment.product.stateMachineArn,
        name,
        input: JSON.stringify({
          volumeIds: [volumeId],
          syncWait: { intervalSeconds: 1, timeoutSeconds: 60 },
          snapshotWait: { intervalSeconds: 1, timeoutSeconds: 120 },
        }),
      }),
    )
    .then((started) => started.executionArn!);
}

/** Errors of the execution's failed Lambda tasks, in order. */
async function taskErrors(executionArn: string): Promise<string[]> {
  const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return (history.events ?? []).flatMap((event) =>
    event.taskFailedEventDetails?.error !== undefined
      ? [event.taskFailedEventDetails.error]
      : event.lambdaFunctionFailedEventDetails?.error !== undefined
        ? [event.lambdaFunctionFailedEventDetails.error]
        : [],
  );
}

function imageBytes(imageId: string): Promise<Buffer> {
  return readImage(deployment.engine, volumeId, imageId, DATA_BYTES);
}

beforeAll(async () => {
  sfn = new SFNClient(deployment.local.clientConfig({ maxAttempts: 3 }));
  const { engine, product, work } = deployment;
  const disk = Buffer.alloc(DATA_BYTES);
  disk.write('first version of the data', 3 * EBS_BLOCK_SIZE_BYTES);
  await writeFile(join(work, 'disk.img'), disk);
  volumeId = (await deployment.stack.replicas.create({ imagePath: join(work, 'disk.img') })).volumeId;
  gc = {
    objects: deployment.objects,
    records: new DynamoDbLifecycleImageRecords(engine.ddbClient, product.names.table, () =>
      Promise.resolve(new Map([[volumeId, undefined]])),
    ),
    coordination: new DynamoDbGcCoordination(engine.ddbClient, product.names.table),
    clock: systemClock,
  };
}, 180_000);

afterAll(() => sfn?.destroy());

/** The original and the second version of the replica's data, as the two images hold them. */
function versions(): { first: Buffer; second: Buffer } {
  const first = Buffer.alloc(DATA_BYTES);
  first.write('first version of the data', 3 * EBS_BLOCK_SIZE_BYTES);
  const second = Buffer.from(first);
  second.write(SECOND, 5 * EBS_BLOCK_SIZE_BYTES);
  return { first, second };
}
const SECOND = 'second version of the data, written while a collection runs';

describe('garbage collection next to a running backup on the local stack', () => {
  it('a commit waits for the collection holding the fence, then passes the gate; the image restores byte for byte', async () => {
    const first = await executionEnded(sfn, await startBackup('gc-first'), BACKUP_WAIT);
    expect({ status: first.status, cause: first.cause }).toEqual({ status: 'SUCCEEDED', cause: undefined });

    // A collection takes the fence (its first step) and stops there, as a slow mark phase would.
    const checkpoints = new MemoryCheckpoints();
    const started = await runGc({ ...gc, checkpoints }, { runId: 'gc-during-backup', maxSteps: 1 });
    expect(started.phase).toBe('mark');
    expect(await gc.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'collecting' });

    const second = SECOND;
    await deployment.stack.agent.write(volumeId, 5 * EBS_BLOCK_SIZE_BYTES, new TextEncoder().encode(second));
    const execution = await startBackup('gc-second');
    // Wait until Commit Image has been refused at least once by the fence.
    for (
      let attempt = 0;
      attempt < 600 && !(await taskErrors(execution)).includes('CollectionInProgressError');
      attempt += 1
    ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(await taskErrors(execution)).toContain('CollectionInProgressError');
    await expect(deployment.engine.records.getImageRecord(volumeId, 'img-gc-second')).rejects.toThrow(
      'does not exist',
    );

    const finished = await runGc({ ...gc, checkpoints }, { runId: 'gc-during-backup' });
    expect(finished.status).toBe('complete');
    expect(await gc.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'idle' });

    const done = await executionEnded(sfn, execution, BACKUP_WAIT);
    expect({ status: done.status, cause: done.cause }).toEqual({ status: 'SUCCEEDED', cause: undefined });
    const expected = Buffer.from(await readFile(join(deployment.work, 'disk.img')));
    expected.write(second, 5 * EBS_BLOCK_SIZE_BYTES);
    expect((await imageBytes('img-gc-second')).equals(expected)).toBe(true);
    const original = Buffer.alloc(DATA_BYTES);
    original.write('first version of the data', 3 * EBS_BLOCK_SIZE_BYTES);
    expect((await imageBytes('img-gc-first')).equals(original)).toBe(true);

    // A second collection keeps exactly the chunks the two images reference.
    const again = await runGc({ ...gc, checkpoints }, { runId: 'gc-after', safetyMarginMs: 0 });
    expect(again.status).toBe('complete');
    const referenced = await referencedChunks(deployment.engine, volumeId, ['img-gc-first', 'img-gc-second']);
    expect((await chunkObjectKeys(deployment.objects)).sort()).toEqual(
      [...referenced].map((n) => `${CHUNK_KEY_PREFIX}${n}`).sort(),
    );
    expect(again.chunksLive).toBe(referenced.size);
  }, 600_000);

  it('a collection after the replica volume is deleted from EC2 keeps every object of its images', async () => {
    const ec2 = new EC2Client(deployment.local.clientConfig({ maxAttempts: 3 }));
    const replicas = new Ec2ReplicaVolumes(ec2);
    // The lifecycle jobs' records port as the wiring builds it (tags from EC2 now, plus the
    // registry), without the backfill: the registry items here are the ones Commit Image wrote.
    const records = new DynamoDbLifecycleImageRecords(
      deployment.engine.ddbClient,
      deployment.product.names.table,
      async () => new Map((await replicas.listReplicaVolumes()).map((r) => [r.volumeId, r.serverId])),
    );
    const tag = (await replicas.findReplicaVolume(volumeId))?.serverId;
    const before = await records.listImages();
    expect(before.map((i) => [i.volumeId, i.imageId, i.status])).toEqual([
      [volumeId, 'img-gc-first', 'live'],
      [volumeId, 'img-gc-second', 'live'],
    ]);
    // The run files its images under the volume's server tag, or the volume itself when untagged.
    const serverId = tag ?? volumeId;
    expect(before.map((i) => i.serverId)).toEqual([serverId, serverId]);

    await ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    expect(await replicas.findReplicaVolume(volumeId)).toBeUndefined();
    const after = await records.listImages();
    expect(after.map((i) => [i.imageId, i.status, i.serverId])).toEqual([
      ['img-gc-first', 'live', serverId],
      ['img-gc-second', 'live', serverId],
    ]);

    const chunksBefore = (await chunkObjectKeys(deployment.objects)).sort();
    const result = await runGc(
      { ...gc, records, checkpoints: new MemoryCheckpoints() },
      { runId: 'gc-replica-gone', safetyMarginMs: 0 },
    );
    expect({
      status: result.status,
      chunksDeleted: result.chunksDeleted,
      segmentsDeleted: result.segmentsDeleted,
      manifestsDeleted: result.counters.manifestsDeleted,
      imagesMarked: result.counters.imagesMarked,
    }).toEqual({
      status: 'complete',
      chunksDeleted: 0,
      segmentsDeleted: 0,
      manifestsDeleted: 0,
      imagesMarked: 2,
    });
    expect((await chunkObjectKeys(deployment.objects)).sort()).toEqual(chunksBefore);
    const { first, second } = versions();
    expect((await imageBytes('img-gc-first')).equals(first)).toBe(true);
    expect((await imageBytes('img-gc-second')).equals(second)).toBe(true);
    ec2.destroy();
  }, 300_000);
});
