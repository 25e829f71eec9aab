/**
 * The gateway's registry of replica volumes: which raw image file backs which EC2 volume id. It
 * lives in the state directory (replicas.json), not in a tag, because a real replica volume has no
 * image path; the tags carry only what a real replication agent would set (docs/replica-tags.md).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const REGISTRY_FILE_NAME = 'replicas.json';
const REGISTRY_FORMAT_VERSION = 1;

const ReplicaRecordSchema = z.object({
  volumeId: z.string(),
  imagePath: z.string(),
  volumeSizeGib: z.number().int().positive(),
  serverId: z.string(),
  device: z.string(),
  createdAt: z.string(),
  /** The volume's tags as last set, so the volume can be re-created in moto after a restart. */
  tags: z.record(z.string(), z.string()),
  /**
   * `replica` (default): a replica volume; `primary`: the source server's own disk
   * (`rbp local primary create`), attached to `instanceId`, the server's EC2 instance in moto;
   * `volume`: a volume EC2 CreateVolume made from `snapshotId` (its image holds the snapshot's
   * blocks), until it is registered as a replica.
   */
  role: z.enum(['replica', 'primary', 'volume']).optional(),
  instanceId: z.string().optional(),
  /** `volume`: the snapshot the volume was created from. */
  snapshotId: z.string().optional(),
});

export type ReplicaRecord = z.infer<typeof ReplicaRecordSchema>;

const RegistryFileSchema = z.object({
  version: z.literal(REGISTRY_FORMAT_VERSION),
  replicas: z.array(ReplicaRecordSchema),
});

export class ReplicaRegistry {
  private readonly records = new Map<string, ReplicaRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private saving: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(stateDir: string): Promise<ReplicaRegistry> {
    await mkdir(stateDir, { recursive: true });
    const registry = new ReplicaRegistry(join(stateDir, REGISTRY_FILE_NAME));
    let text: string | undefined;
    try {
      text = await readFile(registry.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      for (const record of RegistryFileSchema.parse(JSON.parse(text)).replicas) {
        registry.records.set(record.volumeId, record);
      }
    }
    return registry;
  }

  get(volumeId: string): ReplicaRecord | undefined {
    return this.records.get(volumeId);
  }

  list(): ReplicaRecord[] {
    return [...this.records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async put(record: ReplicaRecord): Promise<void> {
    this.records.set(record.volumeId, record);
    await this.save();
  }

  async remove(volumeId: string): Promise<boolean> {
    const removed = this.records.delete(volumeId);
    if (removed) await this.save();
    return removed;
  }

  /**
   * Runs `action` while holding the volume's lock: writes into the image and snapshot freezes of
   * one volume never interleave, so a snapshot is the image at one point in time.
   */
  async withVolumeLock<T>(volumeId: string, action: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(volumeId) ?? Promise.resolve();
    const run = previous.then(action, action);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(volumeId, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(volumeId) === settled) this.locks.delete(volumeId);
    }
  }

  private save(): Promise<void> {
    const write = async (): Promise<void> => {
      const temporary = `${this.path}.tmp`;
      const content = { version: REGISTRY_FORMAT_VERSION, replicas: this.list() };
      await writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`);
      await rename(temporary, this.path);
    };
    this.saving = this.saving.then(write, write);
    return this.saving;
  }
}
