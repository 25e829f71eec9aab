/**
 * Handcrafted hostile NTFS images: a real ntfs-3g image patched the way a guest could (bytes that
 * are not update-sequence slots, so fixups stay valid unless the test means to tear them). Each
 * damage must give a typed error, with its message, for that file or directory while the rest of
 * the tree still reads.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemCorruptError, FilesystemLimitError } from '../../lambdas/core/fs/errors.ts';
import type { WalkItem } from '../../lambdas/core/fs/filesystem.ts';
import { openNtfs } from '../../lambdas/core/fs/ntfs/filesystem.ts';
import type { NtfsLimits } from '../../lambdas/core/fs/ntfs/limits.ts';
import { applyFixups } from '../../lambdas/core/fs/ntfs/structures.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { prng, randomBytes, removeDir, scratchDir, writeSparseFile } from '../support/fs-images.ts';
import { NtfsMount, makeNtfsImage } from './ntfs-images.ts';

const MIB = 1024 * 1024;
const RECORD_BYTES = 1024;
let work: string;
let pristine: Uint8Array;
let intact: Map<string, number>;

beforeAll(async () => {
  work = await scratchDir('ntfs-hostile');
  const image = path.join(work, 'base.img');
  await makeNtfsImage(image, { sizeBytes: 8 * MIB, clusterBytes: 4096 });
  const mount = await NtfsMount.mount(image, path.join(work, 'mnt'));
  try {
    const mnt = mount.dir;
    const rand = prng(61);
    await mkdir(path.join(mnt, 'd'));
    for (let i = 0; i < 10; i += 1) await writeFile(path.join(mnt, 'd', `file-${i}`), `file ${i}\n`);
    await mkdir(path.join(mnt, 'many'));
    for (let i = 0; i < 150; i += 1)
      await writeFile(path.join(mnt, 'many', `entry-${String(i).padStart(3, '0')}`), `${i}\n`);
    await writeFile(path.join(mnt, 'big'), randomBytes(rand, 64 * 1024));
    await writeSparseFile(
      path.join(mnt, 'fragmented'),
      200 * 8192,
      Array.from({ length: 200 }, (_, i) => ({ offset: i * 8192, data: new Uint8Array(10).fill(i) })),
    );
    await writeFile(path.join(mnt, 'zzz-after'), 'still readable\n');
  } finally {
    await mount.unmount();
  }
  pristine = new Uint8Array(await readFile(image));
  intact = new Map();
  for (const item of await walk(pristine)) if (item.kind === 'entry') intact.set(item.path, item.inode);
}, 60_000);

afterAll(async () => {
  await removeDir(work);
});

async function walk(bytes: Uint8Array, limits: Partial<NtfsLimits> = {}): Promise<WalkItem[]> {
  const fs = await openNtfs(new MemoryByteRangeReader(bytes), { limits });
  const items: WalkItem[] = [];
  for await (const item of fs.walk()) items.push(item);
  return items;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Byte offset of MFT record `n` (a fresh small volume keeps its $MFT in one run). */
function recordAt(bytes: Uint8Array, n: number): number {
  const v = view(bytes);
  const cluster = v.getUint16(0x0b, true) * bytes[0x0d]!;
  const at = Number(v.getBigUint64(0x30, true)) * cluster + n * RECORD_BYTES;
  expect(String.fromCharCode(...bytes.subarray(at, at + 4))).toBe('FILE');
  expect(v.getUint32(at + 0x2c, true)).toBe(n);
  return at;
}

/** Offset (in the image) of the first attribute of `type` in record `n`. */
function attributeAt(bytes: Uint8Array, n: number, type: number): number {
  const record = recordAt(bytes, n);
  const v = view(bytes);
  let at = record + v.getUint16(record + 0x14, true);
  while (v.getUint32(at, true) !== 0xffffffff) {
    if (v.getUint32(at, true) === type) return at;
    at += v.getUint32(at + 4, true);
  }
  throw new Error(`record ${n} has no attribute 0x${type.toString(16)}`);
}

/** Writes `value` at `at`, refusing to touch an update-sequence slot (the last 2 bytes of a 512-byte stride). */
function patch(bytes: Uint8Array, at: number, value: readonly number[]): void {
  for (let i = 0; i < value.length; i += 1) {
    expect((at + i) % 512 < 510, `byte ${at + i} is a fixup slot`).toBe(true);
    bytes[at + i] = value[i]!;
  }
}

/** Offsets (relative to the view) of the child-VCN fields of the index entries after `header`. */
function childPointers(v: DataView, header: number): number[] {
  let at = header + v.getUint32(header, true);
  const out: number[] = [];
  for (;;) {
    const length = v.getUint16(at + 8, true);
    const flags = v.getUint32(at + 12, true);
    if (flags & 1) out.push(at + length - 8);
    if (flags & 2) return out;
    at += length;
  }
}

function errorsOf(items: readonly WalkItem[]): { path: string; message: string; type: string }[] {
  return items.flatMap((i) =>
    i.kind === 'error' ? [{ path: i.path, message: i.error.message, type: i.error.name }] : [],
  );
}

function pathsOf(items: readonly WalkItem[]): string[] {
  return items.flatMap((i) => (i.kind === 'entry' ? [i.path] : []));
}

describe('hostile NTFS images', () => {
  it('the intact image walks without errors', () => {
    expect(intact.size).toBeGreaterThan(175);
    expect(intact.has('/zzz-after')).toBe(true);
  });

  it('a torn FILE record is an error for that file only', async () => {
    const bytes = pristine.slice();
    const n = intact.get('/d/file-3')!;
    bytes[recordAt(bytes, n) + 510]! ^= 0xff;
    const items = await walk(bytes);
    expect(errorsOf(items)).toEqual([
      {
        path: '/d/file-3',
        message: `MFT record ${n}: fixup mismatch in stride 0 (torn or damaged write)`,
        type: 'FilesystemCorruptError',
      },
    ]);
    expect(pathsOf(items).length).toBe(intact.size - 1);
  });

  it('an INDX node that points back at itself: the directory reports a loop, the walk goes on', async () => {
    const bytes = pristine.slice();
    const dir = intact.get('/many')!;
    const v = view(bytes);
    // The index root's entries: ntfs-3g keeps one, whose child is the top INDX node.
    const root = attributeAt(bytes, dir, 0x90);
    const rootHeader = root + v.getUint16(root + 0x14, true) + 0x10;
    const rootChildren = childPointers(v, rootHeader);
    expect(rootChildren.length).toBeGreaterThan(0);
    const top = Number(v.getBigUint64(rootChildren[0]!, true));
    // The allocation's first run (a fresh directory's INDX records are contiguous).
    const allocation = attributeAt(bytes, dir, 0xa0);
    const runs = allocation + v.getUint16(allocation + 0x20, true);
    const header = bytes[runs]!;
    let lcn = 0;
    for (let i = (header >>> 4) - 1; i >= 0; i -= 1) lcn = lcn * 256 + bytes[runs + 1 + (header & 0x0f) + i]!;
    const node = lcn * 4096 + top * 4096;
    const fixed = applyFixups(bytes.subarray(node, node + 4096), 'INDX', 'test');
    const fixedView = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength);
    const children = childPointers(fixedView, 0x18);
    expect(children.length).toBeGreaterThan(1);
    patch(bytes, node + children[1]!, [...new Uint8Array(new BigUint64Array([BigInt(top)]).buffer)]);
    const items = await walk(bytes);
    expect(errorsOf(items)).toEqual([
      {
        path: '/many',
        message: `directory ${dir} index record at VCN ${top}: reached twice (a loop in the index)`,
        type: 'FilesystemCorruptError',
      },
    ]);
    expect(pathsOf(items)).toContain('/zzz-after');
    // The entries before the loop were listed.
    expect(pathsOf(items).filter((p) => p.startsWith('/many/')).length).toBeGreaterThan(0);
  });

  it('a run outside the device is an error when the file is read, not when it is listed', async () => {
    const bytes = pristine.slice();
    const n = intact.get('/big')!;
    const data = attributeAt(bytes, n, 0x80);
    const v = view(bytes);
    const runs = data + v.getUint16(data + 0x20, true);
    const header = bytes[runs]!;
    const lengthBytes = header & 0x0f;
    const offsetBytes = header >>> 4;
    patch(bytes, runs + 1 + lengthBytes, [...new Array<number>(offsetBytes - 1).fill(0xff), 0x7f]);
    const fs = await openNtfs(new MemoryByteRangeReader(bytes));
    const items: WalkItem[] = [];
    for await (const item of fs.walk()) items.push(item);
    expect(errorsOf(items)).toEqual([]);
    const error = await fs.readFile(n).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FilesystemCorruptError);
    expect((error as Error).message).toMatch(
      new RegExp(`^MFT record ${n}: data at byte \\d+ lies past the device end$`),
    );
  });

  it('a record that is not in use, or whose sequence number moved on, is an error for its path', async () => {
    const bytes = pristine.slice();
    const unused = intact.get('/d/file-1')!;
    const stale = intact.get('/d/file-2')!;
    patch(bytes, recordAt(bytes, unused) + 0x16, [0x00, 0x00]);
    const seqAt = recordAt(bytes, stale) + 0x10;
    const seq = view(bytes).getUint16(seqAt, true);
    patch(bytes, seqAt, [(seq + 1) & 0xff, (seq + 1) >>> 8]);
    expect(errorsOf(await walk(bytes))).toEqual([
      { path: '/d/file-1', message: `MFT record ${unused} is not in use`, type: 'FilesystemCorruptError' },
      {
        path: '/d/file-2',
        message: `index entry names record ${stale} sequence ${seq}, the record has ${seq + 1} (stale entry)`,
        type: 'FilesystemCorruptError',
      },
    ]);
  });

  it('a runlist longer than the limit is a FilesystemLimitError for that file', async () => {
    const n = intact.get('/fragmented')!;
    const items = await walk(pristine, { maxRunsPerStream: 10 });
    const errors = errorsOf(items);
    expect(errors).toEqual([
      {
        path: '/fragmented',
        message: `MFT record ${n}, attribute 0x80: more than 10 runs`,
        type: 'FilesystemLimitError',
      },
    ]);
    const item = items.find((i) => i.kind === 'error');
    expect(item?.kind === 'error' ? item.error : undefined).toBeInstanceOf(FilesystemLimitError);
  });

  it('a boot sector that is not NTFS, or encodes an impossible record size, is refused at open', async () => {
    const notNtfs = pristine.slice(0, 64 * 1024);
    notNtfs.set(new TextEncoder().encode('MSDOS5.0'), 3);
    await expect(openNtfs(new MemoryByteRangeReader(notNtfs))).rejects.toThrow(
      'no NTFS boot sector (OEM id "MSDOS5.0")',
    );
    const badRecord = pristine.slice();
    badRecord[0x40] = 0x00;
    await expect(openNtfs(new MemoryByteRangeReader(badRecord))).rejects.toThrow(
      'invalid FILE record size 0',
    );
    const tooBig = pristine.slice();
    tooBig[0x40] = 0xe0; // 2^32-byte records
    await expect(openNtfs(new MemoryByteRangeReader(tooBig))).rejects.toThrow(
      `invalid FILE record size ${2 ** 32}`,
    );
  });

  it('$MFT pointing past the device is refused at open', async () => {
    const bytes = pristine.slice();
    view(bytes).setBigUint64(0x30, 1n << 40n, true);
    await expect(openNtfs(new MemoryByteRangeReader(bytes))).rejects.toThrow(
      `$MFT at cluster ${2 ** 40} lies past the end of the device`,
    );
  });
});
