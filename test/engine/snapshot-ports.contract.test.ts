/**
 * The snapshot ports contract (snapshot-ports.contract.ts) against the in-memory fake and against
 * the real adapter (EbsSnapshots over @aws-sdk/client-ebs) on the EBS emulator, each plainly and
 * with empty list pages injected.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { startEbsEmulatorServer } from '../../local/ebs/ebs-server.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { sdkClient } from '../local/ebs-test-support.ts';
import { describeSnapshotPortsContract, type SnapshotPortsHarness } from './snapshot-ports.contract.ts';

/** Every second list page comes back empty with a NextToken, as EBS may answer for sparse volumes. */
const EMPTY_PAGE_EVERY = 2;
/** Block indexes one emulator page scans: small, so the contract's sparse volumes get empty pages. */
const SMALL_PAGE_WINDOW = 64;
/** How often untilCompleted looks at the emulator's snapshot status. */
const COMPLETION_POLL_MS = 20;

function memoryHarness(emptyPages: boolean): SnapshotPortsHarness {
  const ebs = new MemoryEbs();
  const baseFaults = emptyPages ? { emptyPageEvery: EMPTY_PAGE_EVERY } : {};
  ebs.faults = { ...baseFaults };
  let volumes = 0;
  return {
    ports: ebs,
    exactPages: !emptyPages,
    newVolume: (sizeGib) => {
      volumes += 1;
      const volumeId = `vol-contract${volumes}`;
      ebs.createVolume(volumeId, sizeGib);
      return Promise.resolve({
        write: (blockIndex, data) =>
          Promise.resolve(ebs.write(volumeId, blockIndex * EBS_BLOCK_SIZE_BYTES, data)),
        discard: (indexes) => Promise.resolve(ebs.discard(volumeId, indexes)),
        snapshot: () => Promise.resolve(ebs.createSnapshot(volumeId)),
      });
    },
    untilCompleted: () => Promise.resolve(),
    corruptReads: () => {
      ebs.faults = { ...baseFaults, corruptRate: 1 };
    },
    throttleReads: () => {
      ebs.faults = { ...baseFaults, throttleRate: 1 };
    },
    clearFaults: () => {
      ebs.faults = { ...baseFaults };
    },
    close: () => Promise.resolve(),
  };
}

async function emulatorHarness(emptyPages: boolean): Promise<SnapshotPortsHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'rbp-snapshot-ports-'));
  const server = await startEbsEmulatorServer({ stateDir: join(dir, 'state'), completeSnapshotDelayMs: 0 });
  const client = sdkClient(server.endpoint);
  const baseFaults = { listPageBlockWindow: emptyPages ? SMALL_PAGE_WINDOW : 65_536 };
  server.emulator.setFaults(baseFaults);
  let volumes = 0;
  return {
    ports: new EbsSnapshots(client),
    exactPages: !emptyPages,
    newVolume: async (sizeGib) => {
      volumes += 1;
      const volumeId = `vol-contract${volumes}`;
      const imagePath = join(dir, `${volumeId}.img`);
      await writeFile(imagePath, '');
      await truncate(imagePath, sizeGib * GIB_BYTES);
      const writeAt = async (blockIndex: number, data: Buffer) => {
        const file = await open(imagePath, 'r+');
        try {
          await file.write(data, 0, data.length, blockIndex * EBS_BLOCK_SIZE_BYTES);
        } finally {
          await file.close();
        }
      };
      return {
        write: async (blockIndex, data) => {
          await writeAt(blockIndex, data);
          await server.emulator.markBlocksWritten(volumeId, [blockIndex]);
        },
        discard: async (indexes) => {
          for (const index of indexes) await writeAt(index, Buffer.alloc(EBS_BLOCK_SIZE_BYTES));
          await server.emulator.discardBlocks(volumeId, indexes);
        },
        snapshot: async () => {
          const snapshotId = `snap-${randomBytes(8).toString('hex')}`;
          await server.emulator.freezeVolumeImage({
            snapshotId,
            volumeId,
            imagePath,
            volumeSizeGib: sizeGib,
            completeAfterMs: 0,
          });
          return snapshotId;
        },
      };
    },
    untilCompleted: async (snapshotId) => {
      while (server.emulator.snapshotStatus(snapshotId) !== 'completed') {
        await new Promise((resolve) => setTimeout(resolve, COMPLETION_POLL_MS));
      }
    },
    corruptReads: () => server.emulator.setFaults({ corruptBlockDataRate: 1 }),
    throttleReads: () => server.emulator.setFaults({ perSnapshotRequestsPerSecond: 1 }),
    clearFaults: () =>
      server.emulator.setFaults({
        ...baseFaults,
        corruptBlockDataRate: 0,
        perSnapshotRequestsPerSecond: Number.POSITIVE_INFINITY,
      }),
    close: async () => {
      client.destroy();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describeSnapshotPortsContract('MemoryEbs', () => Promise.resolve(memoryHarness(false)));
describeSnapshotPortsContract('MemoryEbs with empty pages', () => Promise.resolve(memoryHarness(true)));
describeSnapshotPortsContract('EbsSnapshots on the EBS emulator', () => emulatorHarness(false));
describeSnapshotPortsContract('EbsSnapshots on the EBS emulator with empty pages', () =>
  emulatorHarness(true),
);
