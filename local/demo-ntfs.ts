/**
 * The demo's second replica: a Windows data disk. A GPT disk (sgdisk) with one "Basic data"
 * partition formatted by mkntfs and filled through ntfs-3g (FUSE, as root), the way Windows would
 * have written it: Unicode long names, a directory of many files, a multi-megabyte file. The demo
 * backs it up, lists it through the catalog and restores files from it byte for byte.
 *
 * Written here rather than reusing test/fs/ntfs-images.ts: the demo is product code and must not
 * import test helpers. The other way round is fine: the tests mount through startNtfs3g.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { seededRandom } from './seeded-random.ts';

const execFileAsync = promisify(execFile);

const MIB = 1024 * 1024;
/** The disk: a 1 MiB-aligned partition from 1 MiB to the end; small, so the backup stays quick. */
export const NTFS_DISK_BYTES = 48 * MIB;
const PARTITION_START_BYTES = MIB;
/** The NTFS filesystem's number in the catalog and the restore API: its GPT index. */
export const NTFS_PARTITION = 1;
/** Files under /Program Files/Orders: enough for an $INDEX_ALLOCATION directory, not a slow copy. */
const PROGRAM_FILE_COUNT = 60;
const PROGRAM_FILE_MAX_BYTES = 16 * 1024;
/** A file several clusters runs long, read through its runlist. */
const LARGE_FILE_BYTES = 2 * MIB + 12_345;
export const NTFS_LISTED_DIR = '/Users/Ann/Documents';
/** The files the demo restores from the NTFS image and compares with the source. */
export const NTFS_RESTORED_FILES = [
  '/Users/Ann/Documents/Quartalsbericht – Übersicht.txt',
  '/Users/Ann/Documents/scan.bin',
];
const MOUNT_WAIT_MS = 10_000;
const MOUNT_POLL_MS = 20;

export interface NtfsSample {
  /** Regular files written into the filesystem. */
  readonly files: number;
  /** Names in NTFS_LISTED_DIR, sorted. */
  readonly listedNames: readonly string[];
  /** The bytes of each of NTFS_RESTORED_FILES, as written. */
  readonly contents: ReadonlyMap<string, Buffer>;
}

async function isMounted(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === dir);
}

/** A foreground ntfs-3g of an image, once its mount is up. */
export interface Ntfs3gProcess {
  readonly child: ChildProcess;
  /** Settles with ntfs-3g's exit code: after umount, every write has then reached the image file. */
  readonly exited: Promise<number | null>;
  /** What ntfs-3g has written to stderr so far. */
  stderr(): string;
}

/**
 * Starts ntfs-3g on `image` at `dir` in the foreground (`options` must include no_detach) and
 * waits until the mount is up; the tests' NtfsMount (test/fs/ntfs-images.ts) uses it too.
 */
export async function startNtfs3g(image: string, dir: string, options: string): Promise<Ntfs3gProcess> {
  await mkdir(dir, { recursive: true });
  const child = spawn('ntfs-3g', ['-o', options, image, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + MOUNT_WAIT_MS;
  while (!(await isMounted(dir))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`ntfs-3g did not mount ${image}: ${stderr}`);
    }
    await sleep(MOUNT_POLL_MS);
  }
  return { child, exited, stderr: () => stderr };
}

/**
 * Mounts `image` with ntfs-3g in the foreground (no_detach), runs `fill` on the mount point, then
 * unmounts and waits for ntfs-3g to exit, so that every write has reached the image file.
 */
async function throughNtfs3g(
  image: string,
  dir: string,
  fill: (dir: string) => Promise<void>,
): Promise<void> {
  const ntfs3g = await startNtfs3g(image, dir, 'no_detach');
  try {
    await fill(dir);
  } finally {
    await execFileAsync('umount', [dir]).catch(() => ntfs3g.child.kill());
  }
  const code = await ntfs3g.exited;
  if (code !== 0) throw new Error(`ntfs-3g exited with ${code}: ${ntfs3g.stderr()}`);
}

/**
 * Writes the Windows disk to `disk` (work files under `work`) and returns what the demo checks
 * against. Deterministic: the same seed writes the same files.
 */
export async function makeNtfsDisk(disk: string, work: string, seed: number): Promise<NtfsSample> {
  const rand = seededRandom(seed);
  const bytes = (n: number): Buffer => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += 1) out[i] = Math.floor(rand() * 256);
    return out;
  };
  const partition = path.join(work, 'ntfs-partition.img');
  const partitionBytes = NTFS_DISK_BYTES - PARTITION_START_BYTES - MIB; // the backup GPT's room at the end
  await execFileAsync('truncate', ['-s', String(partitionBytes), partition]);
  await execFileAsync('mkntfs', ['-Q', '-F', '-q', '-L', 'Data', partition]);
  const contents = new Map<string, Buffer>([
    [NTFS_RESTORED_FILES[0]!, Buffer.from('Umsatz Q3: 1.234.567 €\nÜbersicht für Ann\n'.repeat(40))],
    [NTFS_RESTORED_FILES[1]!, bytes(LARGE_FILE_BYTES)],
  ]);
  let files = 0;
  await throughNtfs3g(partition, path.join(work, 'ntfs-mnt'), async (root) => {
    const put = async (relative: string, data: Buffer): Promise<void> => {
      await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
      await writeFile(path.join(root, relative), data);
      files += 1;
    };
    for (const [file, data] of contents) await put(file, data);
    await put(`${NTFS_LISTED_DIR}/日本語のメモ.txt`, Buffer.from('メモ\n'));
    for (let i = 0; i < PROGRAM_FILE_COUNT; i += 1) {
      await put(
        `Program Files/Orders/module-${String(i).padStart(3, '0')}.dll`,
        bytes(Math.floor(rand() * PROGRAM_FILE_MAX_BYTES)),
      );
    }
  });
  await execFileAsync('truncate', ['-s', String(NTFS_DISK_BYTES), disk]);
  await execFileAsync('sgdisk', [
    '-o',
    `-n1:${PARTITION_START_BYTES / 512}:${(PARTITION_START_BYTES + partitionBytes) / 512 - 1}`,
    '-t1:0700',
    '-c1:Basic data partition',
    disk,
  ]);
  await execFileAsync('dd', [
    `if=${partition}`,
    `of=${disk}`,
    'bs=1M',
    `seek=${PARTITION_START_BYTES}`,
    'oflag=seek_bytes',
    'conv=notrunc,sparse',
    'status=none',
  ]);
  const listedNames = ['Quartalsbericht – Übersicht.txt', 'scan.bin', '日本語のメモ.txt'].sort();
  return { files, listedNames, contents };
}
