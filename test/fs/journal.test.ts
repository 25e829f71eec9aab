/**
 * jbd2 replay in memory. A transaction is put in the journal with debugfs (jo/jw/jc) holding the
 * blocks that debugfs changes made on a copy of the image; the image then needs recovery.
 * Oracle: e2fsck replaying that journal for real. Revoke records are checked the same way.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openExt4 } from '../../lambdas/core/fs/index.ts';
import type { Ext4Filesystem, WalkItem } from '../../lambdas/core/fs/index.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { debugfs, generateTree, makeExtImage, removeDir, run, scratchDir } from '../support/fs-images.ts';
import { collectWalk } from './verify-against-source.ts';

const MIB = 1024 * 1024;
const BLOCK = 1024;
let work: string;
let original: string;
const readers: FileByteRangeReader[] = [];

beforeAll(async () => {
  work = await scratchDir('journal');
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 51, files: 80, deepChain: 4, specialFiles: false });
  original = path.join(work, 'original.img');
  await makeExtImage(original, { type: 'ext4', sizeBytes: 8 * MIB, blockSize: BLOCK, sourceDir: src });
});
afterAll(async () => {
  await Promise.all(readers.map((r) => r.close()));
  await removeDir(work);
});

async function open(image: string, replayJournal = true): Promise<Ext4Filesystem> {
  const reader = await FileByteRangeReader.open(image);
  readers.push(reader);
  return openExt4(reader, { replayJournal });
}

/** What a catalog would record, without fields e2fsck may legitimately touch (none expected). */
function summary(items: readonly WalkItem[]): unknown[] {
  return items.map((i) =>
    i.kind === 'error'
      ? { error: i.path, message: i.error.message }
      : {
          path: i.path,
          inode: i.inode,
          type: i.type,
          size: i.size,
          uid: i.uid,
          mode: i.mode,
          nlink: i.nlink,
          mtime: i.mtime,
          target: i.symlinkTarget,
        },
  );
}

async function contents(fs: Ext4Filesystem, items: readonly WalkItem[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const i of items) {
    if (i.kind === 'entry' && i.type === 'file')
      out.set(i.path, Buffer.from(await fs.readFile(i.inode)).toString('hex'));
  }
  return out;
}

/** Journals, as one transaction, every block in which `changed` differs from `base`. */
async function journalDifferences(base: string, changed: string, target: string): Promise<number[]> {
  const a = await readFile(base);
  const b = await readFile(changed);
  const blocks: number[] = [];
  for (let block = 0; block * BLOCK < a.length; block += 1) {
    if (
      !a.subarray(block * BLOCK, (block + 1) * BLOCK).equals(b.subarray(block * BLOCK, (block + 1) * BLOCK))
    )
      blocks.push(block);
  }
  const data = path.join(work, `${path.basename(target)}.blocks`);
  await writeFile(data, Buffer.concat(blocks.map((block) => b.subarray(block * BLOCK, (block + 1) * BLOCK))));
  await copyFile(base, target);
  await debugfs(target, ['jo', `jw -b ${blocks.join(',')} ${data}`, 'jc']);
  return blocks;
}

describe('journal replay', () => {
  it('reads a filesystem that needs recovery as e2fsck leaves it after replaying the journal', async () => {
    const changed = path.join(work, 'changed.img');
    await copyFile(original, changed);
    const victim = (await collectWalk(await open(original))).find(
      (i) => i.kind === 'entry' && i.type === 'file' && i.depth === 1 && i.nlink === 1,
    )!;
    await writeFile(path.join(work, 'payload'), 'written just before the snapshot\n');
    await debugfs(changed, [
      `rm "${victim.path}"`,
      'mkdir /journaled-dir',
      `write ${path.join(work, 'payload')} /journaled-dir/new-file`,
      'symlink /journaled-dir/link /journaled-dir/new-file',
      'sif /tiny-dir/only-file uid 4321',
    ]);
    const journaled = path.join(work, 'journaled.img');
    const blocks = await journalDifferences(original, changed, journaled);
    expect((await run('dumpe2fs', ['-h', journaled])).includes('needs_recovery')).toBe(true);

    // The oracle: e2fsck replays the journal for real on a copy.
    const recovered = path.join(work, 'recovered.img');
    await copyFile(journaled, recovered);
    await run('e2fsck', ['-f', '-y', recovered]).catch(() => undefined);

    const replayed = await open(journaled);
    expect(replayed.needsRecovery).toBe(true);
    expect(replayed.warnings).toEqual([
      `journal replayed in memory: 1 transactions, ${blocks.length} blocks`,
    ]);
    const mine = await collectWalk(replayed);
    const theirs = await collectWalk(await open(recovered));
    expect(summary(mine)).toEqual(summary(theirs));
    expect(await contents(replayed, mine)).toEqual(await contents(await open(recovered), theirs));
    const paths = mine.flatMap((i) => (i.kind === 'entry' ? [i.path] : []));
    expect(paths).toContain('/journaled-dir/new-file');
    expect(paths).not.toContain(victim.path);

    // Without replay the image reads as it is on disk: the state before the transaction.
    const unreplayed = await open(journaled, false);
    expect(unreplayed.warnings).toEqual([
      'journal needs recovery and was not replayed: recently written metadata may be missing',
    ]);
    expect(summary(await collectWalk(unreplayed))).toEqual(summary(await collectWalk(await open(original))));
  });

  it('does not replay a block revoked by a later transaction', async () => {
    const image = path.join(work, 'revoke.img');
    await copyFile(original, image);
    // Two free blocks near the end of the filesystem: their content is not used by any file.
    const [kept, revoked] = [8000, 8001];
    const data = path.join(work, 'revoke.blocks');
    await writeFile(data, Buffer.concat([Buffer.alloc(BLOCK, 0x4b), Buffer.alloc(BLOCK, 0x52)]));
    await debugfs(image, ['jo', `jw -b ${kept},${revoked} ${data}`, 'jc', 'jo', `jw -r ${revoked}`, 'jc']);
    const fs = await open(image);
    expect(fs.warnings).toEqual(['journal replayed in memory: 2 transactions, 1 blocks']);
    expect(Buffer.from(await fs.cache.read(kept * BLOCK, BLOCK)).equals(Buffer.alloc(BLOCK, 0x4b))).toBe(
      true,
    );
    const onDisk = (await readFile(image)).subarray(revoked * BLOCK, (revoked + 1) * BLOCK);
    expect(Buffer.from(await fs.cache.read(revoked * BLOCK, BLOCK)).equals(onDisk)).toBe(true);
  });
});
