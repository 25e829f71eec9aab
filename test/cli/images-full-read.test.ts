/**
 * An image whose backup fell back to a full read (its parent's snapshot unrelated, gone, or of
 * another size) says so where an operator looks: the API's image (from the record, as
 * record-directories.ts projects it), `rbp images ls` (KIND `full (REASON)`, the JSON as the API
 * answered) and `rbp images show` (a `Full read:` line with the blocks read in full). An image
 * without a fallback shows none of it.
 */
import { describe, expect, it } from 'vitest';
import { fullReadLine } from '../../cli/commands/images.ts';
import { imageOf } from '../../lambdas/core/api/record-directories.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import { noRoute, useApiStandIn } from '../support/cli.ts';

const VOLUME = 'vol-0123456789abcdef0';

function record(imageId: string, createdAt: string, extra: Partial<ImageRecord>): ImageRecord {
  return {
    volumeId: VOLUME,
    imageId,
    createdAt,
    kind: 'incremental',
    formatVersion: 1,
    snapshotId: `snap-${imageId.slice(-4)}`,
    volumeSizeBytes: 1 << 30,
    manifestKey: `images/${VOLUME}/${imageId}.json`,
    manifestSha256: 'ab'.repeat(32),
    stats: { chunksCreated: 2, bytesCreated: 2 * 1024 * 1024, blocksRead: 3 },
    ...extra,
  };
}

const FALLBACK = record('img-bk-2', '2026-12-04T02:00:00.000Z', {
  kind: 'full',
  parentImageId: 'img-bk-1',
  fullReadReason: 'UNRELATED_SNAPSHOTS',
  stats: { chunksCreated: 2048, bytesCreated: 1024 ** 3, blocksRead: 2048, blocksReadInFull: 2048 },
});
const PLAIN = record('img-bk-1', '2026-12-03T02:00:00.000Z', {
  parentImageId: 'img-bk-0',
  parentSnapshotId: 'snap-bk-0',
});
const IMAGES = [imageOf(FALLBACK, false), imageOf(PLAIN, true)];

const api = useApiStandIn((request) => {
  if (request.method === 'GET' && request.url.startsWith(`/api/volumes/${VOLUME}/images`)) {
    return { status: 200, json: { items: IMAGES } };
  }
  const image = IMAGES.find((i) => request.url === `/api/images/${i.imageId}`);
  if (request.method === 'GET' && image !== undefined) return { status: 200, json: image };
  return noRoute(request);
});

describe('an image read in full although it has a parent', () => {
  it('carries the reason in the API’s image, only for the fallback', () => {
    expect(IMAGES[0]).toMatchObject({ kind: 'full', fullReadReason: 'UNRELATED_SNAPSHOTS' });
    expect(IMAGES[0]!.stats).toEqual({
      chunksCreated: 2048,
      bytesCreated: 1024 ** 3,
      blocksRead: 2048,
      blocksReadInFull: 2048,
    });
    expect(Object.keys(IMAGES[1]!)).not.toContain('fullReadReason');
  });

  it('explains QUARANTINED_CHUNK (a full read forced by the scrub quarantine)', () => {
    const image = imageOf({ ...FALLBACK, fullReadReason: 'QUARANTINED_CHUNK' }, false);
    expect(fullReadLine(image)).toBe(
      'Full read: QUARANTINED_CHUNK (the scrub quarantined a chunk of this volume (corrupt or missing at rest); a full read writes it again if the volume still holds it); 2048 of 2048 blocks read in full',
    );
  });

  it('shows a reason it has no words for by its code alone', () => {
    const image = imageOf({ ...FALLBACK, fullReadReason: 'SOME_NEW_REASON' }, false);
    expect(fullReadLine(image)).toBe('Full read: SOME_NEW_REASON; 2048 of 2048 blocks read in full');
    expect(fullReadLine(imageOf(PLAIN, false))).toBeUndefined();
  });

  it('images ls shows it in KIND; --json is the API’s images as they came', async () => {
    const table = await api.rbp(['images', 'ls', '--volume', VOLUME]);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const rows = table.stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s{2,}/).filter((c) => c !== ''));
    expect(rows).toEqual([
      ['IMAGE', 'CREATED', 'KIND', 'STATUS', 'STORED', 'PARENT', 'SNAPSHOT'],
      [
        'img-bk-2',
        '2026-12-04T02:00:00.000Z',
        'full (UNRELATED_SNAPSHOTS)',
        'committed',
        '1.0 GiB',
        'img-bk-1',
        'snap-bk-2',
      ],
      [
        'img-bk-1',
        '2026-12-03T02:00:00.000Z',
        'incremental',
        'cataloged',
        '2.0 MiB',
        'img-bk-0',
        'snap-bk-1',
      ],
    ]);
    const json = await api.rbp(['images', 'ls', '--volume', VOLUME, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(IMAGES);
  });

  it('images show prints a Full read line with the blocks read in full; a plain incremental none', async () => {
    const shown = await api.rbp(['images', 'show', 'img-bk-2']);
    expect(shown.code).toBe(0);
    const lines = shown.stdout.split('\n');
    expect(lines.filter((line) => line.startsWith('Full read:'))).toEqual([
      "Full read: UNRELATED_SNAPSHOTS (the parent image's snapshot is of another volume lineage, e.g. a re-created replica volume, so EBS cannot list the changes since it); 2048 of 2048 blocks read in full",
    ]);
    const plain = await api.rbp(['images', 'show', 'img-bk-1']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toContain('Full read');
    const json = await api.rbp(['images', 'show', 'img-bk-2', '--json']);
    expect(JSON.parse(json.stdout)).toEqual(IMAGES[0]);
  });
});
