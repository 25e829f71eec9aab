/**
 * Cost report: what the live images occupy and what they cost per month, next to what the same
 * retention would cost as EBS snapshots. Prices are us-east-1 list prices, as named constants:
 * S3 https://aws.amazon.com/s3/pricing/, EBS direct APIs and snapshots
 * https://aws.amazon.com/ebs/pricing/, DynamoDB on-demand https://aws.amazon.com/dynamodb/pricing/on-demand/.
 */
import { z } from 'zod';
import { EBS_LIST_MAX_RESULTS } from '../backup/block-reading.ts';
import { CHUNK_SIZE_BYTES } from '../geometry.ts';
import { DIGEST_BYTES, isZeroHash } from '../image/hashing.ts';
import { decodeManifest, decodeSegment } from '../image/image-format.ts';
import {
  CHUNK_KEY_PREFIX,
  MANIFEST_KEY_PREFIX,
  SEGMENT_KEY_PREFIX,
  segmentKey,
} from '../image/image-types.ts';
import type { LifecycleImage, LifecycleImageRecords, LifecycleObjectStore } from './ports.ts';
import { LIST_MAX_KEYS } from './ports.ts';

const GB = 1_000_000_000;

export const storageClassSchema = z.enum(['STANDARD', 'STANDARD_IA', 'GLACIER_IR']);
export type StorageClass = z.infer<typeof storageClassSchema>;

/** S3 storage per GB-month, first 50 TB tier. */
export const S3_STORAGE_USD_PER_GB_MONTH: Readonly<Record<StorageClass, number>> = {
  STANDARD: 0.023,
  STANDARD_IA: 0.0125,
  GLACIER_IR: 0.004,
};
/** S3 PUT, COPY, POST and LIST requests per 1,000, by the class written to. */
export const S3_PUT_LIST_USD_PER_1000: Readonly<Record<StorageClass, number>> = {
  STANDARD: 0.005,
  STANDARD_IA: 0.01,
  GLACIER_IR: 0.02,
};
/** S3 GET per 1,000 (restores and scrub reads). */
export const S3_GET_USD_PER_1000: Readonly<Record<StorageClass, number>> = {
  STANDARD: 0.0004,
  STANDARD_IA: 0.001,
  GLACIER_IR: 0.01,
};
/** EBS direct API GetSnapshotBlock, per 1,000 calls. */
export const EBS_GET_SNAPSHOT_BLOCK_USD_PER_1000 = 0.003;
/** EBS direct API ListChangedBlocks and ListSnapshotBlocks, per 1,000 calls. */
export const EBS_LIST_BLOCKS_USD_PER_1000 = 0.0006;
/** EBS snapshot storage, standard tier, per GB-month. */
export const EBS_SNAPSHOT_USD_PER_GB_MONTH = 0.05;
/** DynamoDB on-demand write request units, per million. */
export const DYNAMODB_WRITE_USD_PER_MILLION = 0.625;
/** DynamoDB storage per GB-month (standard table class). */
export const DYNAMODB_STORAGE_USD_PER_GB_MONTH = 0.25;
/** Days a month is taken to have when projecting backups per month. */
export const DAYS_PER_MONTH = 30;

export interface StoredTotals {
  readonly chunkObjects: number;
  readonly chunkBytes: number;
  readonly segmentObjects: number;
  readonly segmentBytes: number;
  readonly manifestObjects: number;
  readonly manifestBytes: number;
}

export interface CostInput {
  /** Live images (others are ignored). */
  readonly images: readonly LifecycleImage[];
  /** Non-zero chunks each live image maps (`volumeId/imageId` → count), from the manifests. */
  readonly dataChunks: ReadonlyMap<string, number>;
  /** What the bucket holds now (a listing, or the last collection's counts). */
  readonly stored: StoredTotals;
  readonly storageClass: StorageClass;
  /** Catalog items each backup writes on average and the catalog's size, when known. */
  readonly catalogWritesPerBackup?: number;
  readonly catalogBytes?: number;
  readonly now: Date;
}

export interface CostLine {
  readonly scope: string;
  readonly images: number;
  /** Volume bytes the live images map (non-zero chunks × 1 MiB): what full copies would hold. */
  readonly logicalBytes: number;
  /** Bytes in S3 after zstd and deduplication (per server: what its images created). */
  readonly storedBytes: number;
  /** Logical bytes / distinct chunk bytes (uncompressed). */
  readonly dedupRatio: number;
  /** Distinct chunk bytes (uncompressed) / stored chunk bytes. */
  readonly compressionRatio: number;
  readonly lastBackup?: {
    readonly imageId: string;
    readonly getSnapshotBlock: number;
    readonly listCalls: number;
    readonly puts: number;
  };
  readonly backupsPerMonth: number;
  readonly monthlyUsd: {
    readonly storage: number;
    readonly requests: number;
    readonly dynamodb: number;
    readonly total: number;
  };
  /** The same retention as EBS snapshots: the distinct data, uncompressed, at the snapshot price. */
  readonly ebsSnapshotsMonthlyUsd: number;
}

export interface CostReport {
  readonly storageClass: StorageClass;
  readonly total: CostLine;
  readonly servers: readonly CostLine[];
}

const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;
const stat = (image: LifecycleImage, key: string): number => image.stats?.[key] ?? 0;

function requestsOf(image: LifecycleImage): { getSnapshotBlock: number; listCalls: number; puts: number } {
  return {
    getSnapshotBlock: stat(image, 'blocksRead'),
    listCalls: Math.max(1, Math.ceil(stat(image, 'blocksListed') / EBS_LIST_MAX_RESULTS)),
    // Every chunk and segment PUT is billed, also those answered 412; plus the manifest.
    puts:
      stat(image, 'chunksCreated') + stat(image, 'chunksAlreadyStored') + stat(image, 'segmentsCreated') + 1,
  };
}

function line(
  scope: string,
  images: readonly LifecycleImage[],
  input: CostInput,
  storedBytes: number,
  distinctChunks: number,
): CostLine {
  const logicalChunks = images.reduce(
    (sum, i) => sum + (input.dataChunks.get(`${i.volumeId}/${i.imageId}`) ?? 0),
    0,
  );
  const distinctBytes = distinctChunks * CHUNK_SIZE_BYTES;
  const storedChunkShare = input.stored.chunkBytes * (storedBytes / Math.max(1, totalStored(input.stored)));
  const since = input.now.getTime() - DAYS_PER_MONTH * 86_400_000;
  const recent = images.filter((i) => Date.parse(i.createdAt) >= since);
  const newest = [...images].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
  const perMonth = recent.map(requestsOf);
  const requestUsd = perMonth.reduce(
    (sum, r) =>
      sum +
      (r.getSnapshotBlock * EBS_GET_SNAPSHOT_BLOCK_USD_PER_1000) / 1000 +
      (r.listCalls * EBS_LIST_BLOCKS_USD_PER_1000) / 1000 +
      (r.puts * S3_PUT_LIST_USD_PER_1000[input.storageClass]) / 1000,
    0,
  );
  const dynamodb =
    ((input.catalogWritesPerBackup ?? 0) * recent.length * DYNAMODB_WRITE_USD_PER_MILLION) / 1_000_000 +
    (((input.catalogBytes ?? 0) / GB) * DYNAMODB_STORAGE_USD_PER_GB_MONTH * images.length) /
      Math.max(1, input.images.filter((i) => i.status === 'live').length);
  const storage = (storedBytes / GB) * S3_STORAGE_USD_PER_GB_MONTH[input.storageClass];
  return {
    scope,
    images: images.length,
    logicalBytes: logicalChunks * CHUNK_SIZE_BYTES,
    storedBytes,
    dedupRatio: round(distinctChunks === 0 ? 1 : logicalChunks / distinctChunks, 3),
    compressionRatio: round(storedChunkShare === 0 ? 1 : distinctBytes / storedChunkShare, 3),
    ...(newest === undefined ? {} : { lastBackup: { imageId: newest.imageId, ...requestsOf(newest) } }),
    backupsPerMonth: recent.length,
    monthlyUsd: {
      storage: round(storage),
      requests: round(requestUsd),
      dynamodb: round(dynamodb),
      total: round(storage + requestUsd + dynamodb),
    },
    ebsSnapshotsMonthlyUsd: round((distinctBytes / GB) * EBS_SNAPSHOT_USD_PER_GB_MONTH),
  };
}

function totalStored(stored: StoredTotals): number {
  return stored.chunkBytes + stored.segmentBytes + stored.manifestBytes;
}

/**
 * Per server and in total. Shared chunks are attributed to the server whose images created them
 * (`bytesCreated` of its live images), so the servers' stored bytes add up to about the total.
 */
export function costReport(input: CostInput): CostReport {
  const live = input.images.filter((i) => i.status === 'live');
  const total = line('total', live, input, totalStored(input.stored), input.stored.chunkObjects);
  const byServer = new Map<string, LifecycleImage[]>();
  for (const image of live) {
    const server = image.serverId ?? image.volumeId;
    const list = byServer.get(server);
    if (list === undefined) byServer.set(server, [image]);
    else list.push(image);
  }
  const servers = [...byServer]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([server, images]) => {
      const created = images.reduce((sum, i) => sum + stat(i, 'bytesCreated'), 0);
      const chunksCreated = images.reduce((sum, i) => sum + stat(i, 'chunksCreated'), 0);
      return line(server, images, input, created, chunksCreated);
    });
  return { storageClass: input.storageClass, total, servers };
}

/** The report as the API answers it (`GET /reports/cost`). */
const costLineSchema = z
  .object({
    scope: z.string(),
    images: z.number().int(),
    logicalBytes: z.number(),
    storedBytes: z.number(),
    dedupRatio: z.number(),
    compressionRatio: z.number(),
    lastBackup: z
      .object({ imageId: z.string(), getSnapshotBlock: z.number(), listCalls: z.number(), puts: z.number() })
      .strict()
      .optional(),
    backupsPerMonth: z.number().int(),
    monthlyUsd: z
      .object({ storage: z.number(), requests: z.number(), dynamodb: z.number(), total: z.number() })
      .strict(),
    ebsSnapshotsMonthlyUsd: z.number(),
  })
  .strict();
export const costReportSchema = z
  .object({ storageClass: storageClassSchema, total: costLineSchema, servers: z.array(costLineSchema) })
  .strict();

/** What the report reads: the image records and the image bucket. */
export interface CostSourceDeps {
  readonly objects: Pick<LifecycleObjectStore, 'listPage' | 'get'>;
  readonly records: Pick<LifecycleImageRecords, 'listImages'>;
}

async function prefixTotals(
  objects: CostSourceDeps['objects'],
  prefix: string,
): Promise<{ count: number; bytes: number }> {
  let count = 0;
  let bytes = 0;
  let startAfter: string | undefined;
  for (;;) {
    const page = await objects.listPage(prefix, startAfter, LIST_MAX_KEYS);
    for (const object of page.objects) {
      count += 1;
      bytes += object.size;
    }
    if (!page.isTruncated || page.objects.length === 0) return { count, bytes };
    startAfter = page.objects.at(-1)!.key;
  }
}

/**
 * The report's input from the records and the bucket: every live image's non-zero chunks (each
 * distinct segment read once) and the bucket's totals per prefix (one listing). Proportional to
 * the bucket, so it suits the API for small and medium fleets; a large one needs it as a job.
 */
export async function gatherCostInput(
  deps: CostSourceDeps,
  storageClass: StorageClass,
  now: Date,
): Promise<CostInput> {
  const images = (await deps.records.listImages()).filter((image) => image.status === 'live');
  const segmentCounts = new Map<string, number>();
  const dataChunks = new Map<string, number>();
  for (const image of images) {
    const manifest = decodeManifest(await deps.objects.get(image.manifestKey), image.manifestKey);
    let count = 0;
    for (const hash of manifest.segments) {
      if (isZeroHash(hash)) continue;
      let entries = segmentCounts.get(hash);
      if (entries === undefined) {
        const table = await decodeSegment(await deps.objects.get(segmentKey(hash)), hash);
        entries = 0;
        for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
          if (!table.subarray(offset, offset + DIGEST_BYTES).every((b) => b === 0)) entries += 1;
        }
        segmentCounts.set(hash, entries);
      }
      count += entries;
    }
    dataChunks.set(`${image.volumeId}/${image.imageId}`, count);
  }
  const chunks = await prefixTotals(deps.objects, CHUNK_KEY_PREFIX);
  const segments = await prefixTotals(deps.objects, SEGMENT_KEY_PREFIX);
  const manifests = await prefixTotals(deps.objects, MANIFEST_KEY_PREFIX);
  return {
    images,
    dataChunks,
    stored: {
      chunkObjects: chunks.count,
      chunkBytes: chunks.bytes,
      segmentObjects: segments.count,
      segmentBytes: segments.bytes,
      manifestObjects: manifests.count,
      manifestBytes: manifests.bytes,
    },
    storageClass,
    now,
  };
}
