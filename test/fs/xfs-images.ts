/**
 * Real XFS images for the XFS and LVM tests and the XFS bench: made by mkfs.xfs and filled through a
 * loop mount by the kernel's own XFS driver (v5), or by mkfs.xfs -p (a protofile) for v4, which
 * the kernel here no longer mounts. The source tree stays the oracle.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { FilesystemReader, WalkEntry } from '../../lambdas/core/fs/filesystem.ts';
import { readSourceTree, run } from '../support/fs-images.ts';
import { addLinkAndDevice, checkInodeAndContent, typeOfSource } from './verify-against-source.ts';

/**
 * mkfs.xfs refuses filesystems under 300 MB outside the XFS test suite; these variables are how
 * xfstests asks for small test filesystems (xfsprogs mkfs/xfs_mkfs.c, validate_log_size checks).
 */
const SMALL_FS_ENV = { ...process.env, TEST_DIR: '1', TEST_DEV: '1', QA_CHECK_FS: '1' };

export interface XfsImageOptions {
  readonly sizeBytes: number;
  /** Extra mkfs.xfs arguments, e.g. ['-m', 'crc=0'] or ['-b', 'size=1024']. */
  readonly mkfsArgs?: readonly string[];
  readonly label?: string;
  /** Copied into the filesystem through a loop mount (v5), as root with owners and modes kept. */
  readonly sourceDir?: string;
  /** Runs with the filesystem mounted at the given directory (fallocate, fragmenting writes). */
  readonly populate?: (mountPoint: string) => Promise<void>;
  /** Build from a protofile instead of mounting (v4: the kernel refuses to mount it). */
  readonly protofileFrom?: string;
}

function mkfs(args: readonly string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile('mkfs.xfs', [...args], { env: SMALL_FS_ENV }, (error, _out, stderr) => {
      if (error) reject(new Error(`mkfs.xfs ${args.join(' ')} failed: ${stderr}`, { cause: error }));
      else resolve();
    });
  });
}

export async function makeXfsImage(image: string, options: XfsImageOptions): Promise<void> {
  await run('truncate', ['-s', String(options.sizeBytes), image]);
  const args = ['-q', '-f', ...(options.mkfsArgs ?? [])];
  if (options.label !== undefined) args.push('-L', options.label);
  if (options.protofileFrom !== undefined) {
    const proto = `${image}.proto`;
    await writeFile(proto, await protofile(options.protofileFrom));
    args.push('-p', proto);
  }
  await mkfs([...args, image]);
  if (options.sourceDir === undefined && options.populate === undefined) return;
  const mountPoint = `${image}.mnt`;
  await mkdir(mountPoint, { recursive: true });
  await run('mount', ['-o', 'loop', image, mountPoint]);
  try {
    if (options.sourceDir !== undefined) await run('cp', ['-a', `${options.sourceDir}/.`, mountPoint]);
    if (options.populate !== undefined) await options.populate(mountPoint);
  } finally {
    await run('umount', [mountPoint]);
  }
}

/**
 * A protofile (mkfs.xfs -p) describing `root`: directories, regular files (content from the
 * source file), symlinks, devices and fifos, with modes and owners. Hard links become copies.
 */
export async function protofile(root: string): Promise<string> {
  const lines = ['/dev/null', '0 0'];
  const perm = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0').slice(-3);
  const special = (mode: number): string => `${mode & 0o4000 ? 'u' : '-'}${mode & 0o2000 ? 'g' : '-'}`;
  const visit = async (dir: string, depth: number): Promise<void> => {
    const st = await lstat(dir);
    const pad = ' '.repeat(depth);
    if (depth === 0) lines.push(`d${special(st.mode)}${perm(st.mode)} ${st.uid} ${st.gid}`);
    for (const name of (await readdir(dir)).sort()) {
      if (/\s/.test(name)) continue; // the protofile format splits on whitespace
      const full = path.join(dir, name);
      const s = await lstat(full);
      const head = `${pad} ${name} `;
      const owner = `${s.uid} ${s.gid}`;
      if (s.isDirectory()) {
        lines.push(`${head}d${special(s.mode)}${perm(s.mode)} ${owner}`);
        await visit(full, depth + 1);
        lines.push(`${pad} $`);
      } else if (s.isFile()) lines.push(`${head}-${special(s.mode)}${perm(s.mode)} ${owner} ${full}`);
      else if (s.isSymbolicLink())
        lines.push(`${head}l${special(s.mode)}${perm(s.mode)} ${owner} ${await readlink(full)}`);
    }
  };
  await visit(root, 0);
  lines.push('$');
  return `${lines.join('\n')}\n`;
}

/**
 * Files written 4 KiB at a time with O_DIRECT, alternating between `name` and `name.twin`, so the
 * allocator cannot merge their blocks (buffered writes get speculative preallocation and stay
 * contiguous): `name` ends up with one extent per piece, enough to need a block-map B+tree.
 */
export async function writeInterleaved(dir: string, name: string, pieces: number): Promise<void> {
  const script = [
    'import mmap, os, sys',
    'a = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)',
    'b = os.open(sys.argv[1] + ".twin", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)',
    'buf = mmap.mmap(-1, 4096)',
    'for i in range(int(sys.argv[2])):',
    '    buf[:] = os.urandom(4096)',
    '    os.pwrite(a, buf, i * 4096)',
    '    buf[:] = os.urandom(4096)',
    '    os.pwrite(b, buf, i * 4096)',
    'os.close(a); os.close(b)',
  ].join('\n');
  await run('python3', ['-c', script, path.join(dir, name), String(pieces)]);
}

export interface OracleOptions {
  /** Compare inode numbers with st_ino (true when the oracle is the same filesystem mounted). */
  readonly sameInodes: boolean;
  /**
   * 'all': mtime, ctime, atime and birth time (the oracle is the image itself, mounted); 'mtime';
   * 'none' (mkfs.xfs -p stamps every inode with the time of mkfs).
   */
  readonly times: 'all' | 'mtime' | 'none';
  /** Paths whose content is checked elsewhere (huge sparse files). */
  readonly skipContent?: ReadonlySet<string>;
  /** Names the protofile could not carry (whitespace), absent from the image. */
  readonly ignore?: (path: string) => boolean;
}

const ns = (t: { seconds: number; nanoseconds: number }): bigint =>
  BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanoseconds);

/**
 * The walk of `fs` must equal the tree under `oracleRoot` (every path, type, mode, owner, size,
 * nlink, times, link target, device, hard links) and every regular file must read back equal byte
 * for byte; the walk must also be depth first with each directory before its children.
 */
export async function verifyAgainstTree(
  fs: FilesystemReader,
  oracleRoot: string,
  options: OracleOptions,
): Promise<{ entries: number; files: number; bytes: number }> {
  const source = await readSourceTree(oracleRoot);
  for (const p of [...source.keys()]) if (options.ignore?.(p) === true) source.delete(p);
  const entries = new Map<string, WalkEntry>();
  const errors: string[] = [];
  for await (const item of fs.walk()) {
    if (item.kind === 'error') {
      errors.push(`${item.path}: ${item.error.message}`);
      continue;
    }
    expect(entries.has(item.path), `duplicate ${item.path}`).toBe(false);
    if (item.path !== '/') {
      const parent = entries.get(path.posix.dirname(item.path));
      expect(parent?.inode, `parent of ${item.path} listed before it`).toBe(item.parentInode);
      expect(item.depth).toBe(parent!.depth + 1);
    }
    entries.set(item.path, item);
  }
  expect(errors).toEqual([]);
  expect([...entries.keys()].sort()).toEqual([...source.keys()].sort());
  const inodeOf = new Map<bigint, number>();
  let files = 0;
  let bytes = 0;
  for (const [p, src] of source) {
    const got = entries.get(p)!;
    const st = src.stat;
    const expected: Record<string, unknown> = {
      path: p,
      type: typeOfSource(st),
      permissions: Number(st.mode) & 0o7777,
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      nlink: Number(st.nlink),
    };
    const actual: Record<string, unknown> = {
      path: p,
      type: got.type,
      permissions: got.permissions,
      mode: got.mode,
      uid: got.uid,
      gid: got.gid,
      nlink: got.nlink,
    };
    if (options.times !== 'none') {
      expected.mtime = st.mtimeNs;
      actual.mtime = ns(got.mtime);
    }
    if (options.sameInodes) {
      expected.inode = Number(st.ino);
      actual.inode = got.inode;
    }
    if (options.times === 'all') {
      expected.ctime = st.ctimeNs;
      actual.ctime = ns(got.ctime);
      expected.atime = st.atimeNs;
      actual.atime = ns(got.atime);
      expected.crtime = st.birthtimeNs;
      actual.crtime = got.crtime === undefined ? undefined : ns(got.crtime);
    }
    if (!st.isDirectory()) {
      expected.size = Number(st.size);
      actual.size = got.size;
    }
    addLinkAndDevice(src, got, expected, actual);
    expect(actual).toEqual(expected);
    const compared = await checkInodeAndContent(fs, oracleRoot, src, got, inodeOf, options.skipContent);
    if (compared !== undefined) {
      files += 1;
      bytes += compared;
    }
  }
  return { entries: entries.size, files, bytes };
}
