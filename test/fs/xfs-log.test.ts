/**
 * The XFS log is not replayed, so a filesystem whose log is dirty (a snapshot of a mounted XFS)
 * must open with a warning, and a cleanly unmounted one without. Oracle: xfs_logprint -t, XFS's
 * own reading of the log's state, on images the kernel wrote (a mount, a shutdown without log
 * flush for the dirty one).
 */
import { copyFile, open } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openXfs } from '../../lambdas/core/fs/xfs/filesystem.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { removeDir, run, scratchDir } from '../support/fs-images.ts';
import { makeXfsImage } from './xfs-images.ts';

const MIB = 1024 * 1024;
const DIRTY_WARNING =
  'log is dirty (not cleanly unmounted) and is not replayed: metadata written just before the snapshot may be missing';

let work: string;
const images: Record<'fresh' | 'clean' | 'dirty', string> = { fresh: '', clean: '', dirty: '' };

async function warningsOf(image: string): Promise<string[]> {
  const reader = await FileByteRangeReader.open(image);
  try {
    return (await openXfs(reader)).warnings;
  } finally {
    await reader.close();
  }
}

async function logprintState(image: string): Promise<string> {
  const out = await run('xfs_logprint', ['-t', image]);
  return /state: <(\w+)>/.exec(out)?.[1] ?? out;
}

beforeAll(async () => {
  work = await scratchDir('xfs-log');
  images.fresh = path.join(work, 'fresh.img');
  await makeXfsImage(images.fresh, { sizeBytes: 320 * MIB });
  images.clean = path.join(work, 'clean.img');
  await makeXfsImage(images.clean, { sizeBytes: 320 * MIB, sourceDir: '/etc/ssl' });
  images.dirty = path.join(work, 'dirty.img');
  await copyFile(images.clean, images.dirty);
  const mnt = path.join(work, 'mnt');
  await run('mkdir', ['-p', mnt]);
  await run('mount', ['-o', 'loop', images.dirty, mnt]);
  try {
    await run('cp', ['-r', '/etc/default', mnt]);
    await run('sync', []);
    // Shut the filesystem down without flushing the log (the test suite's "godown").
    await run('xfs_io', ['-x', '-c', 'shutdown', mnt]);
  } finally {
    await run('umount', [mnt]);
  }
}, 120_000);

afterAll(async () => {
  await removeDir(work);
});

describe('the XFS log state', () => {
  it('a fresh and a cleanly unmounted filesystem open without a warning; a dirty log warns', async () => {
    expect(await logprintState(images.fresh)).toBe('CLEAN');
    expect(await warningsOf(images.fresh)).toEqual([]);
    expect(await logprintState(images.clean)).toBe('CLEAN');
    expect(await warningsOf(images.clean)).toEqual([]);
    expect(await logprintState(images.dirty)).toBe('DIRTY');
    expect(await warningsOf(images.dirty)).toEqual([DIRTY_WARNING]);
  });

  it('a log placed outside the device is a warning, and the filesystem still opens', async () => {
    const damaged = path.join(work, 'damaged.img');
    await copyFile(images.clean, damaged);
    const handle = await open(damaged, 'r+');
    try {
      // sb_logblocks (offset 96): far more blocks than the device holds. v5 superblocks are
      // checksummed, so the reader is told not to verify (the structure check is what is tested).
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(0x7fff_ffff);
      await handle.write(bytes, 0, 4, 96);
    } finally {
      await handle.close();
    }
    const reader = await FileByteRangeReader.open(damaged);
    try {
      const fs = await openXfs(reader, { verifyChecksums: false });
      expect(fs.warnings).toEqual([
        expect.stringMatching(
          /^log could not be checked \(XFS log at block \d+ \(2147483647 blocks\) lies outside the device\)$/,
        ),
      ]);
    } finally {
      await reader.close();
    }
  });
});
