/**
 * Round trips of partition tables: fast-check generates partition lists, a small writer in this
 * file lays them out as GPT (both copies, CRCs from node:zlib, independent of the reader's CRC) or
 * as MBR with an EBR chain, and the reader must give back exactly what was written.
 */
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPartitionTable } from '../../lambdas/core/fs/index.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';

const SECTOR = 512;
const DISK_SECTORS = 8192;
const GPT_ENTRIES = 128;
const GPT_ENTRY_BYTES = 128;
const GPT_ARRAY_SECTORS = (GPT_ENTRIES * GPT_ENTRY_BYTES) / SECTOR;
const FIRST_USABLE = 2 + GPT_ARRAY_SECTORS;
const LAST_USABLE = DISK_SECTORS - 2 - GPT_ARRAY_SECTORS;

interface GptPart {
  slot: number;
  first: number;
  last: number;
  type: Uint8Array;
  name: string;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The textual GUID of EFI's mixed-endian bytes (first three fields little-endian). */
function guidText(raw: Uint8Array): string {
  const le = (a: number, b: number): string => hex(raw.slice(a, b).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(raw.slice(8, 10))}-${hex(raw.slice(10, 16))}`;
}

function writeGpt(parts: readonly GptPart[]): Uint8Array {
  const disk = new Uint8Array(DISK_SECTORS * SECTOR);
  const view = new DataView(disk.buffer);
  // Protective MBR.
  disk[446 + 4] = 0xee;
  view.setUint32(446 + 8, 1, true);
  view.setUint32(446 + 12, DISK_SECTORS - 1, true);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  const array = new Uint8Array(GPT_ENTRIES * GPT_ENTRY_BYTES);
  const av = new DataView(array.buffer);
  for (const p of parts) {
    const at = p.slot * GPT_ENTRY_BYTES;
    array.set(p.type, at);
    array.fill(0x5a, at + 16, at + 32); // unique GUID
    av.setBigUint64(at + 32, BigInt(p.first), true);
    av.setBigUint64(at + 40, BigInt(p.last), true);
    for (let i = 0; i < p.name.length; i += 1) av.setUint16(at + 56 + i * 2, p.name.charCodeAt(i), true);
  }
  const arrayCrc = crc32(array);
  const header = (myLba: number, altLba: number, entriesLba: number): Uint8Array => {
    const h = new Uint8Array(SECTOR);
    const hv = new DataView(h.buffer);
    h.set(new TextEncoder().encode('EFI PART'), 0);
    hv.setUint32(8, 0x00010000, true);
    hv.setUint32(12, 92, true);
    hv.setBigUint64(24, BigInt(myLba), true);
    hv.setBigUint64(32, BigInt(altLba), true);
    hv.setBigUint64(40, BigInt(FIRST_USABLE), true);
    hv.setBigUint64(48, BigInt(LAST_USABLE), true);
    h.fill(0x11, 56, 72); // disk GUID
    hv.setBigUint64(72, BigInt(entriesLba), true);
    hv.setUint32(80, GPT_ENTRIES, true);
    hv.setUint32(84, GPT_ENTRY_BYTES, true);
    hv.setUint32(88, arrayCrc, true);
    hv.setUint32(16, crc32(h.subarray(0, 92)), true);
    return h;
  };
  disk.set(header(1, DISK_SECTORS - 1, 2), SECTOR);
  disk.set(array, 2 * SECTOR);
  disk.set(array, (DISK_SECTORS - 1 - GPT_ARRAY_SECTORS) * SECTOR);
  disk.set(header(DISK_SECTORS - 1, 1, DISK_SECTORS - 1 - GPT_ARRAY_SECTORS), (DISK_SECTORS - 1) * SECTOR);
  return disk;
}

/** Non-overlapping sorted ranges inside [from, to]: cut points drawn, then paired. */
function rangesArb(from: number, to: number, max: number): fc.Arbitrary<[number, number][]> {
  return fc
    .uniqueArray(fc.integer({ min: from, max: to }), { minLength: 0, maxLength: max * 2 })
    .map((cuts) => {
      const sorted = [...cuts].sort((a, b) => a - b);
      const out: [number, number][] = [];
      for (let i = 0; i + 1 < sorted.length; i += 2) out.push([sorted[i]!, sorted[i + 1]!]);
      return out;
    });
}

const gptArb = fc
  .tuple(
    rangesArb(FIRST_USABLE, LAST_USABLE, 8),
    fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 8, maxLength: 8 }),
    fc.array(
      fc.string({
        unit: fc.integer({ min: 0x20, max: 0xd7ff }).map((c) => String.fromCharCode(c)),
        maxLength: 36,
      }),
      {
        minLength: 8,
        maxLength: 8,
      },
    ),
    fc.shuffledSubarray([...Array(GPT_ENTRIES).keys()], { minLength: 8, maxLength: 8 }),
  )
  .map(([ranges, types, names, slots]) =>
    ranges.map(([first, last], i): GptPart => {
      const type = types[i]!;
      if (type.every((b) => b === 0)) type[0] = 1; // an all-zero type marks an unused entry
      return { slot: slots[i]!, first, last, type, name: names[i]! };
    }),
  );

function expectedGpt(parts: readonly GptPart[]): unknown[] {
  return [...parts]
    .sort((a, b) => a.slot - b.slot)
    .map((p) => ({
      index: p.slot + 1,
      startByte: p.first * SECTOR,
      sizeBytes: (p.last - p.first + 1) * SECTOR,
      type: guidText(p.type),
      ...(p.name === '' ? {} : { name: p.name }),
      fsType: 'unknown',
    }));
}

describe('GPT round trip', () => {
  it('reads back every partition written', async () => {
    await fc.assert(
      fc.asyncProperty(gptArb, async (parts) => {
        const table = await readPartitionTable(new MemoryByteRangeReader(writeGpt(parts)));
        expect(table.scheme).toBe('gpt');
        expect(table.gptHeader).toBe('primary');
        expect(table.partitions).toEqual(expectedGpt(parts));
      }),
      { numRuns: 60 },
    );
  });

  it('falls back to the backup copy whatever byte of the primary header or array is damaged', async () => {
    await fc.assert(
      fc.asyncProperty(
        gptArb,
        fc.integer({ min: 0, max: 92 + GPT_ENTRIES * GPT_ENTRY_BYTES - 1 }),
        async (parts, at) => {
          const disk = writeGpt(parts);
          const offset = at < 92 ? SECTOR + at : 2 * SECTOR + (at - 92);
          disk[offset]! ^= 0x40;
          const table = await readPartitionTable(new MemoryByteRangeReader(disk));
          expect(table.gptHeader).toBe('backup');
          expect(table.partitions).toEqual(expectedGpt(parts));
        },
      ),
      { numRuns: 60 },
    );
  });
});

interface MbrLayout {
  primaries: { first: number; count: number; type: number }[];
  logicals: { first: number; count: number; type: number }[];
}

/** Primaries in slots 0..2, the extended partition in slot 3 holding an EBR before each logical. */
const mbrArb: fc.Arbitrary<MbrLayout> = fc
  .tuple(
    rangesArb(1, 3999, 3),
    rangesArb(4002, DISK_SECTORS - 1, 10),
    fc.array(fc.constantFrom(0x83, 0x07, 0x0c, 0x82, 0x8e), { minLength: 13, maxLength: 13 }),
  )
  .map(([prim, logi, types]) => ({
    primaries: prim.map(([a, b], i) => ({ first: a, count: b - a + 1, type: types[i]! })),
    // Each logical keeps its sector before it for the EBR: it starts at a+1.
    logicals: logi.map(([a, b], i) => ({ first: a + 1, count: b - a, type: types[3 + i]! })),
  }));

function writeMbr(layout: MbrLayout): Uint8Array {
  const disk = new Uint8Array(DISK_SECTORS * SECTOR);
  const view = new DataView(disk.buffer);
  const entry = (sector: number, slot: number, type: number, first: number, count: number): void => {
    const at = sector * SECTOR + 446 + slot * 16;
    disk[at + 4] = type;
    view.setUint32(at + 8, first, true);
    view.setUint32(at + 12, count, true);
  };
  const sign = (sector: number): void => {
    disk[sector * SECTOR + 510] = 0x55;
    disk[sector * SECTOR + 511] = 0xaa;
  };
  layout.primaries.forEach((p, i) => entry(0, i, p.type, p.first, p.count));
  const extStart = 4000;
  entry(0, 3, 0x05, extStart, DISK_SECTORS - extStart);
  sign(0);
  // The first EBR sits at the start of the extended partition; the others just before their logicals.
  const ebrs = layout.logicals.map((l, i) => (i === 0 ? extStart : l.first - 1));
  if (layout.logicals.length === 0) sign(extStart);
  layout.logicals.forEach((l, i) => {
    const ebr = ebrs[i]!;
    entry(ebr, 0, l.type, l.first - ebr, l.count);
    const next = ebrs[i + 1];
    if (next !== undefined) entry(ebr, 1, 0x05, next - extStart, 1);
    sign(ebr);
  });
  return disk;
}

describe('MBR round trip', () => {
  it('reads back primaries and the whole EBR chain, logicals numbered from 5', async () => {
    await fc.assert(
      fc.asyncProperty(mbrArb, async (layout) => {
        const table = await readPartitionTable(new MemoryByteRangeReader(writeMbr(layout)));
        const hexType = (t: number): string => `0x${t.toString(16).padStart(2, '0')}`;
        expect(table.scheme).toBe('mbr');
        expect(table.warnings).toEqual([]);
        expect(table.partitions).toEqual([
          ...layout.primaries.map((p, i) => ({
            index: i + 1,
            startByte: p.first * SECTOR,
            sizeBytes: p.count * SECTOR,
            type: hexType(p.type),
            fsType: 'unknown',
          })),
          ...layout.logicals.map((l, i) => ({
            index: 5 + i,
            startByte: l.first * SECTOR,
            sizeBytes: l.count * SECTOR,
            type: hexType(l.type),
            fsType: 'unknown',
          })),
        ]);
      }),
      { numRuns: 80 },
    );
  });
});
