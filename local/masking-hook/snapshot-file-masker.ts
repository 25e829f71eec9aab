/**
 * A masking hook that rewrites one file of an ext2/3/4 filesystem in a clone snapshot and writes the
 * result as a CHILD snapshot through the EBS direct APIs, so only the changed blocks are stored:
 *
 * 1. download the clone (ListSnapshotBlocks + GetSnapshotBlock) into a sparse scratch image, noting
 *    each block's SHA-256;
 * 2. find the file with debugfs (`stat` for its size and type, `blocks` for its data blocks,
 *    `dump` for its content), mask the content at the same length (every match of a pattern
 *    replaced by `*`s), and write it over the file's own data blocks, so no metadata block changes;
 * 3. StartSnapshot with ParentSnapshotId = the clone, PutSnapshotBlock for the 512 KiB blocks whose
 *    SHA-256 changed, CompleteSnapshot with the LINEAR checksum, and wait until it is completed.
 *
 * EBS direct APIs: https://docs.aws.amazon.com/ebs/latest/userguide/ebs-accessing-snapshot.html;
 * a child snapshot inherits every block it does not put
 * (https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html, ParentSnapshotId).
 * debugfs: https://man7.org/linux/man-pages/man8/debugfs.8.html.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { waitUntilSnapshotCompleted } from '@aws-sdk/client-ec2';
import { PermanentError, ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { linearChecksum } from '../../lambdas/core/restore/volume-restore.ts';
import { mapWithConcurrency } from '../../lambdas/core/util/concurrency.ts';
import type { MaskingDevice, MaskingHookEvent } from '../../lambdas/core/workflows/masking.ts';
import type { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';

/** ListSnapshotBlocks' largest page (https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html). */
const LIST_MAX_RESULTS = 10_000;
/** Blocks read or written at once: EBS direct APIs allow far more; the scratch disk is the limit here. */
const BLOCKS_IN_FLIGHT = 8;
/** StartSnapshot Timeout: minutes the child may stay pending before EBS marks it error (60 is its default). */
const SNAPSHOT_TIMEOUT_MINUTES = 60;
/** How long to wait for the child to be `completed` before answering. */
const COMPLETION_WAIT_SECONDS = 600;
/** The character masked bytes become. */
export const MASK_BYTE = '*';
/** The tag that names the unmasked clone a masked child was made from. */
export const MASKED_FROM_TAG = 'rbp:masked-from';
/** /etc/shadow's second field (the password hash) on every line: the default pattern. */
export const SHADOW_HASH_PATTERN = '(?<=^[^:\\n]*:)[^:\\n]*';

export interface FileMaskOptions {
  /** Absolute path of the file inside the filesystem. */
  readonly path: string;
  /** JavaScript regular expression (flags gm) whose matches are masked; default SHADOW_HASH_PATTERN. */
  readonly pattern?: string;
  /** Byte offset of the filesystem in the volume (a partition's start); default 0. */
  readonly filesystemOffsetBytes?: number;
  /** KMS key for the child (EBS uses the parent's key when none is given). */
  readonly kmsKeyArn?: string;
  /** A device whose filesystem has no such file gets a child with no changed block instead of failing. */
  readonly skipMissing?: boolean;
}

export interface MaskerDependencies {
  readonly ebs: EbsSnapshots;
  readonly ec2: EC2Client;
}

export interface DeviceMaskResult {
  readonly sourceVolumeId: string;
  readonly snapshotId: string;
  readonly fileBytes: number;
  readonly maskedBytes: number;
  readonly changedBlocks: readonly number[];
}

/** The hook could not mask a device; the message names the device and the problem. */
export class MaskingFailedError extends PermanentError {}

function runTool(command: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr}`, { cause: error }));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * debugfs on the filesystem at `offset` in `image` (the unix I/O manager's `?offset=` suffix), one
 * request; debugfs reports most problems on stderr with exit code 0, so stderr lines other than its
 * version banner are errors.
 */
async function debugfs(image: string, offset: number, request: string, writable = false): Promise<string> {
  const device = offset === 0 ? image : `${image}?offset=${offset}`;
  const { stdout, stderr } = await runTool('debugfs', [...(writable ? ['-w'] : []), '-R', request, device]);
  const problems = stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('debugfs '))
    .join('; ');
  if (problems !== '') throw new Error(`debugfs ${request}: ${problems}`);
  return stdout;
}

function scratchOf(image: string): string {
  return dirname(image);
}

/** Runs several debugfs requests in one process (`-f`); stdout echoes each request as `debugfs: …`. */
async function debugfsScript(
  scratch: string,
  image: string,
  offset: number,
  requests: readonly string[],
): Promise<string> {
  const script = join(scratch, 'debugfs-requests');
  await writeFile(script, `${requests.join('\n')}\n`);
  const device = offset === 0 ? image : `${image}?offset=${offset}`;
  const { stdout, stderr } = await runTool('debugfs', ['-f', script, device]);
  const problems = stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('debugfs '))
    .join('; ');
  if (problems !== '') throw new Error(`debugfs: ${problems}`);
  return stdout;
}

/** `content` with every match of `pattern` replaced by MASK_BYTE, byte for byte (same length). */
export function maskContent(content: Buffer, pattern: string): { masked: Buffer; maskedBytes: number } {
  const text = content.toString('latin1');
  let maskedBytes = 0;
  const out = text.replace(new RegExp(pattern, 'gm'), (match) => {
    maskedBytes += match.length;
    return MASK_BYTE.repeat(match.length);
  });
  return { masked: Buffer.from(out, 'latin1'), maskedBytes };
}

interface FileLayout {
  readonly size: number;
  readonly blockSize: number;
  /** Physical filesystem blocks in logical order. */
  readonly blocks: readonly number[];
}

async function fileLayout(image: string, offset: number, path: string): Promise<FileLayout | undefined> {
  let stat: string;
  try {
    stat = await debugfs(image, offset, `stat "${path}"`);
  } catch (error) {
    if (/not found/i.test(String(error))) return undefined;
    throw error;
  }
  if (!/Type: regular/.test(stat)) throw new ValidationError(`${path} is not a regular file`);
  const size = Number(/\bSize: (\d+)/.exec(stat)?.[1] ?? Number.NaN);
  if (/Flags: 0x1[0-9a-f]{7}\b/.test(stat) || /Size of inline data/.test(stat)) {
    throw new ValidationError(
      `${path} keeps its data inline in the inode; only files with data blocks are masked`,
    );
  }
  const stats = await debugfs(image, offset, 'stats');
  const blockSize = Number(/Block size:\s+(\d+)/.exec(stats)?.[1] ?? Number.NaN);
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(blockSize) || blockSize <= 0) {
    throw new Error(`debugfs gave no size or block size for ${path}`);
  }
  // bmap per logical block (debugfs `blocks` also lists extent-tree and indirect blocks).
  const logical = Array.from({ length: Math.ceil(size / blockSize) }, (_, i) => `bmap "${path}" ${i}`);
  const blocks = (await debugfsScript(scratchOf(image), image, offset, logical))
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('debugfs:'))
    .map(Number);
  if (blocks.length !== logical.length || blocks.some((b) => !Number.isSafeInteger(b) || b <= 0)) {
    throw new ValidationError(`${path} has holes or unmapped blocks; it is not masked`);
  }
  return { size, blockSize, blocks };
}
/** Writes `data` over the file's blocks; returns the byte ranges [start, end) written in the volume. */
async function writeFileBlocks(
  handle: FileHandle,
  offset: number,
  layout: FileLayout,
  data: Buffer,
): Promise<[number, number][]> {
  const ranges: [number, number][] = [];
  for (const [logical, physical] of layout.blocks.entries()) {
    const start = logical * layout.blockSize;
    if (start >= layout.size) break;
    const piece = data.subarray(start, Math.min(layout.size, start + layout.blockSize));
    const at = offset + physical * layout.blockSize;
    await handle.write(piece, 0, piece.length, at);
    ranges.push([at, at + piece.length]);
  }
  return ranges;
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

const ZERO_BLOCK_DIGEST = sha256(new Uint8Array(EBS_BLOCK_SIZE_BYTES));

/** Downloads every written block of `snapshotId` into `handle`; block index → SHA-256. */
async function download(
  ebs: EbsSnapshots,
  snapshotId: string,
  handle: FileHandle,
): Promise<Map<number, Buffer>> {
  const digests = new Map<number, Buffer>();
  let nextToken: string | undefined;
  do {
    const page = await ebs.listSnapshotBlocks({
      snapshotId,
      maxResults: LIST_MAX_RESULTS,
      ...(nextToken === undefined ? {} : { nextToken }),
    });
    await mapWithConcurrency(page.blocks, BLOCKS_IN_FLIGHT, async (block) => {
      const got = await ebs.getSnapshotBlock({
        snapshotId,
        blockIndex: block.blockIndex,
        blockToken: block.blockToken,
      });
      const digest = sha256(got.data);
      if (digest.toString('base64') !== got.checksum) {
        throw new MaskingFailedError(
          `block ${block.blockIndex} of ${snapshotId} does not match its checksum`,
        );
      }
      await handle.write(got.data, 0, got.data.length, block.blockIndex * EBS_BLOCK_SIZE_BYTES);
      digests.set(block.blockIndex, digest);
    });
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return digests;
}

/** The EBS blocks that `ranges` touch, ascending. */
function blocksTouched(ranges: readonly [number, number][]): number[] {
  const touched = new Set<number>();
  for (const [start, end] of ranges) {
    for (let b = Math.floor(start / EBS_BLOCK_SIZE_BYTES); b * EBS_BLOCK_SIZE_BYTES < end; b += 1)
      touched.add(b);
  }
  return [...touched].sort((a, b) => a - b);
}

/** A ClientToken per run and device: a repeated invocation gets the same child back. */
function clientToken(event: MaskingHookEvent, device: MaskingDevice, path: string): string {
  return createHash('sha256')
    .update(`rbp-masking:${event.runId}:${device.sourceVolumeId}:${device.snapshotId}:${path}`)
    .digest('hex')
    .slice(0, 64);
}

/** Masks one device's clone into a child snapshot. */
export async function maskDevice(
  deps: MaskerDependencies,
  event: MaskingHookEvent,
  device: MaskingDevice,
  options: FileMaskOptions,
): Promise<DeviceMaskResult> {
  const scratch = await mkdtemp(join(tmpdir(), 'rbp-mask-'));
  const image = join(scratch, 'volume.img');
  const offset = options.filesystemOffsetBytes ?? 0;
  try {
    const handle = await open(image, 'w+');
    let digests: Map<number, Buffer>;
    let layout: FileLayout | undefined;
    let ranges: [number, number][] = [];
    let fileBytes = 0;
    let maskedBytes = 0;
    try {
      await handle.truncate(device.sizeGiB * GIB_BYTES);
      digests = await download(deps.ebs, device.snapshotId, handle);
      await handle.sync();
      layout = await fileLayout(image, offset, options.path);
      if (layout === undefined && options.skipMissing !== true) {
        throw new MaskingFailedError(
          `${device.sourceVolumeId} (${device.snapshotId}): no file ${options.path} in the filesystem at byte ${offset}`,
        );
      }
      if (layout !== undefined) {
        const dumped = join(scratch, 'file');
        await debugfs(image, offset, `dump "${options.path}" "${dumped}"`);
        const content = await readFile(dumped);
        if (content.length !== layout.size) {
          throw new Error(
            `debugfs dumped ${content.length} bytes of ${options.path}, its inode says ${layout.size}`,
          );
        }
        const masked = maskContent(content, options.pattern ?? SHADOW_HASH_PATTERN);
        ranges = await writeFileBlocks(handle, offset, layout, masked.masked);
        fileBytes = content.length;
        maskedBytes = masked.maskedBytes;
      }
      const changed: { index: number; data: Buffer; digest: Buffer }[] = [];
      for (const index of blocksTouched(ranges)) {
        const data = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
        await handle.read(data, 0, data.length, index * EBS_BLOCK_SIZE_BYTES);
        const digest = sha256(data);
        if (!digest.equals(digests.get(index) ?? ZERO_BLOCK_DIGEST)) changed.push({ index, data, digest });
      }
      const tags = { ...event.tags, [MASKED_FROM_TAG]: device.snapshotId };
      const started = await deps.ebs.startSnapshot({
        volumeSizeGib: device.sizeGiB,
        clientToken: clientToken(event, device, options.path),
        timeoutMinutes: SNAPSHOT_TIMEOUT_MINUTES,
        parentSnapshotId: device.snapshotId,
        description: `${event.workflow} ${event.runId}: ${device.snapshotId} with ${options.path} masked`,
        tags,
        ...(options.kmsKeyArn === undefined ? {} : { kmsKeyArn: options.kmsKeyArn }),
      });
      await mapWithConcurrency(changed, BLOCKS_IN_FLIGHT, (block) =>
        deps.ebs.putSnapshotBlock({
          snapshotId: started.snapshotId,
          blockIndex: block.index,
          data: block.data,
          checksumBase64: block.digest.toString('base64'),
        }),
      );
      await deps.ebs.completeSnapshot({
        snapshotId: started.snapshotId,
        changedBlocksCount: changed.length,
        checksumBase64: linearChecksum(changed.map((block) => block.digest)),
      });
      await waitUntilSnapshotCompleted(
        { client: deps.ec2, maxWaitTime: COMPLETION_WAIT_SECONDS, minDelay: 1, maxDelay: 5 },
        { SnapshotIds: [started.snapshotId] },
      );
      return {
        sourceVolumeId: device.sourceVolumeId,
        snapshotId: started.snapshotId,
        fileBytes,
        maskedBytes,
        changedBlocks: changed.map((block) => block.index),
      };
    } finally {
      await handle.close();
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The hook: masks every device and answers per the masking contract (lambdas/core/workflows/masking.ts). */
export async function maskEvent(
  deps: MaskerDependencies,
  event: MaskingHookEvent,
  options: FileMaskOptions,
): Promise<{ maskedSnapshots: Record<string, string>; message: string }> {
  const results: DeviceMaskResult[] = [];
  for (const device of event.devices) results.push(await maskDevice(deps, event, device, options));
  return {
    maskedSnapshots: Object.fromEntries(results.map((r) => [r.sourceVolumeId, r.snapshotId])),
    message: results
      .map(
        (r) =>
          `${r.sourceVolumeId}: ${options.path} ${r.maskedBytes} of ${r.fileBytes} bytes masked, ${r.changedBlocks.length} blocks written to ${r.snapshotId}`,
      )
      .join('; '),
  };
}
