/**
 * The chunk quarantine: chunks the scrub found corrupt or missing at rest, kept until a backup has
 * written them again (docs/lifecycle.md "Scrub", "After a finding"). Backups use it twice:
 *
 * - Plan Backup reads the entries. A volume an entry names is read in full (fullReadReason
 *   QUARANTINED_CHUNK), unless its parent image was itself read in full after the entry was made
 *   (that parent then holds no quarantined chunk, or wrote it again): the volume is then dropped
 *   from the entry. Every range item carries the names of all entries.
 * - The range worker stores a named chunk that it reads from the snapshot with an unconditional
 *   write (never "already stored", never the parent's entry), reads it back and verifies it, and
 *   only then clears the entry.
 *
 * The scrub adds an entry for a chunk finding that has none (an existing entry keeps its volumes,
 * so a dropped volume is not forced again), and clears one whose chunk reads back whole or that no
 * live image references any more. A stale entry (a scrub that read the old bytes while a backup
 * repaired them) costs one more full read and goes away by itself.
 */
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
  /** Creates the entry of `entry.name` unless there is one: false when there was (it is left as it is). */
  add(entry: QuarantineEntry): Promise<boolean>;
  /** Takes `volumeId` out of the entry of `name` (idempotent; no entry is not an error). */
  dropVolume(name: string, volumeId: string): Promise<void>;
  /** Removes the entry of `name` (idempotent: no entry is not an error). */
  clear(name: string): Promise<void>;
}

/** The volume ids of `images` (`volumeId/imageId` references), sorted and unique. */
export function volumesOf(images: readonly string[]): string[] {
  return [...new Set(images.map((ref) => ref.slice(0, ref.indexOf('/'))))].sort();
}
