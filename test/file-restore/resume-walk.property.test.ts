/**
 * Property: an archive resumed at the cursor of any byte, once or several times in a row, goes on
 * with exactly the bytes and the result of the archive made in one go (issue 12, tar-archive.ts).
 * Random trees (generateTree: nested and deep directories, unicode names, hard links, symlinks,
 * devices, a fifo and a socket) on real ext4 images (mke2fs -d), one root or several, random cut
 * points, and in every tree with hard links a cut whose cursor carries one. Bodies before the cut
 * are not read (zeros) and not compared: the writer drops them.
 */
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { tarArchive, type TarArchive } from '../../lambdas/core/file-restore/tar-archive.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
/** Trees made (each an image): mke2fs and the archives take ~0.5 s a tree. */
const TREES = 12;

let work: string;

beforeAll(async () => {
  work = await scratchDir('resume-walk-property');
});

afterAll(async () => {
  await removeDir(work);
});

async function bytesOf(archive: TarArchive): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of archive.stream) pieces.push(Buffer.from(piece));
  return Buffer.concat(pieces);
}

/** Tar's record size: every entry starts on one. */
const TAR_BLOCK_BYTES = 512;

/**
 * The first cut whose cursor carries a hard link (a multiply-linked file archived before it, whose
 * later paths must stay link entries), probed on an archive of its own; undefined when none has.
 */
async function firstCutWithLinks(make: () => TarArchive): Promise<number | undefined> {
  const archive = make();
  const length = (await bytesOf(archive)).length;
  for (let cut = 0; cut < length; cut += TAR_BLOCK_BYTES) {
    if ((archive.cursorAt(cut)?.links.length ?? 0) > 0) return cut;
  }
  return undefined;
}

/** Roots of an application-like restore: several disjoint subtrees that generateTree always makes. */
const SEVERAL_ROOTS = ['/tiny-dir', '/many-entries', '/empty-dir'];

describe('an archive resumed at a cursor', () => {
  it('continues with the bytes and the result of the archive made in one go', async () => {
    let run = 0;
    let cutsWithLinks = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          files: fc.integer({ min: 5, max: 80 }),
          deepChain: fc.integer({ min: 0, max: 6 }),
          specialFiles: fc.boolean(),
          several: fc.boolean(),
          cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), {
            minLength: 1,
            maxLength: 4,
          }),
        }),
        async ({ seed, files, deepChain, specialFiles, several, cuts }) => {
          run += 1;
          const source = path.join(work, `src-${run}`);
          await generateTree(source, { seed, files, deepChain, specialFiles, maxFileBytes: 40 * KIB });
          const imageFile = path.join(work, `disk-${run}.img`);
          await makeExtImage(imageFile, {
            type: 'ext4',
            sizeBytes: 16 * MIB,
            blockSize: 4096,
            sourceDir: source,
          });
          const disk = await FileByteRangeReader.open(imageFile);
          try {
            const { fs, reader } = await openImageFilesystem(disk);
            const roots = several ? SEVERAL_ROOTS : ['/'];
            let archive = tarArchive(fs, reader, roots, 0, { cursors: true });
            const whole = await bytesOf(archive);
            const result = structuredClone(archive.progress);
            // Without cursors asked for (a plain upload stores nothing until the end), none is kept.
            const plain = tarArchive(fs, reader, roots);
            expect((await bytesOf(plain)).equals(whole)).toBe(true);
            expect(plain.cursorAt(whole.length)).toBeUndefined();
            const atLink = await firstCutWithLinks(() => tarArchive(fs, reader, roots, 0, { cursors: true }));
            if (atLink !== undefined) cutsWithLinks += 1;
            const points = [
              ...cuts.map((c) => Math.floor(c * whole.length)),
              ...(atLink === undefined ? [] : [atLink]),
            ];
            for (const cut of points.sort((a, b) => a - b)) {
              const cursor = archive.cursorAt(cut)!;
              expect(cursor.start).toBeLessThanOrEqual(cut);
              expect(cursor.start).toBeGreaterThanOrEqual(archive.start);
              archive = tarArchive(fs, reader, roots, cut, { from: cursor, cursors: true });
              const rest = await bytesOf(archive);
              expect(archive.start).toBe(cursor.start);
              expect(rest.length).toBe(whole.length - cursor.start);
              expect(rest.subarray(cut - cursor.start).equals(whole.subarray(cut))).toBe(true);
              expect(archive.progress).toEqual(result);
            }
          } finally {
            await disk.close();
            await removeDir(source);
            await removeDir(imageFile);
          }
        },
      ),
      { numRuns: TREES },
    );
    // Most trees have a hard link whose first path is archived before a cut (the rest: in one root of several).
    expect(cutsWithLinks).toBeGreaterThan(TREES / 2);
  }, 180_000);
});
