/**
 * Fuzz, with the harness and budget of test/fs/fuzz.test.ts: small real XFS images (v5 filled by
 * the kernel, v4 from a protofile) and a real LVM2 PV get random bytes mutated in their metadata
 * (XFS: superblock, AG headers, inode records, directory, block-map B+tree and remote symlink
 * blocks, located with xfs_db; LVM: label, PV header, metadata area header and text),
 * deterministically from a seed. Each mutated image is opened, walked and every file read; it
 * must finish within the time bound with results or typed errors: no unhandled exception, no hang.
 * A property test feeds the LVM metadata text parser arbitrary and mutated text.
 */
import { lstat, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RbpError } from '../../lambdas/core/errors.ts';
import { parseMetadataText } from '../../lambdas/core/fs/lvm/metadata-text.ts';
import { readLvmPhysicalVolume } from '../../lambdas/core/fs/lvm/physical-volume.ts';
import { openXfs } from '../../lambdas/core/fs/xfs/filesystem.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import * as fuzz from './fuzz-harness.ts';
import { generateTree, readSourceTree, removeDir, run, scratchDir } from '../support/fs-images.ts';
import { makeXfsImage, writeInterleaved } from './xfs-images.ts';

const MIB = 1024 * 1024;

interface Target extends fuzz.FuzzTarget {
  readonly kind: 'xfs' | 'lvm';
}

let work: string;
const targets: Target[] = [];

async function xfsDb(image: string, commands: string[]): Promise<string> {
  return run('xfs_db', ['-r', ...commands.flatMap((c) => ['-c', c]), image]);
}

/** Metadata regions of an XFS image: geometry from xfs_db's superblock, blocks from its bmap. */
async function xfsRegions(
  image: string,
  inodes: readonly { ino: number; dir: boolean; link: boolean; big: boolean }[],
): Promise<fuzz.Region[]> {
  const sb = await xfsDb(image, ['sb 0', 'p']);
  const field = (name: string): number => Number(new RegExp(`^${name} = (\\d+)$`, 'm').exec(sb)![1]);
  const bs = field('blocksize');
  const agBlocks = field('agblocks');
  const agLog = field('agblklog');
  const inoLog = field('inopblog');
  const inodeSize = field('inodesize');
  const sect = field('sectsize');
  const fsbToByte = (ag: number, agbno: number): number => (ag * agBlocks + agbno) * bs;
  const regions: fuzz.Region[] = [{ start: 0, length: sect, kind: 'superblock' }];
  for (let ag = 0; ag < field('agcount'); ag += 1)
    regions.push({ start: fsbToByte(ag, 0) + sect, length: 3 * sect, kind: 'ag' });
  for (const { ino, dir, link, big } of inodes) {
    const ag = Math.floor(ino / 2 ** (agLog + inoLog));
    const rest = ino % 2 ** (agLog + inoLog);
    regions.push({
      start: fsbToByte(ag, Math.floor(rest / 2 ** inoLog)) + (rest % 2 ** inoLog) * inodeSize,
      length: inodeSize,
      kind: 'inodes',
    });
    if (!dir && !link && !big) continue;
    const out = await xfsDb(image, [
      `inode ${ino}`,
      'bmap',
      'p core.format',
      'p u3.bmbt.ptrs',
      'p u.bmbt.ptrs',
    ]);
    for (const m of out.matchAll(/startblock \d+ \((\d+)\/(\d+)\) count (\d+)/g)) {
      if (big && !dir) continue; // the data of regular files is not metadata
      regions.push({
        start: fsbToByte(Number(m[1]), Number(m[2])),
        length: Number(m[3]) * bs,
        kind: dir ? 'dir' : 'symlink',
      });
    }
    for (const m of out.matchAll(/ptrs\[[\d-]+\] = ([\d: ]+)/g)) {
      for (const ptr of m[1]!.trim().split(/\s+/)) {
        const fsb = Number(ptr.split(':').at(-1));
        regions.push({
          start: fsbToByte(Math.floor(fsb / 2 ** agLog), fsb % 2 ** agLog),
          length: bs,
          kind: 'map',
        });
      }
    }
  }
  return regions;
}

async function addXfsTarget(name: string, mkfsArgs: string[], seed: number, v4: boolean): Promise<void> {
  const src = path.join(work, `${name}-src`);
  await generateTree(src, {
    seed,
    files: 70,
    deepChain: 6,
    maxFileBytes: 30_000,
    maxSymlinkBytes: 900,
    specialFiles: !v4,
  });
  const image = path.join(work, `${name}.img`);
  await makeXfsImage(image, {
    sizeBytes: 32 * MIB,
    mkfsArgs,
    ...(v4
      ? { protofileFrom: src }
      : {
          sourceDir: src,
          populate: async (m: string) => {
            await writeInterleaved(m, 'fragmented', 40);
            await run('mkdir', [path.join(m, 'wide')]);
            for (let i = 0; i < 250; i += 1) await run('touch', [path.join(m, 'wide', `entry-${i}`)]);
          },
        }),
  });
  // Inode numbers from a read-only mount (v5) or from the reader on the intact image (v4: the
  // kernel here no longer mounts v4); either only chooses where to mutate.
  const inodes: { ino: number; dir: boolean; link: boolean; big: boolean }[] = [];
  if (v4) {
    const fs = await openXfs(new MemoryByteRangeReader(new Uint8Array(await readFile(image))));
    for await (const item of fs.walk()) {
      if (item.kind === 'entry') {
        inodes.push({
          ino: item.inode,
          dir: item.type === 'directory',
          link: item.type === 'symlink' && item.size > 200,
          big: false,
        });
      }
    }
  } else {
    const mnt = `${image}.ro`;
    await run('mkdir', ['-p', mnt]);
    await run('mount', ['-o', 'ro,loop', image, mnt]);
    try {
      for (const [p, entry] of await readSourceTree(mnt)) {
        const st = entry.stat;
        inodes.push({
          ino: Number(st.ino),
          dir: st.isDirectory(),
          link: st.isSymbolicLink() && st.size > 200n,
          big: p === '/fragmented' || (await lstat(path.join(mnt, p))).blocks > 2000,
        });
      }
    } finally {
      await run('umount', [mnt]);
    }
  }
  const regions = await xfsRegions(image, inodes);
  targets.push({ name, kind: 'xfs', bytes: new Uint8Array(await readFile(image)), regions });
}

async function addLvmTarget(): Promise<void> {
  const image = path.join(work, 'pv.img');
  await run('truncate', ['-s', String(16 * MIB), image]);
  const dev = (await run('losetup', ['-f', '--show', image])).trim();
  try {
    await run('pvcreate', ['-q', '-y', dev]);
    await run('vgcreate', ['-q', '-s', '1M', 'fuzzvg', dev]);
    const backup = path.join(work, 'fuzzvg.vg');
    await run('vgcfgbackup', ['-q', '-f', backup, 'fuzzvg']);
    const text = await readFile(backup, 'utf8');
    const end = text.lastIndexOf('}');
    const lv = (name: string, segs: string): string =>
      `${name} {\nid = "${name.padEnd(6, '0')}-aaaa-bbbb-cccc-dddd-eeee-ffffff"\nstatus = ["READ", "WRITE", "VISIBLE"]\nflags = []\n${segs}}\n`;
    const lvs =
      lv(
        'linear',
        'segment_count = 2\nsegment1 {\nstart_extent = 0\nextent_count = 3\ntype = "striped"\nstripe_count = 1\nstripes = ["pv0", 0]\n}\nsegment2 {\nstart_extent = 3\nextent_count = 2\ntype = "striped"\nstripe_count = 1\nstripes = ["pv0", 6]\n}\n',
      ) +
      lv(
        'stripe',
        'segment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 4\ntype = "striped"\nstripe_count = 2\nstripe_size = 128\nstripes = ["pv0", 8, "pv0", 10]\n}\n',
      );
    await writeFile(backup, `${text.slice(0, end)}\nlogical_volumes {\n${lvs}}\n${text.slice(end)}`);
    await run('vgcfgrestore', ['-f', backup, 'fuzzvg']);
  } finally {
    await run('vgchange', ['-an', 'fuzzvg']).catch(() => undefined);
    await run('losetup', ['-d', dev]);
  }
  const bytes = new Uint8Array(await readFile(image));
  const mda = Number(Buffer.from(bytes).readBigUInt64LE(512 + 32 + 32 + 8 + 32));
  const textAt = mda + Number(Buffer.from(bytes).readBigUInt64LE(mda + 40));
  const textSize = Number(Buffer.from(bytes).readBigUInt64LE(mda + 48));
  targets.push({
    name: 'lvm',
    kind: 'lvm',
    bytes,
    regions: [
      { start: 512, length: 512, kind: 'label' },
      { start: mda, length: 512, kind: 'mda' },
      { start: textAt, length: textSize, kind: 'text' },
    ],
  });
}

beforeAll(async () => {
  work = await scratchDir('xfs-fuzz');
  await addXfsTarget('xfs-v5', [], 51, false);
  await addXfsTarget('xfs-v4', ['-m', 'crc=0', '-b', 'size=1024'], 52, true);
  await addLvmTarget();
}, 120_000);
afterAll(async () => {
  await removeDir(work);
});

interface Outcome {
  opened: boolean;
  entries: number;
  errors: number;
  unexpected: string[];
}

async function exercise(target: Target, bytes: Uint8Array, verifyChecksums: boolean): Promise<Outcome> {
  const outcome: Outcome = { opened: false, entries: 0, errors: 0, unexpected: [] };
  const typed = (error: unknown, where: string): void => {
    outcome.errors += 1;
    fuzz.checkTyped(outcome.unexpected, error, where);
  };
  const reader = new MemoryByteRangeReader(bytes);
  if (target.kind === 'lvm') {
    try {
      const pv = await readLvmPhysicalVolume(reader);
      outcome.opened = true;
      for (const lv of pv.logicalVolumes) {
        outcome.entries += 1;
        if (lv.status !== 'readable') continue;
        try {
          await lv.reader.read(0, Math.min(lv.sizeBytes, fuzz.READ_CAP_BYTES));
          await lv.reader.read(Math.max(0, lv.sizeBytes - 70_000), Math.min(lv.sizeBytes, 70_000));
        } catch (error) {
          typed(error, `read ${lv.name}`);
        }
      }
    } catch (error) {
      typed(error, 'open');
    }
    return outcome;
  }
  const walked = await fuzz.exerciseWalk(
    () => openXfs(reader, { verifyChecksums }),
    async (fs, item) => {
      if (item.type === 'symlink') await fs.readLink(item.inode);
      if (item.type !== 'file' && item.type !== 'directory') return;
      await fuzz.readHead(fs, item);
      await fuzz.countExtents(fs, item.inode);
    },
  );
  return {
    opened: walked.opened,
    entries: walked.entries,
    errors: walked.walkErrors + walked.fileErrors + (walked.opened ? 0 : 1),
    unexpected: walked.unexpected,
  };
}

describe('fuzzed XFS images and LVM2 metadata', () => {
  it('intact images read without errors, and every kind of metadata is a mutation target', async () => {
    for (const target of targets) {
      const outcome = await exercise(target, target.bytes, true);
      fuzz.expectIntact(target.name, outcome);
      const kinds = new Set(target.regions.map((r) => r.kind));
      const wanted =
        target.kind === 'lvm'
          ? ['label', 'mda', 'text']
          : ['superblock', 'ag', 'inodes', 'dir', 'symlink', ...(target.name === 'xfs-v5' ? ['map'] : [])];
      expect({ name: target.name, kinds: wanted.filter((k) => kinds.has(k)) }).toEqual({
        name: target.name,
        kinds: wanted,
      });
      expect(outcome.entries).toBeGreaterThan(target.kind === 'lvm' ? 1 : 60);
    }
  });

  fuzz.itFinishesEveryMutatedImage(
    'xfs/lvm fuzz',
    targets,
    // 32-bit fields are written big-endian like XFS, little-endian like LVM2's label.
    {
      mutations: fuzz.FUZZ_MUTATIONS_PER_IMAGE,
      mutate: (target) => ({ littleEndian: target.kind === 'lvm' }),
    },
    // Odd seeds skip checksum verification: a guest can write valid checksums, so the
    // structural defences must hold on their own.
    (target, bytes, seed) => exercise(target, bytes, seed % 2 === 0),
    {
      images: () => targets.length * fuzz.FUZZ_MUTATIONS_PER_IMAGE,
      damaged: (totals) => totals.errors,
      damagedMoreThanOneIn: 5,
    },
  );

  it('the metadata text parser returns a tree or a typed error for any text', () => {
    const base =
      'vg {\nid = "x"\nseqno = 3\nextent_size = 8192\nphysical_volumes {\npv0 {\nid = "a"\npe_start = 2048\npe_count = 10\n}\n}\nlogical_volumes {\nlv {\nstatus = ["VISIBLE"]\nsegment1 {\nstart_extent = 0\nextent_count = 2\ntype = "striped"\nstripe_count = 1\nstripes = ["pv0", 0]\n}\n}\n}\n}\n';
    const alphabet = fc.constantFrom(...'{}[]=,"\\#\n 0123456789-abc_.'.split(''));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: alphabet, maxLength: 300 }),
          fc
            .tuple(fc.nat(base.length), fc.string({ unit: alphabet, maxLength: 20 }))
            .map(([at, s]) => base.slice(0, at) + s + base.slice(at)),
        ),
        (text) => {
          try {
            parseMetadataText(text);
          } catch (error) {
            expect(error).toBeInstanceOf(RbpError);
          }
        },
      ),
      { numRuns: 2000 },
    );
    expect(parseMetadataText(base).sections.get('vg')!.sections.get('logical_volumes')!.order).toEqual([
      'lv',
    ]);
    expect(() => parseMetadataText(`${'a {\n'.repeat(40)}${'}\n'.repeat(40)}`)).toThrow(
      'sections nested too deeply',
    );
  });
});
