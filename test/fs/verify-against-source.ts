/**
 * The oracle check shared by the ext tests: the walk of an image must equal the source tree it was
 * made from (names, types, sizes, modes, owners, mtimes, link targets, nlink, devices, hard links),
 * and every regular file read through the reader must equal its source byte for byte.
 */
import type { BigIntStats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { Ext4Filesystem, WalkEntry, WalkItem } from '../../lambdas/core/fs/index.ts';
import type { FilesystemReader } from '../../lambdas/core/fs/filesystem.ts';
import { decodeRdev, readSourceTree, type SourceEntry } from '../support/fs-images.ts';

export async function collectWalk(fs: Ext4Filesystem, root?: string): Promise<WalkItem[]> {
  const items: WalkItem[] = [];
  for await (const item of fs.walk(root === undefined ? {} : { root })) items.push(item);
  return items;
}

/** The walk's type name for a source file's stat. */
export function typeOfSource(stat: BigIntStats): string {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isCharacterDevice()) return 'char-device';
  if (stat.isBlockDevice()) return 'block-device';
  if (stat.isFIFO()) return 'fifo';
  return 'socket';
}

export interface VerifyOptions {
  /** Paths in the image but not in the source (mke2fs adds /lost+found). */
  readonly extraPaths?: readonly string[];
  /** Paths whose content is checked elsewhere (huge sparse files). */
  readonly skipContent?: ReadonlySet<string>;
}

export async function verifyAgainstSource(
  fs: Ext4Filesystem,
  sourceRoot: string,
  options: VerifyOptions = {},
): Promise<{ entries: number; filesCompared: number; bytesCompared: number }> {
  const source = await readSourceTree(sourceRoot);
  const items = await collectWalk(fs);
  const errors = items.filter((i) => i.kind === 'error');
  expect(errors).toEqual([]);
  const entries = new Map<string, WalkEntry>();
  for (const item of items) {
    if (item.kind !== 'entry') continue;
    expect(entries.has(item.path), `duplicate path ${item.path}`).toBe(false);
    entries.set(item.path, item);
  }
  const extra = new Set(options.extraPaths ?? ['/lost+found']);
  expect([...entries.keys()].filter((p) => !extra.has(p)).sort()).toEqual([...source.keys()].sort());

  const subdirs = new Map<string, number>();
  for (const p of entries.keys()) {
    if (p === '/' || entries.get(p)!.type !== 'directory') continue;
    const parent = path.posix.dirname(p);
    subdirs.set(parent, (subdirs.get(parent) ?? 0) + 1);
  }
  const inodeOfSourceIno = new Map<bigint, number>();
  let filesCompared = 0;
  let bytesCompared = 0;
  for (const [p, src] of source) {
    const got = entries.get(p)!;
    const st = src.stat;
    const expected: Record<string, unknown> = {
      type: typeOfSource(st),
      permissions: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      // mke2fs -d gives the root directory the time of mkfs, not the source's.
      mtimeSeconds: p === '/' ? got.mtime.seconds : Number(st.mtimeNs / 1_000_000_000n),
    };
    const actual: Record<string, unknown> = {
      type: got.type,
      permissions: got.permissions,
      uid: got.uid,
      gid: got.gid,
      mtimeSeconds: got.mtime.seconds,
    };
    if (got.type === 'directory') {
      expected.nlink = 2 + (subdirs.get(p) ?? 0);
      actual.nlink = got.nlink;
    } else {
      expected.nlink = Number(st.nlink);
      actual.nlink = got.nlink;
      expected.size = Number(st.size);
      actual.size = got.size;
    }
    addLinkAndDevice(src, got, expected, actual);
    expect({ path: p, ...actual }).toEqual({ path: p, ...expected });
    const compared = await checkInodeAndContent(
      fs,
      sourceRoot,
      src,
      got,
      inodeOfSourceIno,
      options.skipContent,
    );
    if (compared !== undefined) {
      filesCompared += 1;
      bytesCompared += compared;
    }
  }
  return { entries: entries.size, filesCompared, bytesCompared };
}

/** Adds a symlink's target and a device's major/minor to the fields compared, where the source has them. */
export function addLinkAndDevice(
  src: SourceEntry,
  got: WalkEntry,
  expected: Record<string, unknown>,
  actual: Record<string, unknown>,
): void {
  if (src.symlinkTarget !== undefined) {
    expected.symlinkTarget = src.symlinkTarget;
    actual.symlinkTarget = got.symlinkTarget;
  }
  if (src.stat.isCharacterDevice() || src.stat.isBlockDevice()) {
    expected.device = decodeRdev(src.stat.rdev);
    actual.device = got.device;
  }
}

/**
 * Every name of one source inode must walk to one inode (hard links; `inodeOfSourceIno` carries what
 * was seen), and a regular file not in `skipContent` must read back equal to its source byte for
 * byte. Answers the bytes compared, or undefined when the content was not compared.
 */
export async function checkInodeAndContent(
  fs: Pick<FilesystemReader, 'readFile'>,
  sourceRoot: string,
  src: SourceEntry,
  got: WalkEntry,
  inodeOfSourceIno: Map<bigint, number>,
  skipContent: ReadonlySet<string> | undefined,
): Promise<number | undefined> {
  const known = inodeOfSourceIno.get(src.stat.ino);
  if (known === undefined) inodeOfSourceIno.set(src.stat.ino, got.inode);
  else expect(got.inode, `hard link ${src.path}`).toBe(known);
  if (!src.stat.isFile() || (skipContent?.has(src.path) ?? false)) return undefined;
  const want = await readFile(path.join(sourceRoot, src.path));
  const data = await fs.readFile(got.inode);
  expect(Buffer.from(data).equals(want), `content of ${src.path}`).toBe(true);
  return want.length;
}
