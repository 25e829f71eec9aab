/**
 * Fuzz, with the harness and budget of fuzz.test.ts: small real NTFS images (mkntfs + ntfs-3g,
 * 4 KiB and 1 KiB clusters) get random bytes mutated in their metadata (the boot sector, every
 * in-use FILE record, every INDX record: located by reading the image), deterministically from a
 * seed. Each mutated image is opened, walked and every file and stream read; it must finish
 * within the time bound with results or typed errors: no unhandled exception, no hang.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINDOWS_ATTRIBUTES } from '../../lambdas/core/fs/filesystem.ts';
import { openNtfs } from '../../lambdas/core/fs/ntfs/filesystem.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import * as fuzz from './fuzz-harness.ts';
import { prng, randomBytes, removeDir, run, scratchDir, writeSparseFile } from '../support/fs-images.ts';
import { NtfsMount, makeNtfsImage, reparseBuffer, setWindowsAttributes, setXattr } from './ntfs-images.ts';

const MIB = 1024 * 1024;
/** 32-bit values a mutation may write: the usual extremes, plus 5 ($Volume's record) and 0x30 (the file name attribute's type). */
const NTFS_EXTREMES = [0, 0xffffffff, 0x7fffffff, 1, 2, 5, 0x30];

type Target = fuzz.FuzzTarget;

let work: string;
const targets: Target[] = [];
const mounts: NtfsMount[] = [];

/** The boot sector, the in-use FILE records of the $MFT's first run, and every INDX record. */
function metadataRegions(bytes: Uint8Array): fuzz.Region[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const regions: fuzz.Region[] = [{ start: 0, length: 512, kind: 'boot' }];
  const cluster = view.getUint16(0x0b, true) * bytes[0x0d]!;
  const mftAt = Number(view.getBigUint64(0x30, true)) * cluster;
  for (let n = 0; n < 512; n += 1) {
    const at = mftAt + n * 1024;
    if (at + 1024 > bytes.length) break;
    const magic = String.fromCharCode(...bytes.subarray(at, at + 4));
    if (magic === 'FILE' && view.getUint16(at + 0x16, true) & 1) {
      regions.push({ start: at, length: 1024, kind: n < 16 ? 'system-record' : 'record' });
    }
  }
  for (let at = 0; at + 4096 <= bytes.length; at += 512) {
    if (String.fromCharCode(...bytes.subarray(at, at + 4)) === 'INDX')
      regions.push({ start: at, length: 4096, kind: 'indx' });
  }
  return regions;
}

async function addTarget(name: string, clusterBytes: number, seed: number): Promise<void> {
  const image = path.join(work, `${name}.img`);
  await makeNtfsImage(image, { sizeBytes: 8 * MIB, clusterBytes, label: name });
  const mount = await NtfsMount.mount(image, path.join(work, `${name}-mnt`));
  mounts.push(mount);
  const mnt = mount.dir;
  const rand = prng(seed);
  const dirs = [mnt];
  for (let i = 0; i < 6; i += 1) {
    const dir = path.join(dirs[Math.floor(rand() * dirs.length)]!, `dir-${i}-é`);
    await mkdir(dir);
    dirs.push(dir);
  }
  for (let i = 0; i < 70; i += 1) {
    const size = rand() < 0.5 ? Math.floor(rand() * 600) : Math.floor(rand() * 30_000);
    await writeFile(path.join(dirs[Math.floor(rand() * dirs.length)]!, `file-${i}`), randomBytes(rand, size));
  }
  const many = path.join(mnt, 'many');
  await mkdir(many);
  for (let i = 0; i < 150; i += 1) await writeFile(path.join(many, `entry-${i}`), `${i}\n`);
  const compressed = path.join(mnt, 'compressed');
  await mkdir(compressed);
  await setWindowsAttributes(compressed, WINDOWS_ATTRIBUTES.DIRECTORY | WINDOWS_ATTRIBUTES.COMPRESSED);
  await writeFile(path.join(compressed, 'text'), 'compressible text '.repeat(5000));
  await writeSparseFile(
    path.join(mnt, 'fragmented'),
    600 * 8192,
    Array.from({ length: 600 }, (_, i) => ({ offset: i * 8192, data: new Uint8Array(100).fill(i & 0xff) })),
  );
  await writeFile(path.join(mnt, 'links-0'), 'many names');
  for (let i = 1; i < 12; i += 1) await run('ln', [path.join(mnt, 'links-0'), path.join(mnt, `links-${i}`)]);
  await setXattr(path.join(mnt, 'links-0'), 'user.stream', randomBytes(rand, 5000));
  await writeFile(path.join(mnt, 'symlink'), '');
  await setXattr(
    path.join(mnt, 'symlink'),
    'system.ntfs_reparse_data',
    reparseBuffer('symlink', 'file-1', 'file-1'),
  );
  await mount.unmount();
  mounts.splice(mounts.indexOf(mount), 1);
  const bytes = new Uint8Array(await readFile(image));
  targets.push({ name, bytes, regions: metadataRegions(bytes) });
}

beforeAll(async () => {
  work = await scratchDir('ntfs-fuzz');
  await addTarget('ntfs-4k', 4096, 51);
  await addTarget('ntfs-1k', 1024, 52);
}, 120_000);
afterAll(async () => {
  for (const mount of mounts) await mount.unmount().catch(() => undefined);
  await removeDir(work);
});

/** Opens, walks and reads everything; any error that is not one of ours is "unexpected" (a bug). */
async function exercise(bytes: Uint8Array): Promise<fuzz.WalkOutcome> {
  return fuzz.exerciseWalk(
    () => openNtfs(new MemoryByteRangeReader(bytes)),
    async (fs, item) => {
      if (item.type === 'symlink') await fs.readLink(item.inode);
      if (item.type !== 'file') return;
      await fuzz.readHead(fs, item);
      for (const stream of item.streams ?? []) {
        await fs.readFile(item.inode, 0, Math.min(stream.size, fuzz.READ_CAP_BYTES), stream.name);
      }
      if (item.plainExtents !== false) await fuzz.countExtents(fs, item.inode);
    },
  );
}

describe('fuzzed NTFS images', () => {
  it('intact images walk without errors (the baseline the mutations start from)', async () => {
    for (const target of targets) {
      const outcome = await exercise(target.bytes);
      fuzz.expectWalkIntact(target.name, outcome);
      expect(outcome.entries).toBeGreaterThan(240);
      const kinds = new Set(target.regions.map((r) => r.kind));
      expect([...kinds].sort()).toEqual(['boot', 'indx', 'record', 'system-record']);
    }
  });

  fuzz.itFinishesEveryMutatedImage(
    'ntfs fuzz',
    targets,
    { mutations: fuzz.FUZZ_MUTATIONS_PER_IMAGE, mutate: () => ({ extremes: NTFS_EXTREMES }) },
    (_target, bytes) => exercise(bytes),
    {
      images: () => 2 * fuzz.FUZZ_MUTATIONS_PER_IMAGE,
      damaged: (totals) => totals.walkErrors + totals.fileErrors,
      damagedMoreThanOneIn: 5,
    },
  );
});
