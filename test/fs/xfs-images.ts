/**
 * Real XFS images for the XFS and LVM tests and the XFS bench: made by mkfs.xfs and filled through a
 * loop mount by the kernel's own XFS driver (v5), or by mkfs.xfs -p (a protofile) for v4, which
 * the kernel here no longer mounts. The source tree stays the oracle.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, open, readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { prng, randomBytes, run } from '../support/fs-images.ts';

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

/** A file written in many small pieces interleaved with another file's, so it gets many extents. */
export async function writeFragmented(
  dir: string,
  name: string,
  pieces: number,
  seed: number,
): Promise<Uint8Array> {
  const rand = prng(seed);
  const a = await open(path.join(dir, name), 'w');
  const b = await open(path.join(dir, `${name}.interleave`), 'w');
  const chunks: Uint8Array[] = [];
  try {
    for (let i = 0; i < pieces; i += 1) {
      const chunk = randomBytes(rand, 4096);
      chunks.push(chunk);
      await a.write(chunk, 0, chunk.length, i * 4096);
      await a.sync();
      await b.write(chunk, 0, chunk.length, i * 4096);
      await b.sync();
    }
  } finally {
    await a.close();
    await b.close();
  }
  const out = new Uint8Array(pieces * 4096);
  chunks.forEach((c, i) => out.set(c, i * 4096));
  return out;
}
