/**
 * Lifecycle benchmarks (issue 10):
 * - garbage collection over 1 million and 10 million synthetic chunk keys, half of them live
 *   (referenced through real segment tables and manifests), each in a fresh child process
 *   (env RBP_LIFECYCLE_BENCH_CHILD) so its peak RSS (VmHWM) is its own. The synthetic bucket
 *   computes keys instead of storing them (a bitset remembers deletions), and the collector's
 *   spill runs go to files, as they would go to S3: what grows with the key count is visible.
 *   Goals: peak memory independent of the count; >= 50,000 keys/s per worker.
 * - scrub throughput per core (MiB of chunk data per CPU second) against SHA-256 + zstd
 *   decompression of the same objects in the same run: after a warm-up, interleaved pairs of
 *   measurements; the median pair's ratio is the figure. Goal: >= 0.8.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zstdDecompressSync } from 'node:zlib';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import {
  OBJECT_HEADER_BYTES,
  ZSTD_OUTPUT_CHUNK_BYTES,
  encodeManifestV1,
  encodeSegmentV1,
} from '../../lambdas/core/image/format-v1.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { EMPTY_IMAGE_STATS, SEGMENT_CHUNKS } from '../../lambdas/core/image/image-types.ts';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import type {
  DeleteOutcome,
  LifecycleImage,
  LifecycleObjectStore,
  ListPage,
  ObjectInfo,
} from '../../lambdas/core/lifecycle/ports.ts';
import { scrub } from '../../lambdas/core/lifecycle/scrub.ts';
import type { PutIfAbsentResult, PutObjectRequest } from '../../lambdas/core/store/object-store.ts';
import { specChunkName } from '../../test/engine/engine-fixture.ts';
import {
  ManualClock,
  MemoryBucket,
  MemoryCheckpoints,
  MemoryGcCoordination,
  MemoryLifecycleRecords,
} from '../../test/fakes/memory-lifecycle.ts';
import { peakRssKiB, runBenchChild } from '../bench-child.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';

const thisFile = fileURLToPath(import.meta.url);
const MIB = 1_048_576;
/** Keys per second per worker the collector is held to. */
const GC_KEYS_PER_SECOND_GOAL = 50_000;
/**
 * Old-space cap of the GC children (MiB). The collector holds ~30 MiB; without a cap V8 grows the
 * heap lazily with run time, so the peak would measure the run's duration, not what it holds. A
 * collector whose memory grew with the key count would fail under the cap instead.
 */
const GC_CHILD_HEAP_MIB = 96;
/** Images the synthetic live set is spread over. */
const SYNTHETIC_IMAGES = 10;
/** Chunks in the scrub case: 256 MiB of data (128 MiB stored: half of each chunk is noise). */
const SCRUB_CHUNKS = 256;
/** Passes over the chunks per measurement: ~0.7 CPU-second each side, far above the clock's tick. */
const SCRUB_PASSES = 2;
/** Timed (baseline, scrub) pairs after the warm-up: an odd count, so the median is one pair. */
const SCRUB_PAIRS = 7;
/** The scrub's goal: this share of the baseline's MiB per CPU second. */
const SCRUB_GOAL_RATIO = 0.8;
const OLD = new Date('2026-01-01T00:00:00.000Z');

/**
 * A bucket whose `chunks/` keys are computed: key i = first three hex digits spread evenly
 * (floor(i·4096/N)) then i in hex, so keys sort by i and spread over every shard like content
 * hashes. Even i are live. Segments are generated on read from their index; manifests are stored.
 */
class SyntheticBucket implements LifecycleObjectStore {
  readonly deleted: Uint8Array;
  readonly segmentHashes: string[] = [];
  private readonly segmentIndex = new Map<string, number>();
  readonly manifests = new Map<string, Uint8Array>();
  deletes = 0;

  constructor(readonly count: number) {
    this.deleted = new Uint8Array(Math.ceil(count / 8));
  }

  /** i + 1 in the low digits: 64 zero digits would be the all-zero chunk's sentinel. */
  name(i: number): string {
    return (
      Math.floor((i * 4096) / this.count)
        .toString(16)
        .padStart(3, '0') + (i + 1).toString(16).padStart(61, '0')
    );
  }

  indexOf(name: string): number {
    return Number.parseInt(name.slice(3), 16) - 1;
  }

  liveCount(): number {
    return Math.ceil(this.count / 2);
  }

  table(segment: number): Buffer {
    const first = segment * SEGMENT_CHUNKS;
    const entries = Math.min(SEGMENT_CHUNKS, this.liveCount() - first);
    const table = Buffer.alloc(entries * 32);
    for (let e = 0; e < entries; e += 1) table.write(this.name(2 * (first + e)), e * 32, 'hex');
    return table;
  }

  prepare(): LifecycleImage[] {
    const segments = Math.ceil(this.liveCount() / SEGMENT_CHUNKS);
    for (let s = 0; s < segments; s += 1) {
      const hash = createHash('sha256').update(this.table(s)).digest('hex');
      this.segmentHashes.push(hash);
      this.segmentIndex.set(hash, s);
    }
    const sorted = [...this.segmentHashes].sort();
    this.segmentHashes.splice(0, this.segmentHashes.length, ...sorted);
    const images: LifecycleImage[] = [];
    const perImage = Math.ceil(segments / SYNTHETIC_IMAGES);
    for (let m = 0; m < SYNTHETIC_IMAGES; m += 1) {
      const own: string[] = [];
      for (let s = m * perImage; s < Math.min(segments, (m + 1) * perImage); s += 1) {
        own.push(createHash('sha256').update(this.table(s)).digest('hex'));
      }
      const imageId = `img-${m}`;
      const body = encodeManifestV1({
        formatVersion: 1,
        volumeId: 'vol-bench',
        imageId,
        createdAt: OLD.toISOString(),
        kind: 'full',
        snapshotId: 'snap-bench',
        volumeSizeBytes: Math.max(1, own.length) * SEGMENT_CHUNKS * MIB,
        blockSizeBytes: 524_288,
        chunkSizeBytes: MIB,
        segmentChunks: SEGMENT_CHUNKS,
        segments: own.length === 0 ? ['0'.repeat(64)] : own,
        stats: EMPTY_IMAGE_STATS,
      });
      const key = `images/vol-bench/${imageId}.json`;
      this.manifests.set(key, body);
      images.push({
        volumeId: 'vol-bench',
        imageId,
        createdAt: OLD.toISOString(),
        manifestKey: key,
        manifestSha256: createHash('sha256').update(body).digest('hex'),
        volumeSizeBytes: 0,
        status: 'live',
      });
    }
    return images;
  }

  private isDeleted(i: number): boolean {
    return (this.deleted[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  listPage(prefix: string, startAfter: string | undefined, maxKeys: number): Promise<ListPage> {
    const objects: ObjectInfo[] = [];
    if (prefix === 'chunks/') {
      let i = 0;
      if (startAfter !== undefined) {
        const rest = startAfter.slice('chunks/'.length);
        i = rest.endsWith('~')
          ? Math.ceil(((Number.parseInt(rest.slice(0, 3), 16) + 1) * this.count) / 4096)
          : this.indexOf(rest) + 1;
      }
      for (; i < this.count && objects.length < maxKeys; i += 1) {
        if (this.isDeleted(i)) continue;
        objects.push({ key: `chunks/${this.name(i)}`, size: 500_000, lastModified: OLD });
      }
      return Promise.resolve({ objects, isTruncated: i < this.count });
    }
    if (prefix === 'segments/') {
      const keys = this.segmentHashes.map((h) => `segments/${h}`);
      const from = startAfter === undefined ? 0 : keys.findIndex((k) => k > startAfter);
      const slice = from < 0 ? [] : keys.slice(from, from + maxKeys);
      for (const key of slice) objects.push({ key, size: 33_000, lastModified: OLD });
      return Promise.resolve({ objects, isTruncated: from >= 0 && from + maxKeys < keys.length });
    }
    const keys = [...this.manifests.keys()].filter(
      (k) => k.startsWith(prefix) && (startAfter === undefined || k > startAfter),
    );
    for (const key of keys.slice(0, maxKeys))
      objects.push({ key, size: this.manifests.get(key)!.length, lastModified: OLD });
    return Promise.resolve({ objects, isTruncated: keys.length > maxKeys });
  }

  async get(key: string): Promise<Uint8Array> {
    if (key.startsWith('segments/')) {
      const index = this.segmentIndex.get(key.slice('segments/'.length));
      if (index === undefined) throw new NotFoundError(`no object ${key}`);
      return (await encodeSegmentV1(this.table(index))).body;
    }
    const manifest = this.manifests.get(key);
    if (manifest === undefined) throw new NotFoundError(`no object ${key}`);
    return manifest;
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    return this.get(key).then((b) => b.slice(start, end));
  }

  putIfAbsent(_request: PutObjectRequest): Promise<PutIfAbsentResult> {
    throw new Error('the collector writes only to its scratch store');
  }

  deleteObjects(keys: readonly string[]): Promise<DeleteOutcome> {
    this.deletes += 1;
    for (const key of keys) {
      if (!key.startsWith('chunks/')) continue;
      const i = this.indexOf(key.slice('chunks/'.length));
      this.deleted[i >> 3]! |= 1 << (i & 7);
    }
    return Promise.resolve({ deleted: [...keys], failed: [] });
  }

  extendRetention(): Promise<void> {
    return Promise.resolve();
  }
}

/** The collector's scratch space as files (S3 in production): spill runs do not sit in the heap. */
class FileScratch implements LifecycleObjectStore {
  constructor(private readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, encodeURIComponent(key));
  }

  async listPage(prefix: string, startAfter: string | undefined, maxKeys: number): Promise<ListPage> {
    const keys = (await readdir(this.dir))
      .map((f) => decodeURIComponent(f))
      .filter((k) => k.startsWith(prefix) && (startAfter === undefined || k > startAfter))
      .sort();
    return {
      objects: keys.slice(0, maxKeys).map((key) => ({ key, size: 0, lastModified: OLD })),
      isTruncated: keys.length > maxKeys,
    };
  }

  async get(key: string): Promise<Uint8Array> {
    return readFile(this.file(key));
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const handle = await open(this.file(key), 'r');
    try {
      const out = Buffer.alloc(end - start);
      const { bytesRead } = await handle.read(out, 0, end - start, start);
      return out.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult> {
    await writeFile(this.file(request.key), request.body);
    return 'created';
  }

  async deleteObjects(keys: readonly string[]): Promise<DeleteOutcome> {
    for (const key of keys) await rm(this.file(key), { force: true });
    return { deleted: [...keys], failed: [] };
  }

  extendRetention(): Promise<void> {
    return Promise.resolve();
  }
}

interface GcChildResult {
  readonly keys: number;
  readonly ms: number;
  readonly keysScanned: number;
  readonly chunksDeleted: number;
  readonly chunksLive: number;
  readonly steps: number;
  readonly peakKiB: number;
}

async function childGc(count: number): Promise<void> {
  const bucket = new SyntheticBucket(count);
  const records = new MemoryLifecycleRecords();
  for (const image of bucket.prepare()) records.put(image);
  const dir = await mkdtemp(path.join(tmpdir(), 'rbp-gc-bench-'));
  try {
    const checkpoints = new MemoryCheckpoints();
    const start = process.hrtime.bigint();
    const result = await runGc(
      {
        objects: bucket,
        scratch: new FileScratch(dir),
        records,
        coordination: new MemoryGcCoordination(),
        checkpoints,
        clock: new ManualClock(Date.UTC(2026, 11, 1)),
      },
      { runId: 'bench' },
    );
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.chunksLive !== bucket.liveCount() || result.chunksDeleted !== count - bucket.liveCount()) {
      throw new Error(`wrong outcome: ${JSON.stringify(result)}`);
    }
    const out: GcChildResult = {
      keys: count,
      ms,
      keysScanned: result.counters.keysScanned,
      chunksDeleted: result.chunksDeleted,
      chunksLive: result.chunksLive,
      steps: checkpoints.saves,
      peakKiB: peakRssKiB(),
    };
    console.log(`RESULT ${JSON.stringify(out)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function gcResults(): Promise<BenchResult[]> {
  const outcomes: GcChildResult[] = [];
  for (const keys of [1_000_000, 10_000_000]) {
    const outcome = await runBenchChild<GcChildResult>(
      thisFile,
      'RBP_LIFECYCLE_BENCH_CHILD',
      { kind: 'gc', keys },
      { nodeArgs: [`--max-old-space-size=${GC_CHILD_HEAP_MIB}`] },
    );
    if (outcome.result === undefined) {
      throw new Error(`gc child failed (exit ${outcome.code}): ${outcome.stderr.slice(-2000)}`);
    }
    outcomes.push(outcome.result);
  }
  const results: BenchResult[] = [];
  for (const o of outcomes) {
    const rate = Math.round(o.keys / (o.ms / 1000));
    results.push({
      name: `lifecycle/gc-${o.keys / 1_000_000}M-keys`,
      value: rate,
      unit: 'keys/s',
      baseline: GC_KEYS_PER_SECOND_GOAL,
      ratio: round(rate / GC_KEYS_PER_SECOND_GOAL, 2),
      goal: `>= ${GC_KEYS_PER_SECOND_GOAL} keys/s per worker`,
      met: rate >= GC_KEYS_PER_SECOND_GOAL,
      details: {
        peakRssMiB: round(o.peakKiB / 1024, 1),
        seconds: round(o.ms / 1000, 1),
        chunksLive: o.chunksLive,
        chunksDeleted: o.chunksDeleted,
        keysScanned: o.keysScanned,
        checkpoints: o.steps,
        deletedBitsetMiB: round(o.keys / 8 / MIB, 2),
      },
    });
  }
  const [small, large] = outcomes as [GcChildResult, GcChildResult];
  const growth = large.peakKiB / small.peakKiB;
  results.push({
    name: 'lifecycle/gc-peak-rss-10M-vs-1M',
    value: round(large.peakKiB / 1024, 1),
    unit: 'MiB',
    baseline: round(small.peakKiB / 1024, 1),
    ratio: round(growth, 2),
    goal: `peak RSS independent of the key count (10M/1M <= 1.25, old space capped at ${GC_CHILD_HEAP_MIB} MiB)`,
    met: growth <= 1.25,
  });
  return results;
}

/** CPU seconds (all threads of this process: user + system) that `fn` takes. */
async function cpuSeconds(fn: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

interface ScrubPair {
  readonly scrubCpu: number;
  readonly baselineCpu: number;
  /** The scrub's MiB per CPU second over the baseline's. */
  readonly ratio: number;
}

async function measureScrub(): Promise<BenchResult> {
  const clock = new ManualClock(Date.UTC(2026, 11, 1));
  const bucket = new MemoryBucket(clock);
  const images = new ImageStore(bucket);
  const names: string[] = [];
  let state = createHash('sha256').update('scrub-bench').digest();
  for (let c = 0; c < SCRUB_CHUNKS; c += 1) {
    const data = Buffer.alloc(MIB);
    // Half noise, half repetitive text: the mix the engine bench uses for compressible data.
    for (let o = 0; o < MIB / 2; o += 32) {
      state = createHash('sha256').update(state).digest();
      state.copy(data, o);
    }
    data.fill(`record ${c} of a log file with a fairly long line of text\n`, MIB / 2);
    const name = specChunkName(data);
    await images.putChunk(name, data);
    names.push(name);
  }
  const table = Buffer.alloc(SEGMENT_CHUNKS * 32);
  names.forEach((name, i) => table.write(name, i * 32, 'hex'));
  const { hash } = await images.putSegment(table);
  const stored = await images.putManifest({
    formatVersion: 1,
    volumeId: 'vol-s',
    imageId: 'img-s',
    createdAt: OLD.toISOString(),
    kind: 'full',
    snapshotId: 'snap-s',
    volumeSizeBytes: SEGMENT_CHUNKS * MIB,
    blockSizeBytes: 524_288,
    chunkSizeBytes: MIB,
    segmentChunks: SEGMENT_CHUNKS,
    segments: [hash],
    stats: EMPTY_IMAGE_STATS,
  });
  const records = new MemoryLifecycleRecords();
  records.put({
    volumeId: 'vol-s',
    imageId: 'img-s',
    createdAt: OLD.toISOString(),
    manifestKey: stored.key,
    manifestSha256: stored.sha256,
    volumeSizeBytes: SEGMENT_CHUNKS * MIB,
    status: 'live',
  });
  const bodies = names.map((name) => bucket.objects.get(`chunks/${name}`)!.body);

  const mib = SCRUB_CHUNKS * SCRUB_PASSES;
  // Baseline: zstd decompression and SHA-256 of the same objects, one after another, into one
  // output buffer per object (zlib's default 16 KiB pieces would double its cost).
  const baseline = (): Promise<number> =>
    cpuSeconds(() => {
      for (let pass = 0; pass < SCRUB_PASSES; pass += 1) {
        for (const body of bodies) {
          const data = zstdDecompressSync(body.subarray(OBJECT_HEADER_BYTES), {
            chunkSize: ZSTD_OUTPUT_CHUNK_BYTES,
          });
          createHash('sha256').update(data).digest();
        }
      }
      return Promise.resolve();
    });
  const scrubbing = (): Promise<number> =>
    cpuSeconds(async () => {
      for (let pass = 0; pass < SCRUB_PASSES; pass += 1) {
        const result = await scrub({ objects: bucket, records }, { all: true, runNumber: 0 });
        if (result.status !== 'ok' || result.chunksVerified !== SCRUB_CHUNKS) {
          throw new Error(`scrub found problems: ${JSON.stringify(result)}`);
        }
      }
    });
  // Warm-up (compiled code, settled heap), then pairs in alternating order: a change of load hits
  // both sides of a pair alike, and the median pair is the figure.
  await baseline();
  await scrubbing();
  const pairs: ScrubPair[] = [];
  for (let i = 0; i < SCRUB_PAIRS; i += 1) {
    let baselineCpu: number;
    let scrubCpu: number;
    if (i % 2 === 0) {
      baselineCpu = await baseline();
      scrubCpu = await scrubbing();
    } else {
      scrubCpu = await scrubbing();
      baselineCpu = await baseline();
    }
    pairs.push({ scrubCpu, baselineCpu, ratio: baselineCpu / scrubCpu });
  }
  const byRatio = [...pairs].sort((a, b) => a.ratio - b.ratio);
  const middle = byRatio[Math.floor(byRatio.length / 2)]!;
  return {
    name: 'lifecycle/scrub-MiB-per-core-second',
    value: round(mib / middle.scrubCpu, 1),
    unit: 'MiB/cpu-s',
    baseline: round(mib / middle.baselineCpu, 1),
    ratio: round(middle.ratio, 3),
    goal: `>= 0.8 of SHA-256 + zstd decompression (median of ${SCRUB_PAIRS} interleaved pairs)`,
    met: middle.ratio >= SCRUB_GOAL_RATIO,
    details: {
      chunks: SCRUB_CHUNKS,
      mibPerMeasurement: mib,
      minRatio: round(byRatio[0]!.ratio, 3),
      ratios: pairs.map((p) => round(p.ratio, 2)).join(' '),
      scrubCpuSeconds: pairs.map((p) => round(p.scrubCpu, 2)).join(' '),
      baselineCpuSeconds: pairs.map((p) => round(p.baselineCpu, 2)).join(' '),
    },
  };
}

/**
 * The scrub case runs in a fresh process: the mark-compacts that zstd's and the reads' large
 * buffers trigger (about one per 64 MiB) cost in proportion to the heap, and the runner's heap
 * holds every suite's modules (both sides measured ~2.4× slower there, the scrub's extra reads more).
 */
async function scrubResults(): Promise<BenchResult[]> {
  const outcome = await runBenchChild<BenchResult>(thisFile, 'RBP_LIFECYCLE_BENCH_CHILD', { kind: 'scrub' });
  if (outcome.result === undefined) {
    throw new Error(`scrub child failed (exit ${outcome.code}): ${outcome.stderr.slice(-2000)}`);
  }
  return [outcome.result];
}

export const suite: BenchSuite = {
  name: 'lifecycle',
  async run(): Promise<readonly BenchResult[]> {
    return [...(await scrubResults()), ...(await gcResults())];
  },
};

const childTask = process.env.RBP_LIFECYCLE_BENCH_CHILD;
if (childTask !== undefined) {
  const task = JSON.parse(childTask) as { kind: 'gc'; keys: number } | { kind: 'scrub' };
  if (task.kind === 'gc') await childGc(task.keys);
  else console.log(`RESULT ${JSON.stringify(await measureScrub())}`);
}
