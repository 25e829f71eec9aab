/**
 * Keeps EC2's view of snapshots (moto) and the EBS emulator's in step:
 *
 * - EC2 CreateSnapshot of a registered replica volume: after moto creates the snapshot, the
 *   volume's image is frozen in the emulator under the same id (under the volume's lock, so the
 *   snapshot is the image at this moment), and the snapshot goes `pending` and then `completed`
 *   after the configured delay (moto alone says `completed` at once).
 * - Snapshots started through the EBS direct API (StartSnapshot) are registered in moto under the
 *   emulator's id, so EC2 DescribeSnapshots (and waiters, filters, CreateVolume) see them.
 * - Before every DescribeSnapshots, the status and progress of pending snapshots are pushed from
 *   the emulator into moto; moto then answers with its normal XML, filters included.
 * - EC2 CreateSnapshots of the instance that holds registered primary volumes (`rbp local primary
 *   create`): moto snapshots every volume attached to it, and all their images are frozen while
 *   the locks of all of them are held: one point in time across the instance's volumes, as
 *   CreateSnapshots promises (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSnapshots.html).
 * - EC2 DeleteSnapshot also deletes the emulator's snapshot.
 */
import type { EbsEmulator, EbsSnapshotStatus } from '../ebs/ebs-emulator.ts';
import type { MotoAdmin } from '../moto/moto-admin.ts';
import type { ReplicaVolumes } from '../replica/replica-volumes.ts';

export interface BufferedAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

interface TrackedSnapshot {
  status: EbsSnapshotStatus;
  progress: string;
  readonly startedAtMs: number;
  /** The completion delay of a frozen replica snapshot; progress grows over it. */
  readonly completionDelayMs?: number;
}

export interface Ec2SnapshotBridgeDependencies {
  readonly emulator: EbsEmulator;
  readonly replicas: ReplicaVolumes;
  readonly moto: MotoAdmin;
  /** Time from CreateSnapshot of a replica until its snapshot is `completed`. */
  readonly completionDelayMs: number;
  readonly now?: () => number;
}

/** The highest progress a snapshot shows while still pending. */
const MAX_PENDING_PROGRESS_PERCENT = 99;

const SNAPSHOT_ID_PATTERN = /<snapshotId>(snap-[0-9a-f]+)<\/snapshotId>/;

export class Ec2SnapshotBridge {
  private readonly tracked = new Map<string, TrackedSnapshot>();
  private readonly now: () => number;

  constructor(private readonly deps: Ec2SnapshotBridgeDependencies) {
    this.now = deps.now ?? Date.now;
  }

  /** Number of snapshots whose status is still being followed (pending ones). */
  get pendingCount(): number {
    let count = 0;
    for (const entry of this.tracked.values()) if (entry.status === 'pending') count += 1;
    return count;
  }

  /**
   * Runs moto's CreateSnapshot (`forward`) and, for a replica volume, freezes its image. The
   * volume's lock is held across both, so no simulated write lands between them.
   */
  async createSnapshot(
    params: URLSearchParams,
    forward: () => Promise<BufferedAnswer>,
  ): Promise<BufferedAnswer> {
    const volumeId = params.get('VolumeId') ?? '';
    const replica = this.deps.replicas.get(volumeId);
    if (!replica) return forward();
    return this.deps.replicas.withVolumeLock(volumeId, async () => {
      const answer = await forward();
      const snapshotId =
        answer.status === 200 ? SNAPSHOT_ID_PATTERN.exec(answer.body.toString('utf8'))?.[1] : undefined;
      if (!snapshotId) return answer;
      const frozen = await this.freezeAndTrack(snapshotId, volumeId, replica);
      if ('failed' in frozen) return frozen.failed;
      return { ...answer, body: Buffer.from(rewriteStatus(answer.body.toString('utf8'), frozen.entry)) };
    });
  }

  /**
   * Freezes the volume's image file as the snapshot's blocks and tracks the snapshot as pending
   * (moto told the same); when the emulator cannot, moto's snapshot is put in error and the answer
   * is a 500.
   */
  private async freezeAndTrack(
    snapshotId: string,
    volumeId: string,
    replica: { readonly imagePath: string; readonly volumeSizeGib: number },
  ): Promise<{ entry: TrackedSnapshot } | { failed: BufferedAnswer }> {
    try {
      await this.deps.emulator.freezeVolumeImage({
        snapshotId,
        volumeId,
        imagePath: replica.imagePath,
        volumeSizeGib: replica.volumeSizeGib,
        completeAfterMs: this.deps.completionDelayMs,
      });
    } catch (error) {
      await this.deps.moto.putSnapshot({ snapshotId, status: 'error', progress: '0%' });
      return {
        failed: ec2Error(
          500,
          'InternalError',
          `the local EBS emulator could not freeze ${volumeId}: ${String(error)}`,
        ),
      };
    }
    const entry: TrackedSnapshot = {
      status: 'pending',
      progress: '0%',
      startedAtMs: this.now(),
      completionDelayMs: this.deps.completionDelayMs,
    };
    this.tracked.set(snapshotId, entry);
    await this.deps.moto.putSnapshot({ snapshotId, status: entry.status, progress: entry.progress });
    return { entry };
  }

  /**
   * Runs moto's CreateSnapshots (`forward`) and freezes the image of every registered volume it
   * snapshotted, holding all their locks across both: a crash-consistent set.
   */
  async createSnapshots(
    params: URLSearchParams,
    forward: () => Promise<BufferedAnswer>,
  ): Promise<BufferedAnswer> {
    const instanceId = params.get('InstanceSpecification.InstanceId') ?? '';
    const volumeIds = this.deps.replicas
      .primaries()
      .filter((record) => record.instanceId === instanceId)
      .map((record) => record.volumeId)
      .sort();
    if (volumeIds.length === 0) return forward();
    return this.withLocks(volumeIds, async () => {
      const answer = await forward();
      if (answer.status !== 200) return answer;
      let xml = answer.body.toString('utf8');
      for (const item of topLevelItems(xml)) {
        const snapshotId = /<snapshotId>(snap-[0-9a-f]+)<\/snapshotId>/.exec(item)?.[1];
        const volumeId = /<volumeId>(vol-[0-9a-f]+)<\/volumeId>/.exec(item)?.[1];
        const record = volumeId === undefined ? undefined : this.deps.replicas.get(volumeId);
        if (snapshotId === undefined || volumeId === undefined || record === undefined) continue;
        const frozen = await this.freezeAndTrack(snapshotId, volumeId, record);
        if ('failed' in frozen) return frozen.failed;
        xml = xml.replace(item, withSnapshotState(item, frozen.entry));
      }
      return { ...answer, body: Buffer.from(xml) };
    });
  }

  /** Runs `action` holding the locks of all `volumeIds` (taken in this order: callers sort them). */
  private withLocks<T>(volumeIds: readonly string[], action: () => Promise<T>): Promise<T> {
    const [first, ...rest] = volumeIds;
    if (first === undefined) return action();
    return this.deps.replicas.withVolumeLock(first, () => this.withLocks(rest, action));
  }

  /** Brings moto's status/progress of every pending snapshot up to date. */
  async beforeDescribeSnapshots(): Promise<void> {
    const pending = [...this.tracked].filter(([, entry]) => entry.status === 'pending');
    await Promise.all(pending.map(([snapshotId, entry]) => this.sync(snapshotId, entry)));
  }

  /** After moto deleted a snapshot: delete the emulator's copy too. */
  async afterDeleteSnapshot(params: URLSearchParams, answer: BufferedAnswer): Promise<void> {
    const snapshotId = params.get('SnapshotId');
    if (answer.status !== 200 || !snapshotId) return;
    this.tracked.delete(snapshotId);
    await this.deps.emulator.deleteSnapshot(snapshotId);
  }

  /** After the emulator answered an EBS StartSnapshot: register snapshots moto does not know yet. */
  async afterEbsStartSnapshot(requestBody: Buffer): Promise<void> {
    let request: { Tags?: { Key?: string; Value?: string }[]; Description?: string } = {};
    try {
      request = JSON.parse(requestBody.toString('utf8')) as typeof request;
    } catch {
      // the emulator has already rejected it
    }
    const tags: Record<string, string> = {};
    for (const tag of request.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
    for (const summary of this.deps.emulator.listSnapshots()) {
      if (summary.volumeId !== undefined || this.tracked.has(summary.snapshotId)) continue;
      const entry: TrackedSnapshot = {
        status: toStatus(summary.status),
        progress: summary.status === 'completed' ? '100%' : '0%',
        startedAtMs: summary.startTime.getTime(),
      };
      this.tracked.set(summary.snapshotId, entry);
      await this.deps.moto.putSnapshot({
        snapshotId: summary.snapshotId,
        volumeSizeGib: summary.volumeSizeGib,
        description: request.Description ?? '',
        tags,
        status: entry.status,
        progress: entry.progress,
      });
    }
  }

  /** After an EBS CompleteSnapshot: push the snapshot's new status. */
  async afterEbsCompleteSnapshot(snapshotId: string): Promise<void> {
    const entry = this.tracked.get(snapshotId);
    if (entry) await this.sync(snapshotId, entry);
  }

  /**
   * Registers in moto every snapshot the emulator holds (after a restart: moto keeps nothing).
   * Replica volumes must have been re-created in moto first so snapshots keep their volume id.
   */
  async registerExisting(): Promise<void> {
    for (const summary of this.deps.emulator.listSnapshots()) {
      const status = toStatus(summary.status);
      const entry: TrackedSnapshot = {
        status,
        progress: status === 'completed' ? '100%' : '0%',
        startedAtMs: summary.startTime.getTime(),
      };
      this.tracked.set(summary.snapshotId, entry);
      await this.deps.moto.putSnapshot({
        snapshotId: summary.snapshotId,
        ...(summary.volumeId === undefined ? {} : { volumeId: summary.volumeId }),
        volumeSizeGib: summary.volumeSizeGib,
        status,
        progress: entry.progress,
      });
    }
  }

  private async sync(snapshotId: string, entry: TrackedSnapshot): Promise<void> {
    const current = this.deps.emulator.snapshotStatus(snapshotId);
    if (current === undefined) {
      this.tracked.delete(snapshotId);
      return;
    }
    const progress = this.progressOf(current, entry);
    if (current === entry.status && progress === entry.progress) return;
    entry.status = current;
    entry.progress = progress;
    await this.deps.moto.putSnapshot({ snapshotId, status: current, progress });
  }

  private progressOf(status: EbsSnapshotStatus, entry: TrackedSnapshot): string {
    if (status === 'completed') return '100%';
    if (status === 'error' || !entry.completionDelayMs) return '0%';
    const elapsed = this.now() - entry.startedAtMs;
    const percent = Math.min(
      MAX_PENDING_PROGRESS_PERCENT,
      Math.floor((elapsed * 100) / entry.completionDelayMs),
    );
    return `${Math.max(0, percent)}%`;
  }
}

function toStatus(status: string): EbsSnapshotStatus {
  return status === 'completed' || status === 'error' ? status : 'pending';
}

/** moto's CreateSnapshot answer says completed/100%; make it say what the snapshot really is. */
function rewriteStatus(xml: string, entry: TrackedSnapshot): string {
  return xml
    .replace(/<status>[a-z]+<\/status>/, `<status>${entry.status}</status>`)
    .replace(/<progress>[^<]*<\/progress>/, `<progress>${entry.progress}</progress>`);
}

/**
 * The `<item>` elements directly inside `<snapshotSet>` of a CreateSnapshots answer (each holds a
 * `<tagSet>` of nested items when the snapshots were tagged on creation).
 */
function topLevelItems(xml: string): string[] {
  const items: string[] = [];
  const tag = /<(\/?)item>/g;
  let depth = 0;
  let start = -1;
  for (let match = tag.exec(xml); match !== null; match = tag.exec(xml)) {
    if (match[1] === '') {
      if (depth === 0) start = match.index;
      depth += 1;
    } else {
      depth -= 1;
      if (depth === 0 && start >= 0) items.push(xml.slice(start, match.index + match[0].length));
    }
  }
  return items;
}

/** A CreateSnapshots item with the snapshot's real state and progress (moto's lacks the state). */
function withSnapshotState(item: string, entry: TrackedSnapshot): string {
  let out = item.replace(/<progress>[^<]*<\/progress>/, '').replace(/<state>[a-z]*<\/state>/, '');
  out = out.replace(
    /<\/item>$/,
    `<state>${entry.status}</state><progress>${entry.progress}</progress></item>`,
  );
  return out;
}

export function ec2Error(status: number, code: string, message: string): BufferedAnswer {
  const escaped = message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return {
    status,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body: Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${escaped}</Message></Error></Errors><RequestID>local</RequestID></Response>`,
    ),
  };
}
