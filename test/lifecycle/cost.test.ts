import { describe, expect, it } from 'vitest';
import { costReport } from '../../lambdas/core/lifecycle/cost.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';

const NOW = new Date('2026-12-01T00:00:00.000Z');
const DAY = 86_400_000;

function image(
  imageId: string,
  daysAgo: number,
  stats: Record<string, number>,
  serverId = 's1',
): LifecycleImage {
  return {
    volumeId: `vol-${serverId}`,
    imageId,
    createdAt: new Date(NOW.getTime() - daysAgo * DAY).toISOString(),
    manifestKey: `images/vol-${serverId}/${imageId}.json`,
    manifestSha256: '0'.repeat(64),
    volumeSizeBytes: 2_000 * 1_073_741_824,
    status: 'live',
    serverId,
    stats,
  };
}

describe('cost report', () => {
  it('sizes, ratios, last backup requests and monthly dollars from named prices', () => {
    const report = costReport({
      images: [
        image('i1', 40, {
          blocksRead: 2_000_000,
          blocksListed: 2_000_000,
          chunksCreated: 1_000_000,
          segmentsCreated: 977,
          bytesCreated: 524_288_000_000,
        }),
        image('i2', 1, {
          blocksRead: 400_000,
          blocksListed: 400_000,
          chunksCreated: 200_000,
          chunksAlreadyStored: 0,
          segmentsCreated: 1,
          bytesCreated: 104_857_600_000,
        }),
        { ...image('gone', 2, {}), status: 'deleting' },
      ],
      dataChunks: new Map([
        ['vol-s1/i1', 1_000_000],
        ['vol-s1/i2', 1_000_000],
      ]),
      stored: {
        chunkObjects: 1_200_000,
        chunkBytes: 629_145_600_000,
        segmentObjects: 0,
        segmentBytes: 0,
        manifestObjects: 0,
        manifestBytes: 0,
      },
      storageClass: 'STANDARD',
      now: NOW,
    });
    expect(report.total).toEqual({
      scope: 'total',
      images: 2,
      logicalBytes: 2_000_000 * 1_048_576,
      storedBytes: 629_145_600_000,
      dedupRatio: 1.667,
      compressionRatio: 2,
      lastBackup: { imageId: 'i2', getSnapshotBlock: 400_000, listCalls: 40, puts: 200_002 },
      backupsPerMonth: 1,
      monthlyUsd: { storage: 14.47, requests: 2.2, dynamodb: 0, total: 16.67 },
      ebsSnapshotsMonthlyUsd: 62.91,
    });
    expect(report.servers.map((s) => [s.scope, s.storedBytes])).toEqual([['s1', 629_145_600_000]]);
    const ia = costReport({
      images: [image('i2', 1, { bytesCreated: 1e9 })],
      dataChunks: new Map(),
      stored: {
        chunkObjects: 0,
        chunkBytes: 0,
        segmentObjects: 0,
        segmentBytes: 0,
        manifestObjects: 0,
        manifestBytes: 1e11,
      },
      storageClass: 'STANDARD_IA',
      now: NOW,
    });
    expect(ia.total.monthlyUsd.storage).toBe(1.25); // 100 GB in Standard-IA
  });
});
