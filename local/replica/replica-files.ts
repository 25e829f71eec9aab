/**
 * Changing files on a replica of the local stack (`rbp local replica write|rm`), as a source
 * server's writes would reach it: the change is made by debugfs (e2fsprogs, read-write mode) on a
 * sparse copy of the replica's image, and every 512 KiB block that differs from the image is then
 * written through the replica simulator (the gateway's admin API), so the EBS emulator learns the
 * changed blocks and the next incremental backup reads exactly those.
 *
 * Only an image that is one ext2/3/4 filesystem from byte 0 is supported (what `mke2fs -d` makes);
 * the replica must not be written by anything else meanwhile.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';

const run = promisify(execFile);

/** Byte offset of the ext2/3/4 superblock's s_magic: superblock at 1024, magic at +0x38. */
const EXT_MAGIC_OFFSET = 1024 + 0x38;
/** The ext superblock magic (little-endian u16). */
const EXT_MAGIC = 0xef53;
/** debugfs output is small; this bounds a runaway one. */
const DEBUGFS_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export class ReplicaFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReplicaFileError';
  }
}

export type ReplicaFileChange =
  | { readonly kind: 'write'; readonly from: string; readonly to: string }
  | { readonly kind: 'rm'; readonly path: string };

/** Where the changed blocks go: the gateway's admin API (LocalAdminClient.writeReplica). */
export type BlockWriter = (offset: number, data: Uint8Array) => Promise<unknown>;

export interface ReplicaFileResult {
  /** 512 KiB blocks written to the replica. */
  readonly blocksWritten: number;
}

function checkedPath(path: string): string {
  if (!path.startsWith('/') || path.includes('\0') || /[\s"]/.test(path))
    throw new ReplicaFileError(
      `${JSON.stringify(path)}: give an absolute path inside the filesystem without spaces or quotes`,
    );
  return posix.normalize(path);
}

/** Runs each command in its own `debugfs -w -R` call (debugfs takes one -R) on `image`. */
async function debugfsWrite(image: string, commands: readonly string[]): Promise<void> {
  for (const command of commands) {
    const { stderr } = await run('debugfs', ['-w', '-R', command, image], {
      maxBuffer: DEBUGFS_MAX_OUTPUT_BYTES,
    }).catch((error: unknown) => {
      throw new ReplicaFileError(`debugfs -w -R '${command}' failed`, { cause: error });
    });
    // debugfs exits 0 when a command fails; its first stderr line is the version banner.
    const problems = stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('debugfs '));
    if (problems.length > 0) throw new ReplicaFileError(`debugfs ${command}: ${problems.join('; ')}`);
  }
}

type Kind = 'absent' | 'directory' | 'other';

async function kindOf(image: string, path: string): Promise<Kind> {
  const { stdout, stderr } = await run('debugfs', ['-R', `stat "${path}"`, image], {
    maxBuffer: DEBUGFS_MAX_OUTPUT_BYTES,
  });
  if (/File not found/.test(stderr)) return 'absent';
  const type = /Type: (\S+)/.exec(stdout)?.[1];
  if (type === undefined) throw new ReplicaFileError(`debugfs stat ${path}: ${stderr.trim()}`);
  return type === 'directory' ? 'directory' : 'other';
}

async function assertWholeDiskExt(image: string): Promise<void> {
  const handle = await open(image, 'r');
  try {
    const magic = Buffer.alloc(2);
    await handle.read(magic, 0, 2, EXT_MAGIC_OFFSET);
    if (magic.readUInt16LE(0) !== EXT_MAGIC)
      throw new ReplicaFileError(
        `${image} does not start with an ext2/3/4 filesystem; rbp local replica write|rm change ` +
          'files only on such images (a partitioned disk is not supported)',
      );
  } finally {
    await handle.close();
  }
}

/** The debugfs commands that make `change` on an image whose current state kindOf() reads. */
async function commandsFor(image: string, change: ReplicaFileChange): Promise<string[]> {
  if (change.kind === 'rm') {
    const path = checkedPath(change.path);
    const kind = await kindOf(image, path);
    if (kind === 'absent') throw new ReplicaFileError(`${path} does not exist on the replica`);
    return [kind === 'directory' ? `rmdir "${path}"` : `rm "${path}"`];
  }
  const target = checkedPath(change.to);
  if (/[\s"]/.test(change.from))
    throw new ReplicaFileError(`${change.from}: a local path without spaces or quotes`);
  const kind = await kindOf(image, target);
  if (kind === 'directory') throw new ReplicaFileError(`${target} is a directory on the replica`);
  const commands: string[] = [];
  const parts = target.split('/').filter(Boolean);
  for (let depth = 1; depth < parts.length; depth += 1) {
    const ancestor = `/${parts.slice(0, depth).join('/')}`;
    const ancestorKind = await kindOf(image, ancestor);
    if (ancestorKind === 'other') throw new ReplicaFileError(`${ancestor} is not a directory on the replica`);
    if (ancestorKind === 'absent') commands.push(`mkdir "${ancestor}"`);
  }
  if (kind === 'other') commands.push(`rm "${target}"`);
  commands.push(`write "${change.from}" "${target}"`);
  return commands;
}

async function readBlock(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * Makes `change` on the replica whose image is `imagePath`: debugfs on a sparse copy, then the
 * differing blocks through `writeBlock`. Nothing reaches the replica when debugfs refuses.
 */
export async function changeReplicaFile(
  imagePath: string,
  change: ReplicaFileChange,
  writeBlock: BlockWriter,
): Promise<ReplicaFileResult> {
  await assertWholeDiskExt(imagePath);
  const work = await mkdtemp(join(tmpdir(), 'rbp-replica-edit-'));
  try {
    const copy = join(work, 'image');
    await run('cp', ['--sparse=always', imagePath, copy]);
    await debugfsWrite(copy, await commandsFor(copy, change));
    const [before, after] = await Promise.all([open(imagePath, 'r'), open(copy, 'r')]);
    let blocksWritten = 0;
    try {
      const size = (await after.stat()).size;
      const old = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
      const current = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
      for (let offset = 0; offset < size; offset += EBS_BLOCK_SIZE_BYTES) {
        const oldLength = await readBlock(before, old, offset);
        const length = await readBlock(after, current, offset);
        old.fill(0, oldLength);
        if (old.subarray(0, length).equals(current.subarray(0, length))) continue;
        await writeBlock(offset, Buffer.from(current.subarray(0, length)));
        blocksWritten += 1;
      }
    } finally {
      await Promise.all([before.close(), after.close()]);
    }
    return { blocksWritten };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
