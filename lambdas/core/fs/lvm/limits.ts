/**
 * Safety limits of the LVM2 reader. The PV label and the metadata text are written by an untrusted
 * guest, so the text parser and the segment maps are bounded by these. Each value is far above
 * what LVM2 itself writes, and low enough that a Lambda with 1 GiB survives.
 */

/**
 * Largest metadata text read (one raw_locn). LVM2's default metadata area is 1 MiB and its text
 * for a VG of a few hundred LVs is tens of KiB; pvcreate --metadatasize rarely goes beyond 64 MiB.
 */
export const MAX_METADATA_TEXT_BYTES = 64 * 1024 ** 2;
/** Sections and assignments in one metadata text: about 30 per LV, so room for 30,000+ LVs. */
export const MAX_METADATA_ITEMS = 1_000_000;
/** Nesting of sections: LVM2 writes 4 levels (vg / logical_volumes / lv / segmentN). */
export const MAX_METADATA_DEPTH = 16;
/** A string value (ids, names, tags, descriptions); LVM2 names are at most 127 characters. */
export const MAX_METADATA_STRING_BYTES = 64 * 1024;
/** Segments of one LV: LVM2 has no fixed bound, but a real LV with more is fragmented beyond use. */
export const MAX_SEGMENTS_PER_LV = 100_000;
/** Stripes of one segment: LVM2's own maximum (MAX_STRIPES). */
export const MAX_STRIPES = 128;
/** Metadata areas on one PV: pvcreate --pvmetadatacopies allows 0, 1 or 2. */
export const MAX_METADATA_AREAS = 2;
/** Data-area and metadata-area descriptors scanned in the PV header (the sector holds at most ~28). */
export const MAX_DISK_LOCATIONS = 32;
