/**
 * Real FAT and exFAT images for the tests: a source tree copied from real files on this machine
 * (names FAT can hold), mkfs.vfat + mcopy (mtools) and mkfs.exfat + exfat-fuse on a loop device,
 * and The Sleuth Kit (fls, icat) as an independent reader.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { run } from './fs-images.ts';

const exec = promisify(execFile);

/**
 * Copies a real tree (regular files and directories, timestamps kept; symlinks removed, FAT has
 * none). The trees used hold no names FAT cannot store and no names that differ only by case.
 */
export async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  await run('cp', ['-r', '--preserve=timestamps', from, to]);
  await run('find', [to, '-type', 'l', '-delete']);
}

/** Adds what real trees lack: Unicode and long names, an empty file, a multi-cluster directory, a deep chain, a larger file. */
export async function addFatSpecials(root: string): Promise<void> {
  const special = path.join(root, 'Spëcial – ünïcode');
  await mkdir(special, { recursive: true });
  // Characters of the Basic Multilingual Plane only: mtools drops the others (the exFAT test adds
  // a surrogate-pair name through the FUSE driver). 150 characters: TSK's fls cuts FAT names near 200.
  const names = [
    '日本語のファイル.txt',
    'snowman-☃-party.txt',
    'Ωmega Ψ.dat',
    'café au lait.md',
    'a'.repeat(150) + '.long',
  ];
  for (const [i, name] of names.entries())
    await writeFile(path.join(special, name), `${name}\n`.repeat(i + 1));
  await writeFile(path.join(special, 'empty'), '');
  const many = path.join(root, 'many entries');
  await mkdir(many);
  for (let i = 0; i < 700; i += 1)
    await writeFile(path.join(many, `entry number ${i} with a long name.txt`), `${i}\n`);
  let deep = path.join(root, 'deep');
  for (let i = 0; i < 30; i += 1) deep = path.join(deep, `level-${i}`);
  await mkdir(deep, { recursive: true });
  await writeFile(path.join(deep, 'bottom.txt'), 'bottom\n');
  const big = Buffer.alloc(5 * 1024 * 1024 + 4321);
  for (let i = 0; i < big.length; i += 1) big[i] = (i * 2_654_435_761) >>> 24;
  await writeFile(path.join(root, 'big.bin'), big);
}

/** mkfs.vfat + mcopy: a FAT image holding `source` (UTF-8 names through mtools' charset conversion). */
export async function makeFatImage(
  image: string,
  sizeBytes: number,
  bits: 12 | 16 | 32,
  source: string,
  label: string,
): Promise<void> {
  await rm(image, { force: true });
  await run('truncate', ['-s', String(sizeBytes), image]);
  await run('mkfs.vfat', ['-F', String(bits), '-n', label, image]);
  const entries = await readdir(source);
  await exec('mcopy', ['-s', '-m', '-i', image, ...entries.map((e) => path.join(source, e)), '::/'], {
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** mkfs.exfat, then the tree copied in through exfat-fuse on a loop device (no kernel exfat here). */
export async function makeExfatImage(
  image: string,
  sizeBytes: number,
  source: string,
  label: string,
  populate?: (mount: string) => Promise<void>,
): Promise<void> {
  await rm(image, { force: true });
  await run('truncate', ['-s', String(sizeBytes), image]);
  await run('mkfs.exfat', ['-L', label, image]);
  const mount = `${image}.mnt`;
  await mkdir(mount, { recursive: true });
  const loop = (await run('losetup', ['-f', '--show', image])).trim();
  try {
    await run('mount.exfat-fuse', [loop, mount]);
    try {
      await run('cp', ['-r', '--preserve=timestamps', `${source}/.`, mount]);
      if (populate !== undefined) await populate(mount);
    } finally {
      await run('umount', [mount]);
    }
  } finally {
    await run('losetup', ['-d', loop]);
    await rm(mount, { recursive: true, force: true });
  }
}

export interface TskEntry {
  readonly type: 'file' | 'directory';
  readonly inode: string;
  readonly path: string;
}

/**
 * `fls -r -p` of a filesystem at `offsetSectors`: allocated files and directories only (no deleted
 * entries, no TSK's virtual files $MBR/$FAT1/$FAT2/$OrphanFiles/$ALLOC_BITMAP/$UPCASE_TABLE, no
 * volume label entry).
 */
export async function tskList(image: string, offsetSectors = 0): Promise<TskEntry[]> {
  const { stdout } = await exec('fls', ['-r', '-p', '-o', String(offsetSectors), image], {
    maxBuffer: 256 * 1024 * 1024,
  });
  const out: TskEntry[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^([-a-zA-Z])\/([-a-zA-Z]) (\* )?([\d-]+):\t(.*)$/.exec(line);
    if (m === null || m[3] !== undefined) continue;
    const [, , metaType, , inode, name] = m;
    if (metaType === 'v' || metaType === 'V' || name!.endsWith('(Volume Label Entry)')) continue;
    if (name === '$ALLOC_BITMAP' || name === '$UPCASE_TABLE' || name === '$OrphanFiles') continue;
    out.push({ type: metaType === 'd' ? 'directory' : 'file', inode: inode!, path: `/${name}` });
  }
  return out;
}

/** `icat` of one inode: the bytes TSK reads for it. */
export async function tskCat(image: string, inode: string, offsetSectors = 0): Promise<Buffer> {
  const { stdout } = await exec('icat', ['-o', String(offsetSectors), image, inode], {
    encoding: 'buffer',
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

/** Every regular file under `root` (absolute path inside the tree → size). */
export async function sourceFiles(root: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const inTree = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        out.set(inTree, -1);
        await walk(full, inTree);
      } else out.set(inTree, (await stat(full)).size);
    }
  };
  await walk(root, '');
  return out;
}
