/**
 * The chunk quarantine: chunks the scrub found corrupt or missing at rest, kept until a backup has
 * written them again (docs/lifecycle.md "Scrub", "After a finding"). Backups read it twice:
 *
 * - Plan Backup reads a volume's entries: a volume with a quarantined chunk is read in full
 *   (fullReadReason QUARANTINED_CHUNK), and its range items name the quarantined chunks.
 * - The range worker stores a named chunk that it reads from the snapshot with an unconditional
 *   write (never "already stored", never the parent's entry), reads it back and verifies it, and
 *   only then clears the entry.
 *
 * The scrub writes an entry for every chunk finding and clears one whose chunk reads back whole or
 * that no live image references any more; so a stale entry (a scrub that read the old bytes while a
 * backup repaired them) costs one more full read and goes away by itself.
 */
import { HEX_HASH_PATTERN } from '../image/hashing.ts';

export interface QuarantineEntry {
  /** The chunk's name (64 hex digits): its object is `chunks/<name>`. */
  readonly name: string;
  /** Volumes whose live images referenced the chunk when the scrub found it (sorted, unique). */
  readonly volumeIds: readonly string[];
  /** The scrub's finding, as its run reported it. */
  readonly reason: string;
  /** The scrub run that found it. */
  readonly runId?: string;
  /** When it was (last) found, ISO-8601. */
  readonly foundAt: string;
}

export interface ChunkQuarantine {
  /** Every entry, in name order. */
  list(): Promise<QuarantineEntry[]>;
  /** The entries that name `volumeId`, in name order. */
  listForVolume(volumeId: string): Promise<QuarantineEntry[]>;
  /** Creates or replaces the entry of `entry.name`. */
  put(entry: QuarantineEntry): Promise<void>;
  /** Removes the entry of `name` (idempotent: no entry is not an error). */
  clear(name: string): Promise<void>;
}

/** True for a chunk name the quarantine can hold. */
export function isQuarantinableName(name: string): boolean {
  return HEX_HASH_PATTERN.test(name);
}

/** The volume ids of `images` (`volumeId/imageId` references), sorted and unique. */
export function volumesOf(images: readonly string[]): string[] {
  return [...new Set(images.map((ref) => ref.slice(0, ref.indexOf('/'))))].sort();
}
