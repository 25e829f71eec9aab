/**
 * The emulator's persistent state, as plain files under one directory, so that snapshots survive a
 * restart of the emulator:
 *   blocks/<2 hex>/<64 hex>      512 KiB block contents, content-addressed by SHA-256 (shared by
 *                                every snapshot that holds the same data: sparse and repeated
 *                                snapshots of big images stay cheap)
 *   snapshots/<id>.json          snapshot metadata
 *   snapshots/<id>.blocks        block map (37-byte records, see ebs-block-map.ts)
 *   volumes/<id>.json            per-volume allocation state between freezes
 *   token-key                    HMAC key of block and page tokens (tokens survive restarts)
 * Every rewrite goes to a temporary file that is renamed over the old one.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeRecords, encodeRecords, type BlockRecord } from './ebs-block-map.ts';

const TOKEN_KEY_BYTES = 32;

export type SnapshotOrigin = 'freeze' | 'api';

export interface StoredTag {
  readonly Key: string;
  readonly Value: string;
}

/** What is persisted of a snapshot; its status is derived from these fields and the clock. */
export interface SnapshotMeta {
  readonly snapshotId: string;
  /** Snapshots can be compared with ListChangedBlocks only within one lineage. */
  readonly lineageId: string;
  readonly origin: SnapshotOrigin;
  readonly volumeId?: string;
  readonly parentSnapshotId?: string;
  readonly volumeSizeGib: number;
  readonly startTimeMs: number;
  /** When the snapshot turns `completed` (freeze: set at once; StartSnapshot: set by CompleteSnapshot). */
  completeAtMs?: number;
  /** StartSnapshot only: cancelled (status `error`) when not completed this long after the last write. */
  readonly timeoutMinutes?: number;
  lastWriteMs?: number;
  readonly clientToken?: string;
  /** StartSnapshot parameters apart from the ClientToken, to tell a retry from a conflicting reuse. */
  readonly requestFingerprint?: string;
  readonly description?: string;
  readonly tags?: readonly StoredTag[];
  readonly encrypted?: boolean;
  readonly kmsKeyArn?: string;
}

export interface VolumeState {
  readonly volumeId: string;
  /** Blocks allocated in the volume's last frozen snapshot, ascending. */
  allocated: number[];
  /** Blocks written (even with zeros) or discarded since the last freeze; the last call wins. */
  pendingWrites: number[];
  pendingDiscards: number[];
}

async function writeFileAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

function isMissingFile(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT';
}

export class EbsStateStore {
  /** Block folders known to exist (saves a mkdir per stored block). */
  private readonly blockFolders = new Set<string>();

  private constructor(
    private readonly stateDir: string,
    readonly tokenKey: Buffer,
  ) {}

  static async open(stateDir: string): Promise<EbsStateStore> {
    for (const folder of ['blocks', 'snapshots', 'volumes'])
      await mkdir(join(stateDir, folder), { recursive: true });
    const keyPath = join(stateDir, 'token-key');
    let tokenKey: Buffer;
    try {
      tokenKey = await readFile(keyPath);
    } catch (error) {
      if (!isMissingFile(error)) throw error;
      tokenKey = randomBytes(TOKEN_KEY_BYTES);
      await writeFileAtomically(keyPath, tokenKey);
    }
    return new EbsStateStore(stateDir, tokenKey);
  }

  // ---- content-addressed blocks ----

  private blockPath(digest: Buffer): string {
    const hex = digest.toString('hex');
    return join(this.stateDir, 'blocks', hex.slice(0, 2), hex);
  }

  /** Stores a block's content under its digest unless that content is already there. */
  async putBlock(digest: Buffer, data: Uint8Array): Promise<void> {
    const path = this.blockPath(digest);
    try {
      await stat(path);
      return;
    } catch (error) {
      if (!isMissingFile(error)) throw error;
    }
    const folder = join(path, '..');
    if (!this.blockFolders.has(folder)) {
      await mkdir(folder, { recursive: true });
      this.blockFolders.add(folder);
    }
    await writeFileAtomically(path, data);
  }

  readBlock(digest: Buffer): Promise<Buffer> {
    return readFile(this.blockPath(digest));
  }

  async deleteBlock(digest: Buffer): Promise<void> {
    await rm(this.blockPath(digest), { force: true });
  }

  // ---- snapshots ----

  private snapshotPath(snapshotId: string, extension: 'json' | 'blocks'): string {
    return join(this.stateDir, 'snapshots', `${snapshotId}.${extension}`);
  }

  writeSnapshotMeta(meta: SnapshotMeta): Promise<void> {
    return writeFileAtomically(this.snapshotPath(meta.snapshotId, 'json'), JSON.stringify(meta));
  }

  async readAllSnapshotMetas(): Promise<SnapshotMeta[]> {
    const names = await readdir(join(this.stateDir, 'snapshots'));
    const metas: SnapshotMeta[] = [];
    for (const name of names.filter((entry) => entry.endsWith('.json'))) {
      metas.push(JSON.parse(await readFile(join(this.stateDir, 'snapshots', name), 'utf8')) as SnapshotMeta);
    }
    return metas;
  }

  writeBlockRecords(snapshotId: string, records: Iterable<BlockRecord>): Promise<void> {
    return writeFileAtomically(this.snapshotPath(snapshotId, 'blocks'), encodeRecords(records));
  }

  appendBlockRecords(snapshotId: string, records: Iterable<BlockRecord>): Promise<void> {
    return appendFile(this.snapshotPath(snapshotId, 'blocks'), encodeRecords(records));
  }

  async readBlockRecords(snapshotId: string): Promise<BlockRecord[]> {
    try {
      return decodeRecords(await readFile(this.snapshotPath(snapshotId, 'blocks')));
    } catch (error) {
      if (isMissingFile(error)) return [];
      throw error;
    }
  }

  async deleteSnapshotFiles(snapshotId: string): Promise<void> {
    await rm(this.snapshotPath(snapshotId, 'blocks'), { force: true });
    await rm(this.snapshotPath(snapshotId, 'json'), { force: true });
  }

  // ---- volumes ----

  writeVolumeState(state: VolumeState): Promise<void> {
    return writeFileAtomically(
      join(this.stateDir, 'volumes', `${state.volumeId}.json`),
      JSON.stringify(state),
    );
  }

  async readAllVolumeStates(): Promise<VolumeState[]> {
    const names = await readdir(join(this.stateDir, 'volumes'));
    const states: VolumeState[] = [];
    for (const name of names.filter((entry) => entry.endsWith('.json'))) {
      states.push(JSON.parse(await readFile(join(this.stateDir, 'volumes', name), 'utf8')) as VolumeState);
    }
    return states;
  }
}
