/**
 * NTFS reader benchmark: a real tree (/usr/lib/python3, /usr/share/perl5 and node_modules/@aws-sdk,
 * about 50,000 files) written through ntfs-3g onto a mkntfs volume with a 160 MiB file, then in
 * the same run:
 * - catalog walk entries/s of the reader (open + walk + stat of every entry) against The Sleuth
 *   Kit's `fls -r -m /` on the same image (goal >= 0.5 of TSK, which is C). Both read a local
 *   file with no latency to hide, so this compares parsing work: read-ahead is off here, so that
 *   the walk, like fls, reads one request at a time (with it, INDX reads overlap on the thread
 *   pool), and it is measured on its own in the latency case below;
 * - the same walk over a reader that waits 2 ms per request, with and without read-ahead;
 * - sequential read MiB/s of the large file through readFileStream against `icat`.
 * Walks and fls runs are interleaved in pairs after a warm-up pair (bench/fs-walk-bench.ts).
 * The image is built once per machine (bench/bench-cache.ts) and reused.
 */
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { openNtfs } from '../../lambdas/core/fs/ntfs/filesystem.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { removeDir, run } from '../../test/support/fs-images.ts';
import { NtfsMount, makeNtfsImage } from '../../test/fs/ntfs-images.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';
import { benchCacheDir, fileExists } from '../bench-cache.ts';
import {
  REAL_TREE,
  WALK_GOAL_RATIO,
  compareWalkWithFls,
  readLargeFile,
  writeLargeFile,
  timedTool,
  walkComparisonResult,
  walkImage,
  withLatency,
  type Opener,
} from '../fs-walk-bench.ts';

const MIB = 1024 * 1024;
/** Bump to rebuild the cached image. */
const IMAGE_VERSION = 'v1';
/** Simulated latency per request for the read-ahead comparison (a GET from S3 is 10-50 ms). */
const LATENCY_MS = 2;

async function benchImage(dir: string): Promise<string> {
  const image = path.join(dir, `ntfs-real-${IMAGE_VERSION}.img`);
  if (await fileExists(image)) return image;
  console.error(`bench fs-ntfs: building ${image} through ntfs-3g (once)`);
  const tmp = `${image}.tmp`;
  await makeNtfsImage(tmp, { sizeBytes: REAL_TREE.imageBytes, label: 'rbp-bench' });
  const mount = await NtfsMount.mount(tmp, path.join(dir, 'ntfs-bench-mnt'));
  try {
    for (const source of REAL_TREE.sources) {
      if (!(await fileExists(source))) continue;
      await run('cp', [
        '-r',
        '--preserve=timestamps,links',
        source,
        path.join(mount.dir, path.basename(source)),
      ]);
    }
    await writeLargeFile(path.join(mount.dir, 'large.bin'));
  } finally {
    await mount.unmount();
  }
  await removeDir(path.join(dir, 'ntfs-bench-mnt'));
  await rename(tmp, image);
  return image;
}

export const suite: BenchSuite = {
  name: 'fs-ntfs',
  async run(): Promise<readonly BenchResult[]> {
    const image = await benchImage(await benchCacheDir());
    const serial: Opener = (reader) => openNtfs(reader, { readAhead: false });
    const walk = await compareWalkWithFls(image, serial, { flsSkip: '($FILE_NAME)' });
    let read = await readLargeFile(image, serial);
    let icat = await timedTool('icat', [image, String(read.inode)]);
    // Best of REAL_TREE.readRuns, of the reader and of icat alike.
    for (let i = 1; i < REAL_TREE.readRuns; i += 1) {
      const r = await readLargeFile(image, serial);
      if (r.ms < read.ms) read = r;
      const t = await timedTool('icat', [image, String(read.inode)]);
      if (t.ms < icat.ms) icat = t;
    }
    const readRate = read.bytes / MIB / (read.ms / 1000);
    const latency = (reader: ByteRangeReader): ByteRangeReader => withLatency(reader, LATENCY_MS);
    const slowAhead = await walkImage(image, (reader) => openNtfs(reader), latency);
    const slowSerial = await walkImage(image, serial, latency);
    const icatRate = icat.bytes / MIB / (icat.ms / 1000);
    return [
      walkComparisonResult('fs-ntfs/walk-entries-per-s', walk, `>= ${WALK_GOAL_RATIO} of fls -r -m`),
      {
        name: `fs-ntfs/walk-${LATENCY_MS}ms-latency`,
        value: Math.round(slowAhead.ms),
        unit: 'ms',
        baseline: Math.round(slowSerial.ms),
        ratio: round(slowAhead.ms / slowSerial.ms),
        goal: 'read-ahead < 1 of one request at a time',
        met: slowAhead.ms < slowSerial.ms,
        details: { entries: slowAhead.entries, requests: slowAhead.requests },
      },
      {
        name: 'fs-ntfs/read-large-file',
        value: round(readRate, 1),
        unit: 'MiB/s',
        baseline: round(icatRate, 1),
        ratio: round(readRate / icatRate),
        details: { bytes: read.bytes, icatBytes: icat.bytes },
      },
    ];
  },
};
