/**
 * Builds real filesystem images with the filesystems' own tools (mke2fs -d, debugfs, sgdisk,
 * sfdisk, mkfs.vfat, mkfs.xfs) from generated source trees, and reads a source tree back as the
 * oracle the readers are compared with. Used by test/fs and bench/suites/fs.ts. Needs root (chown,
 * mknod), which every machine here has.
 */
import { execFile } from 'node:child_process';
import {
  chmod,
  chown,
  lchown,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rm,
  symlink,
  utimes,
  lutimes,
  writeFile,
} from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { seededRandom } from '../../local/seeded-random.ts';

const execFileAsync = promisify(execFile);

/** Runs a tool and returns its stdout; a non-zero exit throws with the tool's stderr. */
export async function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr}`, { cause: error }));
      else resolve(stdout);
    });
    // A tool that exits without reading its stdin must not turn into an EPIPE error here.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input ?? '');
  });
}

export async function scratchDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `rbp-fs-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The seeded generator trees are built with: the same seed builds the same tree. */
export const prng = seededRandom;

export function randomBytes(rand: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 4) {
    const v = Math.floor(rand() * 0x1_0000_0000);
    out[i] = v & 0xff;
    if (i + 1 < length) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < length) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < length) out[i + 3] = (v >>> 24) & 0xff;
  }
  return out;
}

export interface TreeSpec {
  readonly seed: number;
  /** Regular files to create (plus links and special files). */
  readonly files: number;
  /** Length of the deepest directory chain. */
  readonly deepChain?: number;
  /** Largest regular file, bytes (sizes are skewed small). */
  readonly maxFileBytes?: number;
  /** Make device nodes, a fifo and a socket. */
  readonly specialFiles?: boolean;
  /** Longest slow-symlink target (must stay below the block size). */
  readonly maxSymlinkBytes?: number;
}

const NAME_STEMS = [
  'file',
  'café',
  '日本語',
  'emoji-🎉',
  'Ωmega',
  'spaces in name',
  'ünïcødé',
  'a.b.c',
  '-dash',
  'x',
];
const UIDS = [0, 1000, 65534, 123456];
const FILE_MODES = [0o644, 0o600, 0o755, 0o4755, 0o2750, 0o444];
const DIR_MODES = [0o755, 0o700, 0o1777, 0o2775];
/** Times between 1990 and 2037: mke2fs -d stores whole seconds in 32 bits. */
const TIME_MIN_S = 631_152_000;
const TIME_SPAN_S = 2_114_380_800 - TIME_MIN_S;

/**
 * Writes a deterministic tree under `root`: nested and deep directories, unicode and 255-byte
 * names, empty/small/large files, fast and slow symlinks, hard links, special files, varied
 * owners, modes and mtimes.
 */
export async function generateTree(root: string, spec: TreeSpec): Promise<void> {
  const rand = prng(spec.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const maxFile = spec.maxFileBytes ?? 300_000;
  const dirs: string[] = [root];
  await mkdir(root, { recursive: true });
  let chain = root;
  for (let i = 0; i < (spec.deepChain ?? 0); i += 1) {
    chain = path.join(chain, `level-${i}`);
    await mkdir(chain);
    dirs.push(chain);
  }
  const dirCount = Math.max(1, Math.floor(spec.files / 25));
  for (let i = 0; i < dirCount; i += 1) {
    const parent = pick(dirs.slice(0, Math.max(1, dirs.length - (spec.deepChain ?? 0) / 2)));
    const dir = path.join(parent, `${pick(NAME_STEMS)}-dir-${i}`);
    await mkdir(dir);
    dirs.push(dir);
  }
  // One very long (255-byte) name and one directory with many entries (several blocks, htree).
  await writeFile(path.join(root, `${'n'.repeat(250)}.long`), 'long name\n');
  // A directory small enough to be stored inline (inline_data) and an empty one.
  await mkdir(path.join(root, 'tiny-dir'));
  await writeFile(path.join(root, 'tiny-dir', 'only-file'), 'tiny\n');
  await mkdir(path.join(root, 'empty-dir'));
  const big = path.join(root, 'many-entries');
  await mkdir(big);
  dirs.push(big);
  const files: string[] = [];
  for (let i = 0; i < spec.files; i += 1) {
    const dir = i % 5 === 0 ? big : pick(dirs);
    const file = path.join(dir, `${pick(NAME_STEMS)}-${i}`);
    const r = rand();
    const size =
      r < 0.1
        ? 0
        : r < 0.4
          ? 1 + Math.floor(rand() * 100)
          : r < 0.85
            ? Math.floor(rand() * 8192)
            : Math.floor(rand() * maxFile);
    await writeFile(file, randomBytes(rand, size));
    files.push(file);
  }
  const links: string[] = [];
  for (let i = 0; i < Math.max(2, spec.files / 50); i += 1) {
    const target = pick(files);
    const name = path.join(pick(dirs), `hardlink-${i}`);
    await link(target, name);
    links.push(name);
  }
  const maxLink = spec.maxSymlinkBytes ?? 900;
  for (let i = 0; i < Math.max(4, spec.files / 40); i += 1) {
    const fast = i % 2 === 0;
    const target = fast
      ? `target-${i}`
      : `${'long/'.repeat(Math.floor((60 + rand() * (maxLink - 60)) / 5))}end-${i}`;
    await symlink(target, path.join(pick(dirs), `symlink-${i}`));
    links.push(path.join(pick(dirs), `symlink-${i}`));
  }
  if (spec.specialFiles ?? true) {
    const dev = path.join(root, 'dev');
    await mkdir(dev);
    dirs.push(dev);
    await run('mknod', ['-m', '0620', path.join(dev, 'null-like'), 'c', '1', '3']);
    await run('mknod', ['-m', '0660', path.join(dev, 'disk'), 'b', '259', '70000']);
    await run('mkfifo', ['-m', '0644', path.join(dev, 'fifo')]);
    await run('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(dev, 'socket'))})`,
    ]);
  }
  // Owners, modes and times last (creating children changes a directory's mtime): deepest first.
  for (const file of files) {
    await chown(file, pick(UIDS), pick(UIDS));
    await chmod(file, pick(FILE_MODES));
    const t = TIME_MIN_S + Math.floor(rand() * TIME_SPAN_S);
    await utimes(file, t, t);
  }
  for (const entry of links) {
    try {
      await lchown(entry, pick(UIDS), pick(UIDS));
      const t = TIME_MIN_S + Math.floor(rand() * TIME_SPAN_S);
      await lutimes(entry, t, t);
    } catch {
      // The symlink's recorded name may not exist (pick() chose a different dir twice): fine.
    }
  }
  for (const dir of [...dirs].reverse()) {
    if (dir !== root) {
      await chown(dir, pick(UIDS), pick(UIDS));
      await chmod(dir, pick(DIR_MODES));
    }
    const t = TIME_MIN_S + Math.floor(rand() * TIME_SPAN_S);
    await utimes(dir, t, t);
  }
}

/** Creates a sparse file of `size` bytes with data written at the given offsets. */
export async function writeSparseFile(
  file: string,
  size: number,
  pieces: readonly { offset: number; data: Uint8Array }[],
): Promise<void> {
  const handle = await open(file, 'w');
  try {
    await handle.truncate(size);
    for (const piece of pieces) await handle.write(piece.data, 0, piece.data.length, piece.offset);
  } finally {
    await handle.close();
  }
}

// ------------------------------------------------------------------------------------ ext images

export interface ExtImageOptions {
  readonly type: 'ext2' | 'ext3' | 'ext4';
  readonly sizeBytes: number;
  readonly blockSize?: number;
  readonly inodeSize?: number;
  /** -O list, e.g. ['^extent', 'inline_data', '64bit', 'meta_bg', '^resize_inode']. */
  readonly features?: readonly string[];
  readonly sourceDir?: string;
  readonly label?: string;
  readonly uuid?: string;
  /** Byte offset of the filesystem inside the image file (mke2fs -E offset=). */
  readonly offsetBytes?: number;
  /** Bytes per inode (-i): small values give more inodes for many-file images. */
  readonly bytesPerInode?: number;
  /** Blocks per group (-g): small groups give many groups (meta_bg spans several meta groups). */
  readonly blocksPerGroup?: number;
  /** Run e2fsck -D afterwards so that multi-block directories become htrees. */
  readonly htreeDirectories?: boolean;
}

export async function makeExtImage(image: string, options: ExtImageOptions): Promise<void> {
  const args = ['-F', '-q', '-t', options.type];
  if (options.blockSize !== undefined) args.push('-b', String(options.blockSize));
  if (options.inodeSize !== undefined) args.push('-I', String(options.inodeSize));
  if (options.features !== undefined && options.features.length > 0)
    args.push('-O', options.features.join(','));
  if (options.sourceDir !== undefined) args.push('-d', options.sourceDir);
  if (options.label !== undefined) args.push('-L', options.label);
  if (options.uuid !== undefined) args.push('-U', options.uuid);
  if (options.bytesPerInode !== undefined) args.push('-i', String(options.bytesPerInode));
  if (options.blocksPerGroup !== undefined) args.push('-g', String(options.blocksPerGroup));
  const extended = ['nodiscard', 'lazy_itable_init=1'];
  if (options.offsetBytes !== undefined) extended.push(`offset=${options.offsetBytes}`);
  args.push('-E', extended.join(','));
  args.push(image, `${Math.floor(options.sizeBytes / 1024)}k`);
  await run('mke2fs', args);
  if (options.htreeDirectories === true) await indexDirectories(image);
}

/**
 * mke2fs -d writes linear directories; e2fsck -D rebuilds every directory, as an htree where it
 * spans more than one block. e2fsck exits 1 when it changed the filesystem, which is the point.
 */
export async function indexDirectories(image: string): Promise<void> {
  try {
    await run('e2fsck', ['-f', '-y', '-D', image]);
  } catch (error) {
    const code = ((error as Error).cause as { code?: number } | undefined)?.code;
    if (code !== 1) throw error;
  }
}

/**
 * Runs debugfs requests against an image (write mode). debugfs exits 0 even when a request fails,
 * so any stderr line other than its banner is turned into an error.
 */
export async function debugfs(image: string, requests: readonly string[], write = true): Promise<string> {
  const dir = await scratchDir('debugfs');
  const script = path.join(dir, 'requests');
  await writeFile(script, `${requests.join('\n')}\n`);
  try {
    const { stdout, stderr } = await execFileAsync(
      'debugfs',
      [...(write ? ['-w'] : []), '-f', script, image],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const problems = stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('debugfs '));
    if (problems.length > 0) throw new Error(`debugfs failed: ${problems.join('; ')}`);
    return stdout;
  } finally {
    await removeDir(dir);
  }
}

// ----------------------------------------------------------------------------------- oracle side

export interface SourceEntry {
  readonly path: string;
  readonly stat: BigIntStats;
  readonly symlinkTarget?: string;
}

/** Every entry under `root` (paths absolute from the root, "/" itself included), depth first. */
export async function readSourceTree(root: string): Promise<Map<string, SourceEntry>> {
  const out = new Map<string, SourceEntry>();
  const visit = async (rel: string): Promise<void> => {
    const full = path.join(root, rel);
    const stat = await lstat(full, { bigint: true });
    const key = rel === '' ? '/' : `/${rel}`;
    out.set(key, {
      path: key,
      stat,
      ...(stat.isSymbolicLink() ? { symlinkTarget: await readlink(full) } : {}),
    });
    if (stat.isDirectory()) {
      for (const name of await readdir(full)) await visit(rel === '' ? name : `${rel}/${name}`);
    }
  };
  await visit('');
  return out;
}

/** Linux's new_decode_dev of an st_rdev. */
export function decodeRdev(rdev: bigint): { major: number; minor: number } {
  const dev = Number(rdev);
  return { major: (dev >>> 8) & 0xfff, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
}

// ------------------------------------------------------------------------------- partition tables

export interface GptPartitionSpec {
  readonly startSector: number;
  readonly endSector: number;
  /** sgdisk type code, e.g. 8300 (Linux), 0700 (basic data), 8200 (swap). */
  readonly typeCode: string;
  readonly name: string;
}

export async function makeGptDisk(
  image: string,
  sizeBytes: number,
  parts: readonly GptPartitionSpec[],
): Promise<void> {
  await run('truncate', ['-s', String(sizeBytes), image]);
  const args = ['-o'];
  parts.forEach((p, i) => {
    const n = i + 1;
    args.push(`-n${n}:${p.startSector}:${p.endSector}`, `-t${n}:${p.typeCode}`, `-c${n}:${p.name}`);
  });
  await run('sgdisk', [...args, image]);
}

/** `script` is an sfdisk script ("label: dos" and one line per partition). */
export async function makeMbrDisk(image: string, sizeBytes: number, script: string): Promise<void> {
  await run('truncate', ['-s', String(sizeBytes), image]);
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', image], script);
}

/** Copies a whole image file into `disk` at `offsetBytes` (dd conv=notrunc,sparse). */
export async function spliceImage(disk: string, offsetBytes: number, source: string): Promise<void> {
  await run('dd', [
    `if=${source}`,
    `of=${disk}`,
    'bs=1M',
    `seek=${offsetBytes}`,
    'oflag=seek_bytes',
    'conv=notrunc,sparse',
    'status=none',
  ]);
}
