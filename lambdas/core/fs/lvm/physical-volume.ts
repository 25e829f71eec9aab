/**
 * An LVM2 physical volume read without device-mapper: the label (LABELONE in one of the first four
 * sectors), the PV header (UUID, data and metadata areas), the metadata area header and the latest
 * committed metadata text, and from it each logical volume of the VG mapped onto this PV's bytes.
 * On-disk structures follow LVM2's lib/format_text/layout.h and lib/label/label.h
 * (https://github.com/lvmteam/lvm2); all integers are little-endian.
 *
 * Linear and striped segments are read. Thin pools and thin volumes, snapshots, RAID, mirrors,
 * caches, VDO and integrity layers are recognised and reported unsupported with the reason. An LV
 * with a segment on another PV of the VG is reported incomplete: only one disk is read here.
 */
import type { ByteRangeReader } from '../../ports.ts';
import { LeBytes, crc32Raw } from '../bytes.ts';
import { sliceReader } from '../cached-reader.ts';
import type { SlicedReader } from '../cached-reader.ts';
import { FilesystemCorruptError, FilesystemLimitError, UnsupportedFilesystemError } from '../errors.ts';
import {
  MAX_DISK_LOCATIONS,
  MAX_METADATA_AREAS,
  MAX_METADATA_TEXT_BYTES,
  MAX_SEGMENTS_PER_LV,
  MAX_STRIPES,
} from './limits.ts';
import { numberField, parseMetadataText, stringField, stringList } from './metadata-text.ts';
import type { MetadataSection, MetadataValue } from './metadata-text.ts';

const SECTOR = 512;
/** The label may sit in any of the first four sectors (LABEL_SCAN_SECTORS). */
const LABEL_SCAN_SECTORS = 4;
const LABEL_ID = 'LABELONE';
const LABEL_TYPE = 'LVM2 001';
/** Bytes of the label covered by its CRC: from offset_xl (byte 20) to the end of the sector. */
const LABEL_CRC_FROM = 20;
const PV_UUID_BYTES = 32;
const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
const MDA_HEADER_BYTES = 512;
const MDA_VERSION = 1;
/** raw_locn.flags: this copy of the metadata is ignored (pvchange --metadataignore). */
const RAW_LOCN_IGNORED = 0x1;
/** LVM2's calc_crc: CRC-32 (reflected 0xEDB88320) from this seed, without the final inversion. */
const LVM_CRC_SEED = 0xf597a6cf;

export function lvmCrc(bytes: Uint8Array, seed = LVM_CRC_SEED): number {
  return crc32Raw(seed, bytes);
}

export interface LvSegment {
  readonly startExtent: number;
  readonly extentCount: number;
  readonly type: string;
  readonly stripeCount: number;
  /** Stripe size in bytes (0 for a linear segment). */
  readonly stripeBytes: number;
  /** Each stripe: the PV's name in the metadata (pv0, pv1...) and its first physical extent. */
  readonly stripes: readonly { readonly pv: string; readonly extent: number }[];
}

interface LvBase {
  /** "vg/lv", the name the product shows. */
  readonly name: string;
  readonly lvName: string;
  readonly id: string;
}

export type LogicalVolume =
  | (LvBase & {
      readonly status: 'readable';
      readonly sizeBytes: number;
      readonly segments: readonly LvSegment[];
      /**
       * The LV's bytes, mapped onto the PV reader. `offsetInDisk` is where LV byte 0 lies on the
       * disk: with extents a multiple of the cache page (LVM2's default 4 MiB), every linear
       * segment then sits on the same page grid as the disk.
       */
      readonly reader: SlicedReader;
    })
  | (LvBase & { readonly status: 'unsupported' | 'incomplete'; readonly reason: string });

export interface LvmPhysicalVolume {
  /** The PV's UUID as LVM shows it (6-4-4-4-4-4-6 groups). */
  readonly pvUuid: string;
  readonly vgName: string;
  readonly vgId: string;
  readonly seqno: number;
  readonly extentBytes: number;
  /** This PV's name inside the VG metadata (pv0, pv1, ...). */
  readonly pvName: string;
  /** Byte offset of physical extent 0 on this PV. */
  readonly peStartBytes: number;
  /** PVs of the VG other than this one (their UUIDs): a VG spanning several disks. */
  readonly otherPvs: readonly string[];
  /** Visible logical volumes in metadata order; hidden component LVs (pool data, RAID legs) are not listed. */
  readonly logicalVolumes: readonly LogicalVolume[];
}

interface DiskLocation {
  readonly offset: number;
  readonly size: number;
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** "aaaaaabbbbcccc..." (32 characters) as LVM prints it: 6-4-4-4-4-4-6. */
function formatPvUuid(raw: string): string {
  const groups = [6, 4, 4, 4, 4, 4, 6];
  const out: string[] = [];
  let at = 0;
  for (const n of groups) {
    out.push(raw.slice(at, at + n));
    at += n;
  }
  return out.join('-');
}

async function findLabel(pv: ByteRangeReader): Promise<{ sector: number; bytes: LeBytes }> {
  for (let sector = 0; sector < LABEL_SCAN_SECTORS; sector += 1) {
    if ((sector + 1) * SECTOR > pv.size) break;
    const bytes = await pv.read(sector * SECTOR, SECTOR);
    if (ascii(bytes.subarray(0, 8)) !== LABEL_ID) continue;
    const raw = new LeBytes(bytes);
    if (raw.u64(8) !== sector) continue;
    if (ascii(bytes.subarray(24, 32)) !== LABEL_TYPE) {
      throw new UnsupportedFilesystemError(`LVM label type "${ascii(bytes.subarray(24, 32))}" is not LVM2`);
    }
    if (lvmCrc(bytes.subarray(LABEL_CRC_FROM)) !== raw.u32(16)) {
      throw new FilesystemCorruptError(`LVM label in sector ${sector}: checksum mismatch`, { sector });
    }
    return { sector, bytes: raw };
  }
  throw new FilesystemCorruptError('no LVM2 label (LABELONE) in the first four sectors');
}

function diskLocations(raw: LeBytes, at: number): { list: DiskLocation[]; next: number } {
  const list: DiskLocation[] = [];
  for (let i = 0; i < MAX_DISK_LOCATIONS; i += 1) {
    const offset = raw.u64(at);
    const size = raw.u64(at + 8);
    at += 16;
    if (offset === 0) return { list, next: at };
    list.push({ offset, size });
  }
  throw new FilesystemCorruptError(`LVM PV header lists more than ${MAX_DISK_LOCATIONS} areas`);
}

interface MetadataCopy {
  readonly text: string;
  readonly seqno: number;
}

/** The committed metadata text of one metadata area, or undefined when the area holds none. */
async function readMetadataArea(pv: ByteRangeReader, area: DiskLocation): Promise<string | undefined> {
  if (
    area.offset + MDA_HEADER_BYTES > pv.size ||
    area.size < MDA_HEADER_BYTES ||
    area.offset + area.size > pv.size
  ) {
    throw new FilesystemCorruptError(
      `LVM metadata area at ${area.offset} (+${area.size}) lies outside the PV`,
      {
        offset: area.offset,
      },
    );
  }
  const header = await pv.read(area.offset, MDA_HEADER_BYTES);
  const raw = new LeBytes(header);
  if (ascii(header.subarray(4, 20)) !== MDA_MAGIC) {
    throw new FilesystemCorruptError(`LVM metadata area at ${area.offset}: bad magic`, {
      offset: area.offset,
    });
  }
  if (lvmCrc(header.subarray(4)) !== raw.u32(0)) {
    throw new FilesystemCorruptError(`LVM metadata area at ${area.offset}: header checksum mismatch`, {
      offset: area.offset,
    });
  }
  if (raw.u32(20) !== MDA_VERSION || raw.u64(24) !== area.offset || raw.u64(32) !== area.size) {
    throw new FilesystemCorruptError(
      `LVM metadata area at ${area.offset}: header does not match the PV header`,
      {
        offset: area.offset,
      },
    );
  }
  // raw_locns[0] is the committed metadata; [1] (when set) a precommitted copy not yet in force.
  const offset = raw.u64(40);
  const size = raw.u64(48);
  const checksum = raw.u32(56);
  const flags = raw.u32(60);
  if (offset === 0 || flags & RAW_LOCN_IGNORED) return undefined;
  if (size > MAX_METADATA_TEXT_BYTES) {
    throw new FilesystemLimitError(`LVM metadata text of ${size} bytes exceeds ${MAX_METADATA_TEXT_BYTES}`);
  }
  if (offset < MDA_HEADER_BYTES || offset >= area.size || size > area.size - MDA_HEADER_BYTES) {
    throw new FilesystemCorruptError(
      `LVM metadata area at ${area.offset}: text at ${offset} (+${size}) is invalid`,
      {
        offset: area.offset,
      },
    );
  }
  // A circular buffer after the header: text that runs past the end continues right after it.
  const first = Math.min(size, area.size - offset);
  const parts = [await pv.read(area.offset + offset, first)];
  if (first < size) parts.push(await pv.read(area.offset + MDA_HEADER_BYTES, size - first));
  let crc = LVM_CRC_SEED;
  for (const part of parts) crc = lvmCrc(part, crc);
  if (crc !== checksum) {
    throw new FilesystemCorruptError(`LVM metadata area at ${area.offset}: metadata text checksum mismatch`, {
      offset: area.offset,
    });
  }
  const bytes = new Uint8Array(size);
  bytes.set(parts[0]!, 0);
  if (parts[1] !== undefined) bytes.set(parts[1], first);
  const end = bytes.indexOf(0);
  return new TextDecoder('utf-8', { fatal: false }).decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Reads the PV label and the latest metadata; maps every visible LV onto `pv` (the partition). */
export async function readLvmPhysicalVolume(pv: ByteRangeReader): Promise<LvmPhysicalVolume> {
  const label = await findLabel(pv);
  const headerAt = label.bytes.u32(20);
  if (headerAt < 32 || headerAt + PV_UUID_BYTES + 8 > SECTOR) {
    throw new FilesystemCorruptError(`LVM label: PV header offset ${headerAt} is invalid`);
  }
  const pvUuidRaw = ascii(label.bytes.slice(headerAt, PV_UUID_BYTES));
  const data = diskLocations(label.bytes, headerAt + PV_UUID_BYTES + 8);
  const metadataAreas = diskLocations(label.bytes, data.next).list.slice(0, MAX_METADATA_AREAS);
  const copies: MetadataCopy[] = [];
  const problems: Error[] = [];
  for (const area of metadataAreas) {
    try {
      const text = await readMetadataArea(pv, area);
      if (text === undefined) continue;
      const seqno = /\bseqno\s*=\s*(\d+)/.exec(text);
      copies.push({ text, seqno: seqno === null ? 0 : Number(seqno[1]) });
    } catch (error) {
      if (!(error instanceof FilesystemCorruptError || error instanceof FilesystemLimitError)) throw error;
      problems.push(error);
    }
  }
  if (copies.length === 0) {
    if (problems.length > 0) throw problems[0]!;
    throw new UnsupportedFilesystemError(
      'this LVM PV carries no metadata (pvcreate --metadatacopies 0): its VG is described on another PV',
    );
  }
  const latest = copies.reduce((a, b) => (b.seqno > a.seqno ? b : a));
  return interpret(pv, formatPvUuid(pvUuidRaw), parseMetadataText(latest.text));
}

function interpret(pv: ByteRangeReader, pvUuid: string, root: MetadataSection): LvmPhysicalVolume {
  const vgName = root.order.find((name) => root.sections.get(name)!.sections.has('physical_volumes'));
  if (vgName === undefined) throw new FilesystemCorruptError('LVM metadata has no volume group section');
  const vg = root.sections.get(vgName)!;
  const where = `volume group ${vgName}`;
  const extentSectors = numberField(vg, 'extent_size', where);
  if (extentSectors === 0) throw new FilesystemCorruptError(`LVM metadata: ${where} has extent_size 0`);
  const extentBytes = extentSectors * SECTOR;
  const pvs = vg.sections.get('physical_volumes')!;
  const pvExtents = new Map<string, number>();
  let pvName: string | undefined;
  let peStartBytes = 0;
  const otherPvs: string[] = [];
  for (const name of pvs.order) {
    const section = pvs.sections.get(name)!;
    const id = stringField(section, 'id', `PV ${name}`);
    pvExtents.set(name, numberField(section, 'pe_count', `PV ${name}`));
    if (id === pvUuid) {
      pvName = name;
      peStartBytes = numberField(section, 'pe_start', `PV ${name}`) * SECTOR;
    } else {
      otherPvs.push(id);
    }
  }
  if (pvName === undefined) {
    throw new FilesystemCorruptError(`LVM metadata of ${vgName} does not list this PV (${pvUuid})`);
  }
  const thisPv = pvName;
  const lvs = vg.sections.get('logical_volumes');
  const sections = new Map<string, MetadataSection>();
  for (const name of lvs?.order ?? []) sections.set(name, lvs!.sections.get(name)!);
  // Snapshots: a hidden LV with a "snapshot" segment names the origin and its copy-on-write store.
  const snapshotOf = new Map<string, string>();
  for (const [name, lv] of sections) {
    for (const seg of segmentSections(lv)) {
      if (seg.values.get('type') === 'snapshot') {
        const cow = seg.values.get('cow_store');
        const origin = seg.values.get('origin');
        if (typeof cow === 'string') snapshotOf.set(cow, typeof origin === 'string' ? origin : name);
      }
    }
  }
  const logicalVolumes: LogicalVolume[] = [];
  for (const [lvName, lv] of sections) {
    // LVM2 writes a snapshot's copy-on-write LV without VISIBLE (lvs shows it through the hidden
    // snapshotN LV); it is listed here so that the snapshot is reported, not silently left out.
    if (!stringList(lv, 'status').includes('VISIBLE') && !snapshotOf.has(lvName)) continue;
    const base = {
      name: `${vgName}/${lvName}`,
      lvName,
      id: typeof lv.values.get('id') === 'string' ? (lv.values.get('id') as string) : '',
    };
    const origin = snapshotOf.get(lvName);
    if (origin !== undefined) {
      logicalVolumes.push({
        ...base,
        status: 'unsupported',
        reason: `snapshot of ${vgName}/${origin}: its copy-on-write store holds only changed chunks; the origin is read instead`,
      });
      continue;
    }
    try {
      const segments = parseSegments(lv, `LV ${lvName}`, pvExtents);
      const unsupported = segments.find((s) => s.type !== 'striped');
      if (unsupported !== undefined) {
        logicalVolumes.push({
          ...base,
          status: 'unsupported',
          reason: unsupportedReason(unsupported.type, lv),
        });
        continue;
      }
      const missing = segments.flatMap((s) => s.stripes).find((s) => s.pv !== thisPv);
      if (missing !== undefined) {
        logicalVolumes.push({
          ...base,
          status: 'incomplete',
          reason: `has extents on ${missing.pv}, another disk of volume group ${vgName}; only this disk is read`,
        });
        continue;
      }
      const mapped = mapSegments(segments, extentBytes, peStartBytes);
      const sizeBytes = segments.reduce((n, s) => n + s.extentCount, 0) * extentBytes;
      const end = pvEnd(mapped);
      if (end > pv.size) {
        logicalVolumes.push({
          ...base,
          status: 'incomplete',
          reason: `its extents run past the end of the PV (byte ${end} of ${pv.size})`,
        });
        continue;
      }
      logicalVolumes.push({
        ...base,
        status: 'readable',
        sizeBytes,
        segments,
        reader: mappedReader(pv, mapped, sizeBytes),
      });
    } catch (error) {
      if (!(error instanceof FilesystemCorruptError || error instanceof FilesystemLimitError)) throw error;
      logicalVolumes.push({ ...base, status: 'unsupported', reason: `damaged metadata: ${error.message}` });
    }
  }
  return {
    pvUuid,
    vgName,
    vgId: typeof vg.values.get('id') === 'string' ? (vg.values.get('id') as string) : '',
    seqno: numberField(vg, 'seqno', where),
    extentBytes,
    pvName: thisPv,
    peStartBytes,
    otherPvs,
    logicalVolumes,
  };
}

function segmentSections(lv: MetadataSection): MetadataSection[] {
  return lv.order.filter((n) => /^segment\d+$/.test(n)).map((n) => lv.sections.get(n)!);
}

function unsupportedReason(type: string, lv: MetadataSection): string {
  const pool = segmentSections(lv)
    .map((s) => s.values.get('thin_pool'))
    .find((p): p is string => typeof p === 'string');
  if (type === 'thin-pool')
    return 'thin pool: its blocks are mapped by the pool metadata B-trees, which are not read';
  if (type === 'thin')
    return `thin volume${pool === undefined ? '' : ` in pool ${pool}`}: thin provisioning is not read`;
  if (type.startsWith('raid') || type === 'mirror') return `${type} LV: RAID and mirror layouts are not read`;
  if (type === 'cache' || type === 'cache-pool' || type === 'writecache')
    return `${type} LV: cached volumes are not read`;
  if (type === 'vdo' || type === 'vdo-pool')
    return `${type} LV: VDO (deduplicated, compressed) volumes are not read`;
  if (type === 'integrity') return 'integrity LV: dm-integrity layouts are not read';
  return `segment type "${type}" is not read`;
}

function parseSegments(
  lv: MetadataSection,
  where: string,
  pvExtents: ReadonlyMap<string, number>,
): LvSegment[] {
  const sections = segmentSections(lv);
  if (sections.length > MAX_SEGMENTS_PER_LV) {
    throw new FilesystemLimitError(`${where} has more than ${MAX_SEGMENTS_PER_LV} segments`);
  }
  const segments: LvSegment[] = [];
  for (const [i, seg] of sections.entries()) {
    const w = `${where} segment ${i + 1}`;
    const type = stringField(seg, 'type', w);
    const startExtent = numberField(seg, 'start_extent', w);
    const extentCount = numberField(seg, 'extent_count', w);
    if (type !== 'striped') {
      segments.push({ startExtent, extentCount, type, stripeCount: 0, stripeBytes: 0, stripes: [] });
      continue;
    }
    const stripeCount = numberField(seg, 'stripe_count', w);
    const list: readonly MetadataValue[] = Array.isArray(seg.values.get('stripes'))
      ? (seg.values.get('stripes') as readonly MetadataValue[])
      : [];
    if (
      stripeCount < 1 ||
      stripeCount > MAX_STRIPES ||
      list.length !== stripeCount * 2 ||
      extentCount % stripeCount !== 0
    ) {
      throw new FilesystemCorruptError(
        `LVM metadata: ${w} has ${stripeCount} stripes listed as ${list.length / 2}`,
      );
    }
    const stripeBytes = stripeCount > 1 ? numberField(seg, 'stripe_size', w) * SECTOR : 0;
    if (stripeCount > 1 && stripeBytes === 0)
      throw new FilesystemCorruptError(`LVM metadata: ${w} has stripe_size 0`);
    const stripes: { pv: string; extent: number }[] = [];
    for (let s = 0; s < stripeCount; s += 1) {
      const pvName = list[s * 2];
      const extent = list[s * 2 + 1];
      if (typeof pvName !== 'string' || typeof extent !== 'number' || !pvExtents.has(pvName)) {
        throw new FilesystemCorruptError(`LVM metadata: ${w} stripe ${s} names an unknown PV`);
      }
      if (extent + extentCount / stripeCount > pvExtents.get(pvName)!) {
        throw new FilesystemCorruptError(`LVM metadata: ${w} stripe ${s} runs past the end of ${pvName}`);
      }
      stripes.push({ pv: pvName, extent });
    }
    segments.push({ startExtent, extentCount, type, stripeCount, stripeBytes, stripes });
  }
  segments.sort((a, b) => a.startExtent - b.startExtent);
  let next = 0;
  for (const seg of segments) {
    if (seg.startExtent !== next || seg.extentCount === 0) {
      throw new FilesystemCorruptError(
        `LVM metadata: ${where} segments leave a gap or overlap at extent ${next}`,
      );
    }
    next += seg.extentCount;
  }
  return segments;
}

/**
 * The LV's segments placed on the PV. A linear segment is one contiguous area; a striped one
 * alternates between its stripes every stripe_size bytes (the device-mapper "striped" target that
 * LVM2 sets up: chunk c of the segment lives on stripe c mod N, at chunk floor(c / N) of that
 * stripe's area). Computed per read, so a large striped LV costs no memory per chunk.
 */
interface MappedSegment {
  readonly lvOffset: number;
  readonly length: number;
  readonly stripeBytes: number;
  /** PV byte offset of each stripe's area. */
  readonly areas: readonly number[];
}

function mapSegments(
  segments: readonly LvSegment[],
  extentBytes: number,
  peStartBytes: number,
): MappedSegment[] {
  return segments.map((seg) => ({
    lvOffset: seg.startExtent * extentBytes,
    length: seg.extentCount * extentBytes,
    stripeBytes: seg.stripeBytes,
    areas: seg.stripes.map((s) => peStartBytes + s.extent * extentBytes),
  }));
}

/** Where LV byte `rel` of a segment lives on the PV, and how many bytes follow contiguously. */
function locate(seg: MappedSegment, rel: number): { pvOffset: number; contiguous: number } {
  if (seg.areas.length === 1) return { pvOffset: seg.areas[0]! + rel, contiguous: seg.length - rel };
  const stripes = seg.areas.length;
  const chunk = Math.floor(rel / seg.stripeBytes);
  const within = rel - chunk * seg.stripeBytes;
  const stripe = chunk % stripes;
  const row = Math.floor(chunk / stripes);
  return {
    pvOffset: seg.areas[stripe]! + row * seg.stripeBytes + within,
    contiguous: Math.min(seg.stripeBytes - within, seg.length - rel),
  };
}

/** The last PV byte (exclusive) any segment reaches: each stripe area holds length / N bytes. */
function pvEnd(segments: readonly MappedSegment[]): number {
  let end = 0;
  for (const seg of segments) {
    for (const area of seg.areas) end = Math.max(end, area + seg.length / seg.areas.length);
  }
  return end;
}

/** A ByteRangeReader over the LV; a single linear segment is a plain slice (the page cache aligns on the disk). */
function mappedReader(pv: ByteRangeReader, segments: readonly MappedSegment[], size: number): SlicedReader {
  if (segments.length === 1 && segments[0]!.areas.length === 1)
    return sliceReader(pv, segments[0]!.areas[0]!, size);
  const pvInDisk = 'offsetInDisk' in pv ? (pv as SlicedReader).offsetInDisk : 0;
  return {
    size,
    offsetInDisk: pvInDisk + segments[0]!.areas[0]!,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (
        !Number.isSafeInteger(offset) ||
        !Number.isSafeInteger(length) ||
        offset < 0 ||
        length < 0 ||
        offset + length > size
      ) {
        throw new FilesystemCorruptError(
          `read of ${length} bytes at ${offset} lies outside the ${size}-byte LV`,
          {
            offset,
            length,
          },
        );
      }
      // Binary search for the segment holding `offset`, then copy contiguous runs.
      let lo = 0;
      let hi = segments.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (segments[mid]!.lvOffset <= offset) lo = mid;
        else hi = mid - 1;
      }
      const out = new Uint8Array(length);
      let done = 0;
      let i = lo;
      while (done < length) {
        const seg = segments[i]!;
        const rel = offset + done - seg.lvOffset;
        if (rel >= seg.length) {
          i += 1;
          continue;
        }
        const { pvOffset, contiguous } = locate(seg, rel);
        const n = Math.min(contiguous, length - done);
        if (n === length) return pv.read(pvOffset, n);
        out.set(await pv.read(pvOffset, n), done);
        done += n;
      }
      return out;
    },
  };
}

/**
 * The LVs of a PV in the shape the volume opener takes (lambdas/core/fs/volume.ts
 * `LogicalVolumeReader`): readable ones as `mapped` with their reader, the others `unsupported`
 * with the reason (an incomplete LV says so in its reason).
 */
export async function readLogicalVolumes(
  pv: ByteRangeReader,
): Promise<
  readonly (
    | { readonly name: string; readonly status: 'mapped'; readonly reader: SlicedReader }
    | { readonly name: string; readonly status: 'unsupported'; readonly reason: string }
  )[]
> {
  const { logicalVolumes } = await readLvmPhysicalVolume(pv);
  return logicalVolumes.map((lv) =>
    lv.status === 'readable'
      ? { name: lv.name, status: 'mapped' as const, reader: lv.reader }
      : {
          name: lv.name,
          status: 'unsupported' as const,
          reason: lv.status === 'incomplete' ? `incomplete: ${lv.reason}` : lv.reason,
        },
  );
}
