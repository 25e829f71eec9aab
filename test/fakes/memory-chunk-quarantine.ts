/** The chunk quarantine in memory: the same semantics as DynamoDbChunkQuarantine. */
import type { ChunkQuarantine, QuarantineEntry } from '../../lambdas/core/lifecycle/chunk-quarantine.ts';

export class MemoryChunkQuarantine implements ChunkQuarantine {
  readonly entries = new Map<string, QuarantineEntry>();

  list(): Promise<QuarantineEntry[]> {
    return Promise.resolve(
      [...this.entries.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((entry) => ({ ...entry, volumeIds: [...entry.volumeIds] })),
    );
  }

  add(entry: QuarantineEntry): Promise<boolean> {
    if (this.entries.has(entry.name)) return Promise.resolve(false);
    this.entries.set(entry.name, { ...entry, volumeIds: [...new Set(entry.volumeIds)].sort() });
    return Promise.resolve(true);
  }

  dropVolume(name: string, volumeId: string): Promise<void> {
    const entry = this.entries.get(name);
    if (entry !== undefined)
      this.entries.set(name, { ...entry, volumeIds: entry.volumeIds.filter((v) => v !== volumeId) });
    return Promise.resolve();
  }

  clear(name: string): Promise<void> {
    this.entries.delete(name);
    return Promise.resolve();
  }
}
