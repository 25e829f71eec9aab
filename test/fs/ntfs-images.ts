/**
 * Real NTFS images for the NTFS reader's tests and bench: mkntfs formats, ntfs-3g (FUSE, as root)
 * mounts and writes the tree, The Sleuth Kit (fls, icat) reads the result as the second oracle.
 * ntfs-3g runs in the foreground (no_detach) so that, after umount, waiting for its exit means
 * every write has reached the image file.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { startNtfs3g } from '../../local/demo-ntfs.ts';
import { run } from '../support/fs-images.ts';

export interface NtfsImageOptions {
  readonly sizeBytes: number;
  /** mkntfs -c (default: mkntfs picks 4096 for small volumes). */
  readonly clusterBytes?: number;
  readonly label?: string;
}

/** mkntfs -Q (quick: no zeroing, no bad-sector scan) on a sparse image file. */
export async function makeNtfsImage(image: string, options: NtfsImageOptions): Promise<void> {
  await run('truncate', ['-s', String(options.sizeBytes), image]);
  const args = ['-Q', '-F', '-q'];
  if (options.clusterBytes !== undefined) args.push('-c', String(options.clusterBytes));
  if (options.label !== undefined) args.push('-L', options.label);
  await run('mkntfs', [...args, image]);
}

/** An ntfs-3g mount of `image` on `dir` (alternate data streams exposed as user.* xattrs). */
export class NtfsMount {
  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<number | null>,
  ) {}

  static async mount(image: string, dir: string): Promise<NtfsMount> {
    const { child, exited } = await startNtfs3g(image, dir, 'no_detach,streams_interface=xattr');
    return new NtfsMount(dir, child, exited);
  }

  /** Unmounts and waits for ntfs-3g to exit (its last writes are then in the image). */
  async unmount(): Promise<void> {
    if (this.child.exitCode === null) {
      try {
        await run('umount', [this.dir]);
      } catch (error) {
        this.child.kill();
        throw error;
      }
    }
    const code = await this.exited;
    if (code !== 0) throw new Error(`ntfs-3g exited with ${code}`);
  }
}

/** Sets an xattr through ntfs-3g's xattr interface (python3: no attr package needed). */
export async function setXattr(file: string, name: string, value: Uint8Array): Promise<void> {
  await run('python3', [
    '-c',
    'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]))',
    file,
    name,
    Buffer.from(value).toString('hex'),
  ]);
}

/** FILE_ATTRIBUTE_* of a file through ntfs-3g's system.ntfs_attrib_be (big-endian u32). */
export async function setWindowsAttributes(file: string, attributes: number): Promise<void> {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, attributes, false);
  await setXattr(file, 'system.ntfs_attrib_be', value);
}

/**
 * A reparse buffer ([MS-FSCC] 2.1.2): IO_REPARSE_TAG_SYMLINK (with its flags word) or
 * IO_REPARSE_TAG_MOUNT_POINT (a junction), substitute name first, then print name.
 */
export function reparseBuffer(kind: 'symlink' | 'junction', substitute: string, print: string): Uint8Array {
  const s = Buffer.from(substitute, 'utf16le');
  const p = Buffer.from(print, 'utf16le');
  const names = Buffer.alloc(8);
  names.writeUInt16LE(0, 0);
  names.writeUInt16LE(s.length, 2);
  names.writeUInt16LE(s.length, 4);
  names.writeUInt16LE(p.length, 6);
  const flags = Buffer.alloc(kind === 'symlink' ? 4 : 0);
  if (kind === 'symlink') flags.writeUInt32LE(1, 0); // SYMLINK_FLAG_RELATIVE
  const body = Buffer.concat([names, flags, s, p]);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(kind === 'symlink' ? 0xa000000c : 0xa0000003, 0);
  header.writeUInt16LE(body.length, 4);
  return new Uint8Array(Buffer.concat([header, body]));
}

export interface FlsEntry {
  /** Path without the stream suffix, absolute ("/dir/file"). */
  readonly path: string;
  readonly stream?: string;
  readonly inode: number;
  /** The attribute type of the listed stream: 128 $DATA, 144 $INDEX_ROOT. */
  readonly attributeType?: number;
  /** fls's "d/d", "r/r" … name type letter. */
  readonly type: string;
}

/**
 * `fls -r -p` of an image (or of the filesystem `offsetSectors` 512-byte sectors into a disk),
 * parsed. The virtual $OrphanFiles directory TSK adds (records not reachable from the root) is
 * left out: it is not part of the filesystem tree.
 */
export async function flsList(image: string, offsetSectors = 0): Promise<FlsEntry[]> {
  const out = await run('fls', ['-r', '-p', '-o', String(offsetSectors), image]);
  const entries: FlsEntry[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\S)\/(\S) (\* )?(\d+)(?:-(\d+)-\d+)?:\t(.*)$/.exec(line);
    if (m === null) continue;
    const full = m[6]!;
    if (full === '$OrphanFiles' || full.startsWith('$OrphanFiles/')) continue;
    const slash = full.lastIndexOf('/');
    const colon = full.indexOf(':', slash + 1);
    entries.push({
      path: `/${colon < 0 ? full : full.slice(0, colon)}`,
      ...(colon < 0 ? {} : { stream: full.slice(colon + 1) }),
      inode: Number(m[4]),
      ...(m[5] === undefined ? {} : { attributeType: Number(m[5]) }),
      type: m[1]!,
    });
  }
  return entries;
}

/** icat's bytes of a record's default $DATA, or of `inode-128-id` for a named stream. */
export async function icat(image: string, address: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('icat', [image, address], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else reject(new Error(`icat ${address} failed: ${stderr}`));
    });
  });
}
