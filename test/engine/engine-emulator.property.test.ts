/**
 * Property, through the HTTP EBS emulator and S3/DynamoDB on moto: random writes and discards on a
 * replica, backed up as a chain of full and incremental images (with list pages forced small and
 * empty, and the replica sometimes replaced by an unrelated copy); every image restores
 * byte-identical to raw bytes, and the last one to a new EBS snapshot in the emulator.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { readSnapshotBlocks, useLocalStack } from '../support/local-stack.ts';
import {
  expectRawRestore,
  nonZeroBlocks,
  shortRealRetry,
  specSegmentHashes,
  type SparseBlocks,
} from './engine-fixture.ts';
import { localEngine, restoreToNewSnapshot, unpacedBackupDeps, type LocalEngine } from './local-engine.ts';
import { ModelledVolume } from './local-volume.ts';
import { EBSClient } from '@aws-sdk/client-ebs';

const local = useLocalStack({ snapshotCompletionDelayMs: 50 });
const B = EBS_BLOCK_SIZE_BYTES;
const MODEL_BYTES = 8 * 1_048_576;
const retry = shortRealRetry(8, 10);

type Change =
  | { op: 'write'; offset: number; length: number; kind: 'random' | 'zeros' | 'text' }
  | { op: 'discard'; block: number; count: number };

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('write' as const),
      offset: fc.oneof(
        fc.integer({ min: 0, max: 15 }).map((h) => h * B),
        fc.integer({ min: 0, max: MODEL_BYTES - 1 }),
      ),
      length: fc.oneof(fc.constant(B), fc.integer({ min: 1, max: 3 * B })),
      kind: fc.constantFrom('random' as const, 'zeros' as const, 'text' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('discard' as const),
      block: fc.integer({ min: 0, max: 15 }),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
);

const scenarioArb = fc.record({
  initial: fc.array(changeArb, { minLength: 1, maxLength: 5 }),
  epochs: fc.array(
    fc.record({ changes: fc.array(changeArb, { minLength: 1, maxLength: 4 }), replace: fc.boolean() }),
    {
      minLength: 1,
      maxLength: 3,
    },
  ),
  // Blocks per list page in the emulator: small windows force empty pages with a NextToken.
  pageWindow: fc.constantFrom(256, 10_000),
});

let dir: string;
let engine: LocalEngine;
let raw: EBSClient;
let scenarioCounter = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbp-engine-prop-'));
  engine = await localEngine(local.clientConfig(), { bucket: 'rbp-prop', table: 'rbp-prop' }, retry);
  raw = new EBSClient(local.clientConfig());
});

afterAll(async () => {
  engine.destroy();
  raw.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function apply(volume: ModelledVolume, change: Change): Promise<void> {
  if (change.op === 'discard') {
    // A discard running past the end of the modelled volume stops at its end, like a write.
    const count = Math.min(change.count, MODEL_BYTES / B - change.block);
    await volume.discard(change.block * B, count * B);
    return;
  }
  const length = Math.min(change.length, MODEL_BYTES - change.offset);
  const data =
    change.kind === 'random'
      ? randomBytes(length)
      : change.kind === 'zeros'
        ? Buffer.alloc(length)
        : Buffer.alloc(length, `text at ${change.offset}\n`);
  await volume.write(change.offset, data);
}

describe('backup chains through the EBS emulator (property)', () => {
  it('every image restores byte-identical, to raw bytes and to a new EBS snapshot', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ initial, epochs, pageWindow }) => {
        scenarioCounter += 1;
        const productVolumeId = `vol-prop-${scenarioCounter}`;
        local.stack.gateway.setFaults({ listPageBlockWindow: pageWindow });
        let volume = await ModelledVolume.create(
          local.stack,
          dir,
          `p${scenarioCounter}`,
          Buffer.alloc(MODEL_BYTES),
        );
        for (const change of initial) await apply(volume, change);
        const images: { manifest: ImageManifest; blocks: SparseBlocks }[] = [];
        let parent: string | undefined;
        for (const [index, epoch] of [{ changes: [], replace: false }, ...epochs].entries()) {
          for (const change of epoch.changes) await apply(volume, change);
          if (epoch.replace) {
            volume = await ModelledVolume.create(
              local.stack,
              dir,
              `p${scenarioCounter}-${index}`,
              volume.model,
            );
          }
          const snapshot = await volume.snapshot(engine.ec2Client, engine.snapshotState);
          const imageId = `img-${index}`;
          const { manifest } = await runBackup(unpacedBackupDeps(engine), {
            volumeId: productVolumeId,
            imageId,
            snapshotId: snapshot.snapshotId,
            volumeSizeGib: 1,
            createdAt: new Date(Date.UTC(2026, 1, 1, 0, index)).toISOString(),
            ...(parent === undefined ? {} : { parent: { imageId: parent } }),
            worker: { listMaxResults: 100, retry },
          });
          expect(manifest.kind).toBe(parent === undefined || epoch.replace ? 'full' : 'incremental');
          if (epoch.replace) expect(manifest.fullReadReason).toBe('UNRELATED_SNAPSHOTS');
          expect(manifest.segments).toEqual(specSegmentHashes(snapshot.blocks, GIB_BYTES));
          images.push({ manifest, blocks: snapshot.blocks });
          parent = imageId;
        }
        for (const image of images) {
          await expectRawRestore(engine.images, image.manifest, image.blocks, { checkSize: false });
        }
        const last = images[images.length - 1]!;
        const restored = await restoreToNewSnapshot(
          engine,
          last.manifest,
          `${productVolumeId}-restore`,
          retry,
        );
        const expected = nonZeroBlocks(last.blocks);
        const got = await readSnapshotBlocks(raw, restored.snapshotId);
        expect([...got.keys()]).toEqual(expected.map(([index]) => index));
        for (const [index, data] of expected) expect(got.get(index)!.equals(data)).toBe(true);
        local.stack.gateway.setFaults({});
      }),
      // Each run takes seconds through moto: report the first counterexample rather than
      // shrinking it past the test's time limit (which would hide it behind a timeout).
      { numRuns: 3, endOnFailure: true },
    );
  }, 120_000);
});
