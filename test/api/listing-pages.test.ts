/**
 * GET /volumes and GET /volumes/{id}/images page in the store (RecordDirectories over the image
 * record store): each page reads only what it shows, the cursor carries the store's position
 * (nothing in memory: a second directory over the same store with a codec of the same key goes
 * on from it), and the status filter never makes a page longer than its limit.
 */
import { describe, expect, it } from 'vitest';
import { CursorCodec } from '../../lambdas/core/api/cursor.ts';
import { pageOfStore, storeTokenOf } from '../../lambdas/core/api/pagination.ts';
import { RecordDirectories } from '../../lambdas/core/api/record-directories.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';

const KEY = Buffer.alloc(32, 7);

function record(volumeId: string, n: number): ImageRecord {
  const imageId = `img-${volumeId}-${n}`;
  return {
    volumeId,
    imageId,
    createdAt: new Date(Date.UTC(2026, 0, 1, n)).toISOString(),
    kind: n === 0 ? 'full' : 'incremental',
    formatVersion: 1,
    snapshotId: `snap-${imageId}`,
    volumeSizeBytes: 1_073_741_824,
    manifestKey: `images/${volumeId}/${imageId}.json`,
    manifestSha256: 'ef'.repeat(32),
    stats: { chunksCreated: 1, bytesCreated: 1, blocksRead: 1 },
  };
}

async function world() {
  const records = new MemoryImageRecordStore();
  for (let n = 0; n < 6; n += 1) await records.putImageRecord(record('vol-a', n));
  await records.putImageRecord(record('vol-c', 0));
  const directories = () =>
    new RecordDirectories({
      replicas: {
        listReplicaVolumes: () =>
          Promise.resolve([{ volumeId: 'vol-c' }, { volumeId: 'vol-a' }, { volumeId: 'vol-b' }]),
      },
      records,
      // Odd-numbered images are catalogued.
      cataloged: (r) => Promise.resolve(Number(r.imageId.slice(-1)) % 2 === 1),
    });
  return { records, directories };
}

describe('listings page in the store', () => {
  it('GET /volumes: a page of volumes by id with their counts and newest image; the cursor goes on after a restart', async () => {
    const { directories } = await world();
    const scope = 'listVolumes';
    const first = pageOfStore(await directories().pageVolumes({ limit: 2 }), scope, new CursorCodec(KEY));
    expect(first.items).toEqual([
      {
        volumeId: 'vol-a',
        imageCount: 6,
        latestImageId: 'img-vol-a-5',
        latestImageAt: '2026-01-01T05:00:00.000Z',
      },
      { volumeId: 'vol-b', imageCount: 0 },
    ]);
    // A new process: a new directory and codec (same key), nothing carried over but the cursor.
    const token = storeTokenOf({ limit: 2, cursor: first.nextCursor }, scope, new CursorCodec(KEY));
    const second = await directories().pageVolumes({
      limit: 2,
      ...(token === undefined ? {} : { pageToken: token }),
    });
    expect(second.items.map((v) => v.volumeId)).toEqual(['vol-c']);
    expect(second.nextToken).toBeUndefined();
  });

  it('GET /volumes/{id}/images: newest first, a page never longer than its limit with a status filter', async () => {
    const { directories } = await world();
    const seen: string[][] = [];
    let pageToken: string | undefined;
    do {
      const page = await directories().pageImages(
        'vol-a',
        { status: 'cataloged' },
        { limit: 2, ...(pageToken === undefined ? {} : { pageToken }) },
      );
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(page.items.map((i) => i.imageId));
      pageToken = page.nextToken;
    } while (pageToken !== undefined);
    expect(seen.flat()).toEqual(['img-vol-a-5', 'img-vol-a-3', 'img-vol-a-1']);
    const window = await directories().pageImages(
      'vol-a',
      { from: '2026-01-01T01:00:00.000Z', to: '2026-01-01T03:00:00.000Z', kind: 'incremental' },
      { limit: 10 },
    );
    expect(window.items.map((i) => i.imageId)).toEqual(['img-vol-a-3', 'img-vol-a-2', 'img-vol-a-1']);
  });

  it('GET /volumes/{id}/images of a volume that is neither protected nor has images is a NotFoundError', async () => {
    const { directories } = await world();
    await expect(directories().pageImages('vol-x', {}, { limit: 5 })).rejects.toThrow(
      'volume vol-x is not a protected replica volume',
    );
    expect((await directories().pageImages('vol-b', {}, { limit: 5 })).items).toEqual([]);
  });
});
