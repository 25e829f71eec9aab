/**
 * A scrub with many findings still fits its job record (scrub.ts "Caps"): whatever the number of
 * corrupt and missing chunks and of images that reference each, the progress saved after every
 * step stays under SCRUB_PROGRESS_MAX_BYTES as JSON, it keeps the MAX_SCRUB_FINDINGS_KEPT smallest
 * keys of each kind with at most MAX_SCRUB_FINDING_IMAGES images each, the totals are exact, and
 * every finding reaches the quarantine with every volume it breaks. As a job, every record written,
 * the ScrubFindings metric and the Scrub Findings event count every finding and stay under the bound.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIGEST_BYTES } from '../../lambdas/core/image/hashing.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { SEGMENT_CHUNKS, chunkKey, segmentKey } from '../../lambdas/core/image/image-types.ts';
import {
  MAX_SCRUB_FINDING_IMAGES,
  MAX_SCRUB_FINDINGS_KEPT,
  MAX_SCRUB_REASON_CHARS,
  SCRUB_PROGRESS_MAX_BYTES,
  scrubFindingOf,
  scrubProgressSchema,
  scrubResultOf,
  scrubSlice,
  startScrubProgress,
  type ScrubProgress,
} from '../../lambdas/core/lifecycle/scrub.ts';
import {
  SCRUB_FINDINGS_EVENT,
  SCRUB_JOB_KIND,
  runLifecycleJob,
  scrubRunOf,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { MemoryChunkQuarantine } from '../fakes/memory-chunk-quarantine.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { manifestOf, newWorld, recordOf, type World } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';

/** Volumes the images are spread over. */
const VOLUMES = 7;

const hex = (text: string): string => createHash('sha256').update(text).digest('hex');
/** A volume id and an image id as long as real ones (vol- and 17 hex digits; a backup's image id). */
const volumeIdOf = (n: number): string => `vol-${hex(`v${n % VOLUMES}`).slice(0, 17)}`;
const imageIdOf = (n: number): string => `img-bk-20261120t120000000z-${hex(`i${n}`).slice(0, 16)}`;

interface Bad {
  readonly world: World;
  readonly names: string[];
  readonly refs: string[];
  readonly corrupt: Set<string>;
  /** The segments' hashes, in order. */
  readonly segments: string[];
}

/**
 * `chunks` chunk names, none stored whole (every third one is 4 bytes: corrupt; the others are
 * missing), all in the segments of `images` images (every image references every chunk).
 */
async function badBucket(chunks: number, images: number): Promise<Bad> {
  const world = newWorld();
  const names = Array.from({ length: chunks }, (_, n) => hex(`chunk-${n}`));
  const corrupt = new Set<string>();
  names.forEach((name, n) => {
    if (n % 3 === 0) {
      world.bucket.setRaw(chunkKey(name), Buffer.from('RBPC'));
      corrupt.add(name);
    }
  });
  const segmentCount = Math.max(1, Math.ceil(chunks / SEGMENT_CHUNKS));
  const segments: string[] = [];
  for (let s = 0; s < segmentCount; s += 1) {
    const table = Buffer.alloc(SEGMENT_CHUNKS * DIGEST_BYTES);
    names
      .slice(s * SEGMENT_CHUNKS, (s + 1) * SEGMENT_CHUNKS)
      .forEach((name, i) => table.write(name, i * DIGEST_BYTES, 'hex'));
    segments.push((await world.images.putSegment(table)).hash);
  }
  const refs: string[] = [];
  const createdAt = world.clock.now().toISOString();
  for (let n = 0; n < images; n += 1) {
    const manifest = {
      ...manifestOf(volumeIdOf(n), imageIdOf(n), createdAt, segments),
      volumeSizeBytes: segmentCount * SEGMENT_CHUNKS * CHUNK_SIZE_BYTES,
    };
    const stored = await world.images.putManifest(manifest);
    world.records.put(recordOf(world, volumeIdOf(n), imageIdOf(n), createdAt, stored.sha256));
    refs.push(`${volumeIdOf(n)}/${imageIdOf(n)}`);
  }
  return { world, names, refs: refs.sort(), corrupt, segments };
}

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

describe('a scrub with many findings', () => {
  it('keeps its saved progress under the bound, its totals exact, and quarantines every finding', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 1, max: 40 }),
        async (chunks, images, stepsPerSlice) => {
          const { world, names, refs, corrupt } = await badBucket(chunks, images);
          const quarantine = new MemoryChunkQuarantine();
          let largest = 0;
          let saves = 0;
          let progress: ScrubProgress = startScrubProgress({ all: true, runNumber: 0 });
          while (!progress.done) {
            let steps = 0;
            progress = await scrubSlice(
              { objects: world.bucket, records: world.records, quarantine },
              progress,
              {
                saved: (step) => {
                  saves += 1;
                  largest = Math.max(largest, jsonBytes(step));
                  expect(scrubProgressSchema.safeParse(JSON.parse(JSON.stringify(step))).success).toBe(true);
                  return Promise.resolve();
                },
                stop: () => {
                  steps += 1;
                  return steps >= stepsPerSlice;
                },
              },
            );
          }
          expect(largest).toBeLessThan(SCRUB_PROGRESS_MAX_BYTES);
          expect(saves).toBe(Math.max(1, Math.ceil(chunks / 256)));
          const result = scrubResultOf(progress);
          expect(jsonBytes(result)).toBeLessThan(SCRUB_PROGRESS_MAX_BYTES);
          const corruptKeys = names
            .filter((name) => corrupt.has(name))
            .map(chunkKey)
            .sort();
          const missingKeys = names
            .filter((name) => !corrupt.has(name))
            .map(chunkKey)
            .sort();
          expect(result.status).toBe(chunks === 0 ? 'ok' : 'findings');
          expect([result.corruptCount, result.missingCount]).toEqual([
            corruptKeys.length,
            missingKeys.length,
          ]);
          expect(result.corrupt.map((f) => f.key)).toEqual(corruptKeys.slice(0, MAX_SCRUB_FINDINGS_KEPT));
          expect(result.missing.map((f) => f.key)).toEqual(missingKeys.slice(0, MAX_SCRUB_FINDINGS_KEPT));
          for (const finding of [...result.corrupt, ...result.missing]) {
            expect(finding.images).toEqual(refs.slice(0, MAX_SCRUB_FINDING_IMAGES));
            expect(finding.imageCount).toBe(images);
          }
          expect(result.chunksVerified).toBe(0);
          const entries = await quarantine.list();
          expect(entries.map((entry) => entry.name)).toEqual([...names].sort());
          const volumes = [...new Set(refs.map((ref) => ref.slice(0, ref.indexOf('/'))))].sort();
          for (const entry of entries) expect(entry.volumeIds).toEqual(volumes);
        },
      ),
      {
        numRuns: 12,
        examples: [
          [20_000, 2_000, 40],
          [0, 1, 1],
          [150, 3, 1],
        ],
      },
    );
  }, 300_000);

  it('keeps a broken segment ahead of the chunk findings, however many of those there are', async () => {
    const { world, segments } = await badBucket(3 * SEGMENT_CHUNKS, 2);
    const brokenSegment = segmentKey(segments[2]!);
    world.bucket.setRaw(brokenSegment, Buffer.from('not a segment'));
    let progress: ScrubProgress = startScrubProgress({ all: true, runNumber: 0 });
    while (!progress.done)
      progress = await scrubSlice({ objects: world.bucket, records: world.records }, progress);
    const result = scrubResultOf(progress);
    const findings = [...result.corrupt, ...result.missing];
    expect(result.corruptCount + result.missingCount).toBeGreaterThan(2 * MAX_SCRUB_FINDINGS_KEPT);
    expect(findings.filter((f) => f.key === brokenSegment)).toHaveLength(1);
    const kind = result.corrupt.some((f) => f.key === brokenSegment) ? result.corrupt : result.missing;
    expect(kind[0]!.key).toBe(brokenSegment);
    expect(kind).toHaveLength(MAX_SCRUB_FINDINGS_KEPT);
  });

  it('keeps the first images and a reason cut to its cap', () => {
    const images = Array.from({ length: 12 }, (_, n) => `vol-a/img-${String(n).padStart(2, '0')}`).reverse();
    const finding = scrubFindingOf('chunks/ab', images, 'x'.repeat(MAX_SCRUB_REASON_CHARS + 5));
    expect(finding).toEqual({
      key: 'chunks/ab',
      images: images.slice(2).reverse(),
      imageCount: 12,
      reason: `${'x'.repeat(MAX_SCRUB_REASON_CHARS - 1)}…`,
    });
    expect(scrubFindingOf('chunks/cd', ['vol-b/i'], 'short')).toEqual({
      key: 'chunks/cd',
      images: ['vol-b/i'],
      imageCount: 1,
      reason: 'short',
    });
  });

  it('as a job: the record, the metric and the Scrub Findings event count every finding and stay under the bound', async () => {
    const { world, names, refs } = await badBucket(3_000, 40);
    const records: number[] = [];
    /** The job store, measuring every record written. */
    const jobs = new (class extends MemoryJobStore {
      override update(...args: Parameters<MemoryJobStore['update']>): Promise<void> {
        records.push(jsonBytes(args[0]));
        return super.update(...args);
      }
    })('run');
    const quarantine = new MemoryChunkQuarantine();
    const metric: number[] = [];
    const published: [string, object][] = [];
    const run = lifecycleRunDeps(world, jobs, {
      scrub: { objects: world.bucket, records: world.records, quarantine },
      recordFindings: (count) => void metric.push(count),
      events: { publish: (type, detail) => Promise.resolve(void published.push([type, detail])) },
    });
    const outcome = await runLifecycleJob(run, { kind: SCRUB_JOB_KIND, all: true }, Number.MAX_SAFE_INTEGER);
    expect(outcome).toMatchObject({
      continue: false,
      run: { status: 'findings', corruptCount: 1_000, missingCount: 2_000 },
    });
    expect(metric).toEqual([3_000]);
    expect(published.map(([type]) => type)).toEqual([SCRUB_FINDINGS_EVENT]);
    const detail = published[0]![1] as {
      corrupt: unknown[];
      missing: unknown[];
      corruptCount: number;
      missingCount: number;
    };
    expect([detail.corrupt.length, detail.missing.length, detail.corruptCount, detail.missingCount]).toEqual([
      50, 50, 1_000, 2_000,
    ]);
    expect(jsonBytes(detail)).toBeLessThan(SCRUB_PROGRESS_MAX_BYTES);
    expect(records.length).toBe(Math.ceil(3_000 / 256) + 2);
    expect(Math.max(...records)).toBeLessThan(SCRUB_PROGRESS_MAX_BYTES);
    const view = scrubRunOf(await jobs.get(outcome.run.runId));
    expect(view.corrupt[0]).toMatchObject({ images: refs.slice(0, 10), imageCount: 40 });
    expect((await quarantine.list()).map((entry) => entry.name)).toEqual([...names].sort());
  }, 120_000);

  it('resumes a progress saved before the caps: its lengths are the totals, then it is cut', async () => {
    const { world } = await badBucket(0, 1);
    const images = Array.from({ length: 15 }, (_, n) => `vol-a/i${String(n).padStart(2, '0')}`);
    const old = {
      ...startScrubProgress({ all: true, runNumber: 0 }),
      structureChecked: true,
      slices: 1,
      corrupt: Array.from({ length: 60 }, (_, n) => ({
        key: `chunks/${String(n).padStart(2, '0')}`,
        images,
        reason: 'bad',
      })),
      missing: [{ key: 'chunks/m', images: ['vol-b/i'], reason: 'gone' }],
    } as Record<string, unknown>;
    delete old.corruptCount;
    delete old.missingCount;
    const parsed = scrubProgressSchema.parse(old);
    expect([parsed.corruptCount, parsed.missingCount, parsed.corrupt.length]).toEqual([60, 1, 60]);
    expect(parsed.corrupt[0]).toEqual({
      key: 'chunks/00',
      images: images.slice(0, 10),
      imageCount: 15,
      reason: 'bad',
    });
    expect(parsed.missing).toEqual([{ key: 'chunks/m', images: ['vol-b/i'], imageCount: 1, reason: 'gone' }]);
    const done = await scrubSlice({ objects: world.bucket, records: world.records }, parsed);
    const result = scrubResultOf(done);
    expect([
      result.corrupt.length,
      result.corrupt.at(-1)!.key,
      result.corruptCount,
      result.missingCount,
    ]).toEqual([MAX_SCRUB_FINDINGS_KEPT, 'chunks/49', 60, 1]);
  });
});
