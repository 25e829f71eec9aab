/**
 * Restored snapshots carry a KMS key: restoreImageToSnapshot through the real EBS adapter
 * (EbsSnapshots over @aws-sdk/client-ebs) into the EBS emulator sends Encrypted + KmsKeyArn, and
 * the emulator records the key on the new snapshot; a child started from an encrypted parent
 * with another key carries that key; without a key the snapshot is unencrypted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { restoreImageToSnapshot } from '../../lambdas/core/restore/volume-restore.ts';
import { startEbsEmulatorServer, type EbsEmulatorServer } from '../../local/ebs/ebs-server.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { buildTestImage, patternedChunk } from './volume-restore-images.ts';

const STACK_KEY = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const CALLER_KEY = 'arn:aws:kms:us-east-1:123456789012:key/99999999-8888-7777-6666-555555555555';

let dir: string;
let server: EbsEmulatorServer;
let client: EBSClient;
let manifest: ImageManifest;
const images = new ImageStore(new MemoryObjectStore());

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbp-restore-kms-'));
  server = await startEbsEmulatorServer({ stateDir: dir, completeSnapshotDelayMs: 0 });
  client = new EBSClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
  ({ manifest } = await buildTestImage(images, {
    volumeId: 'vol-0123456789abcdef0',
    imageId: 'img-kms',
    volumeSizeBytes: GIB_BYTES,
    chunks: [0, 7],
    content: (chunk) => patternedChunk(1, chunk),
  }));
});

afterAll(async () => {
  client.destroy();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

function restore(restoreId: string, extra: { kmsKeyArn?: string } = {}) {
  return restoreImageToSnapshot(
    { images, writer: new EbsSnapshots(client), nowMs: () => performance.now(), retry: fastRetry() },
    { manifest, restoreId, ...extra },
  );
}

function summary(snapshotId: string) {
  const found = server.emulator.listSnapshots().find((s) => s.snapshotId === snapshotId);
  if (found === undefined) throw new Error(`no snapshot ${snapshotId}`);
  return { encrypted: found.encrypted, kmsKeyArn: found.kmsKeyArn, blockCount: found.blockCount };
}

describe('KMS on restored snapshots', () => {
  it('encrypts the restored snapshot with the key it is given', async () => {
    const result = await restore('rs-kms-stack', { kmsKeyArn: STACK_KEY });
    expect(result.changedBlocksCount).toBe(4);
    expect(summary(result.snapshotId)).toEqual({ encrypted: true, kmsKeyArn: STACK_KEY, blockCount: 4 });
  });

  it('a caller-named key wins, and a restore without a key is unencrypted', async () => {
    const named = await restore('rs-kms-caller', { kmsKeyArn: CALLER_KEY });
    expect(summary(named.snapshotId).kmsKeyArn).toBe(CALLER_KEY);
    const plain = await restore('rs-kms-none');
    expect(summary(plain.snapshotId)).toEqual({ encrypted: undefined, kmsKeyArn: undefined, blockCount: 4 });
  });

  it('a child of an encrypted parent sends only KmsKeyArn and carries that key', async () => {
    const parent = await restore('rs-kms-parent', { kmsKeyArn: STACK_KEY });
    const writer = new EbsSnapshots(client);
    const child = await writer.startSnapshot({
      volumeSizeGib: 1,
      clientToken: 'rbp-kms-child',
      timeoutMinutes: 60,
      parentSnapshotId: parent.snapshotId,
      kmsKeyArn: CALLER_KEY,
    });
    expect(summary(child.snapshotId)).toMatchObject({ encrypted: true, kmsKeyArn: CALLER_KEY });
  });
});
