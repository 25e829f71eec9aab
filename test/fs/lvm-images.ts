/**
 * LVM2 physical volumes made by LVM2's own tools for the LVM and RHEL-disk tests. device-mapper is
 * not available here, so lvcreate cannot run: pvcreate and vgcreate run on loop devices over the PV
 * partition, and vgcfgrestore writes the logical volumes from a metadata file. `lvs --segments`
 * (LVM2's reading of what it wrote) and `pvs -o pe_start` then say where each LV's bytes live, and
 * placeLv writes a filesystem image there.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../support/fs-images.ts';

const MIB = 1024 * 1024;

let lvCount = 0;

/** One logical volume in LVM2 metadata text, with its segments' bodies. */
export function lv(name: string, visible: boolean, segments: string[]): string {
  lvCount += 1;
  const body = segments.map((seg, i) => `segment${i + 1} {\n${seg}\n}`).join('\n');
  return `${name} {\nid = "${String(lvCount).padStart(6, '0')}-aaaa-bbbb-cccc-dddd-eeee-ffffff"\nstatus = ["READ", "WRITE"${visible ? ', "VISIBLE"' : ''}]\nflags = []\nsegment_count = ${segments.length}\n${body}\n}\n`;
}

/** A linear segment: `count` extents from logical extent `start`, at physical extent `pe` of `pvName`. */
export function linear(start: number, count: number, pvName: string, pe: number): string {
  return `start_extent = ${start}\nextent_count = ${count}\ntype = "striped"\nstripe_count = 1\nstripes = ["${pvName}", ${pe}]`;
}

export interface SegmentReport {
  lv_name: string;
  seg_start_pe: string;
  seg_pe_ranges: string;
  stripes: string;
  stripe_size: string;
}

export interface LvmLayout {
  /** Every segment of every LV, as `lvs --segments` reports them. */
  readonly segments: SegmentReport[];
  /** Where the first physical extent starts, bytes from the start of the PV. */
  readonly peStart: number;
}

export interface LvmDiskSpec {
  /** The disk image holding the PV partition (already partitioned). */
  readonly diskImage: string;
  /** The PV partition, bytes. */
  readonly pvOffset: number;
  readonly pvBytes: number;
  /** Other whole-disk images that join the volume group (pv1, pv2, ...). */
  readonly otherDisks?: readonly string[];
  readonly vgName: string;
  readonly extentMiB: number;
  /** The logical_volumes section's body: lv(...) texts joined. */
  readonly logicalVolumes: string;
  /** Scratch directory for the metadata backup file. */
  readonly work: string;
}

async function losetup(args: string[], loops: string[]): Promise<string> {
  const dev = (await run('losetup', ['-f', '--show', ...args])).trim();
  loops.push(dev);
  return dev;
}

/**
 * pvcreate + vgcreate on loop devices, then vgcfgrestore with the LVs added to the backup LVM2
 * itself wrote; returns where LVM2 placed every segment. The loop devices are detached before it
 * returns. LVM2's warnings about the missing device-mapper go to stderr, which run() ignores.
 */
export async function makeLvmVolumeGroup(spec: LvmDiskSpec): Promise<LvmLayout> {
  const loops: string[] = [];
  try {
    const pvDev = await losetup(
      ['-o', String(spec.pvOffset), '--sizelimit', String(spec.pvBytes), spec.diskImage],
      loops,
    );
    const others: string[] = [];
    for (const other of spec.otherDisks ?? []) others.push(await losetup([other], loops));
    await run('pvcreate', ['-q', '-y', pvDev, ...others]);
    await run('vgcreate', ['-q', '-s', `${spec.extentMiB}M`, spec.vgName, pvDev, ...others]);
    const backup = path.join(spec.work, `${spec.vgName}.vg`);
    await run('vgcfgbackup', ['-q', '-f', backup, spec.vgName]);
    const text = await readFile(backup, 'utf8');
    const end = text.lastIndexOf('}');
    await writeFile(
      backup,
      `${text.slice(0, end)}\nlogical_volumes {\n${spec.logicalVolumes}}\n${text.slice(end)}`,
    );
    // --force: vgcfgrestore refuses thin volumes without it (it cannot check the pool's kernel state).
    await run('vgcfgrestore', ['--force', '-f', backup, spec.vgName]).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await readFile(backup, 'utf8')}`);
    });
    const report = JSON.parse(
      await run('lvs', [
        '--segments',
        '--units',
        'b',
        '--reportformat',
        'json',
        '-o',
        'lv_name,seg_start_pe,seg_pe_ranges,stripes,stripe_size',
        spec.vgName,
      ]),
    ) as { report: { seg: SegmentReport[] }[] };
    const peStart = Number(
      (await run('pvs', ['--noheadings', '--units', 'b', '-o', 'pe_start', pvDev])).trim().replace('B', ''),
    );
    return { segments: report.report[0]!.seg, peStart };
  } finally {
    await run('vgchange', ['-an', spec.vgName]).catch(() => undefined);
    for (const dev of loops) await run('losetup', ['-d', dev]).catch(() => undefined);
  }
}

/** Writes `image` into the LV's areas on the PV partition at `pvOffset`, as `lvs --segments` places them. */
export async function placeLv(
  diskImage: string,
  pvOffset: number,
  extentMiB: number,
  segments: readonly SegmentReport[],
  peStart: number,
  image: string,
): Promise<void> {
  const bytes = await readFile(image);
  const extent = extentMiB * MIB;
  const out = await open(diskImage, 'r+');
  try {
    for (const seg of segments) {
      const areas = seg.seg_pe_ranges.split(' ').map((r) => Number(/:(\d+)-\d+$/.exec(r)![1]));
      const segStart = Number(seg.seg_start_pe) * extent;
      const stripes = Number(seg.stripes);
      const stripeBytes = Number(seg.stripe_size.replace('B', ''));
      const areaBytes =
        (/:(\d+)-(\d+)$/
          .exec(seg.seg_pe_ranges.split(' ')[0]!)!
          .slice(1)
          .map(Number)
          .reduce((a, b) => b - a) +
          1) *
        extent;
      const length = areaBytes * stripes;
      // dm-striped: chunk c of the segment is chunk floor(c / stripes) of area c mod stripes.
      const chunk = stripes === 1 ? length : stripeBytes;
      for (let c = 0; c * chunk < length; c += 1) {
        const area = areas[c % stripes]!;
        const row = Math.floor(c / stripes);
        const at = pvOffset + peStart + area * extent + row * chunk;
        await out.write(bytes, segStart + c * chunk, chunk, at);
      }
    }
  } finally {
    await out.close();
  }
}
