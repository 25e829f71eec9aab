/**
 * A stand-in for the replication agent on the local stack: it writes into a replica's image (the
 * EBS emulator learns which blocks were written), discards ranges (TRIM), and reports the
 * replica's checkpoint and sync state through the volume's tags, as docs/replica-tags.md says a
 * real agent does.
 *
 * Like a real agent it answers the backup's checkpoint requests by itself
 * (docs/replication-agent.md): the gateway hands it every EventBridge PutEvents entry after moto
 * accepted it (onEvents); a `Checkpoint Requested` from `rbp.backup` makes it report the checkpoint
 * on every named replica volume (IN_SYNC, backlog 0), after `answerDelayMs` if set, and it holds
 * the checkpoint until `Checkpoint Released`. `configureAgent({ autoCheckpoint: false })` makes it
 * a dead agent that never answers (the backup's timeout path). It answers plan runs' quiesce and
 * release requests too (onPlanEvent); `setQuiesceAnswers(false)` silences that.
 */
import { open } from 'node:fs/promises';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import {
  LAG_SECONDS_TAG,
  REPLICATION_STATE_TAG,
  type ReplicationState,
} from '../../lambdas/core/plans/servers.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import {
  CHECKPOINT_RELEASED,
  CHECKPOINT_REQUESTED,
  EVENT_SOURCE,
} from '../../lambdas/core/orchestration/checkpoint.ts';
import {
  PLAN_EVENT_SOURCE,
  QUIESCE_CONFIRMED_TAG,
  QUIESCE_REQUESTED,
  QUIESCED_TAG,
  RELEASE_CONFIRMED_TAG,
  RELEASE_REQUESTED,
} from '../../lambdas/aws/plan-run-adapters.ts';
import type { EbsEmulator } from '../ebs/ebs-emulator.ts';
import type { ReplicaRecord } from './replica-registry.ts';
import { REPLICA_TAG, type SyncState } from './replica-tags.ts';
import type { ReplicaVolumes } from './replica-volumes.ts';

/** Zeros are written in pieces of this size when a discard covers a large range. */
const ZERO_WRITE_BYTES = 8 * 1024 * 1024;

export interface CheckpointReport {
  readonly checkpointId: string;
  /** When the checkpoint was taken on the source; default now. */
  readonly checkpointTime?: Date;
  /** Default IN_SYNC. */
  readonly syncState?: SyncState;
  /** Default 0. */
  readonly backlogBytes?: number;
}

export interface SyncReport {
  readonly syncState: SyncState;
  readonly backlogBytes: number;
}

/** What the agent reports about a server's replication (`rbp local server state`). */
export interface ReplicationReport {
  readonly replication: ReplicationState;
  /** Seconds behind the source; default 0 when in sync, unknown (tag removed) otherwise. */
  readonly lagSeconds?: number;
}

/** How the simulated agent answers checkpoint requests. */
export interface AgentSettings {
  /** Answer `Checkpoint Requested` events by reporting the checkpoint (default true). */
  readonly autoCheckpoint: boolean;
  /** Time between the request and the report, as quiescing and draining take (default 0). */
  readonly answerDelayMs: number;
}

/** An EventBridge PutEvents entry as the API carries it (Detail is a JSON string). */
export interface EventEntry {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
}

/** What the agent did with a checkpoint event (newest last; for tests and the admin API). */
export interface AgentAction {
  readonly event: typeof CHECKPOINT_REQUESTED | typeof CHECKPOINT_RELEASED;
  readonly checkpointId: string;
  readonly volumeIds: readonly string[];
  /** reported: tags set; duplicate: already reported or released; ignored: agent off; released: hold ended. */
  readonly action: 'reported' | 'duplicate' | 'ignored' | 'released';
}

/** Actions kept for inspection; older ones are dropped. */
const MAX_AGENT_ACTIONS = 200;

export class ReplicaSimulator {
  private settings: AgentSettings = { autoCheckpoint: true, answerDelayMs: 0 };
  /** Answer plan runs' quiesce and release requests (setQuiesceAnswers). */
  private answersQuiesce = true;
  /** Checkpoints reported and not yet released. */
  private readonly held = new Set<string>();
  /** Checkpoints ever answered (reported or released): a repeated request is a no-op. */
  private readonly answered = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly actionLog: AgentAction[] = [];

  constructor(
    private readonly replicas: ReplicaVolumes,
    private readonly emulator: EbsEmulator,
  ) {}

  agentSettings(): AgentSettings {
    return this.settings;
  }

  configureAgent(settings: Partial<AgentSettings>): AgentSettings {
    const next = { ...this.settings, ...settings };
    if (!Number.isSafeInteger(next.answerDelayMs) || next.answerDelayMs < 0) {
      throw new ValidationError('answerDelayMs must be a non-negative integer', {
        context: { answerDelayMs: next.answerDelayMs },
      });
    }
    this.settings = next;
    return next;
  }

  /**
   * Turns answering plan runs' `Quiesce Requested` / `Release Requested` on or off (default on;
   * off, the agent stays silent: the task's give-up path).
   */
  setQuiesceAnswers(enabled: boolean): void {
    this.answersQuiesce = enabled;
  }

  /** Turns answering checkpoint requests on or off (off: the backup times out waiting). */
  setAutoCheckpoint(enabled: boolean): void {
    this.configureAgent({ autoCheckpoint: enabled });
  }

  /** Checkpoint ids reported and not yet released, in report order. */
  heldCheckpoints(): string[] {
    return [...this.held];
  }

  actions(): readonly AgentAction[] {
    return [...this.actionLog];
  }

  /**
   * Reacts to the entries of a PutEvents call moto accepted. With a delay the report happens
   * later (stop() cancels what is pending); without one it is done when this resolves.
   */
  async onEvents(entries: readonly EventEntry[]): Promise<void> {
    for (const entry of entries) {
      if (entry.Source === PLAN_EVENT_SOURCE) {
        await this.onPlanEvent(entry);
        continue;
      }
      if (entry.Source !== EVENT_SOURCE) continue;
      if (entry.DetailType !== CHECKPOINT_REQUESTED && entry.DetailType !== CHECKPOINT_RELEASED) continue;
      const detail = parseDetail(entry.Detail);
      if (detail === undefined) continue;
      if (entry.DetailType === CHECKPOINT_RELEASED) {
        this.held.delete(detail.checkpointId);
        this.answered.add(detail.checkpointId);
        this.log({ event: CHECKPOINT_RELEASED, ...detail, action: 'released' });
        continue;
      }
      if (!this.settings.autoCheckpoint) {
        this.log({ event: CHECKPOINT_REQUESTED, ...detail, action: 'ignored' });
        continue;
      }
      if (this.answered.has(detail.checkpointId)) {
        this.log({ event: CHECKPOINT_REQUESTED, ...detail, action: 'duplicate' });
        continue;
      }
      this.answered.add(detail.checkpointId);
      const delay = this.settings.answerDelayMs;
      if (delay === 0) {
        await this.answer(detail);
        continue;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.answer(detail).catch((error: unknown) => {
          console.error(`[replica agent] reporting checkpoint ${detail.checkpointId} failed`, error);
        });
      }, delay);
      this.timers.add(timer);
    }
  }

  /**
   * A plan run's quiesce contract (docs/plans.md, Deployment): the agent quiesces (or releases)
   * the application — `*` for the whole server — and confirms on every replica volume of the
   * server it simulates: `rbp:quiesced` lists what is quiesced now, `rbp:quiesce-confirmed` /
   * `rbp:release-confirmed` the id of the request it completed. The request's `volumeIds` name
   * the volumes.
   */
  private async onPlanEvent(entry: EventEntry): Promise<void> {
    if (entry.DetailType !== QUIESCE_REQUESTED && entry.DetailType !== RELEASE_REQUESTED) return;
    if (!this.answersQuiesce) return;
    let detail: { requestId?: unknown; application?: unknown; volumeIds?: unknown };
    try {
      detail = JSON.parse(entry.Detail ?? '{}') as typeof detail;
    } catch {
      return;
    }
    if (typeof detail.requestId !== 'string' || !Array.isArray(detail.volumeIds)) return;
    const name = typeof detail.application === 'string' ? detail.application : '*';
    const quiesce = entry.DetailType === QUIESCE_REQUESTED;
    for (const volumeId of detail.volumeIds) {
      if (typeof volumeId !== 'string') continue;
      const replica = this.replicas.get(volumeId);
      if (replica === undefined) continue;
      const quiesced = new Set((replica.tags[QUIESCED_TAG] ?? '').split(',').filter((n) => n !== ''));
      if (quiesce) quiesced.add(name);
      else quiesced.delete(name);
      await this.replicas.setTags(volumeId, {
        [QUIESCED_TAG]: [...quiesced].join(','),
        [quiesce ? QUIESCE_CONFIRMED_TAG : RELEASE_CONFIRMED_TAG]: detail.requestId,
      });
    }
  }

  /** Cancels answers still waiting for their delay. */
  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async answer(detail: { checkpointId: string; volumeIds: readonly string[] }): Promise<void> {
    const checkpointTime = new Date();
    // Only the replicas this stack simulates; a volume it does not know has no agent here.
    const known = detail.volumeIds.filter((volumeId) => this.replicas.get(volumeId) !== undefined);
    for (const volumeId of known) {
      await this.reportCheckpoint(volumeId, { checkpointId: detail.checkpointId, checkpointTime });
    }
    this.held.add(detail.checkpointId);
    this.log({
      event: CHECKPOINT_REQUESTED,
      checkpointId: detail.checkpointId,
      volumeIds: known,
      action: 'reported',
    });
  }

  private log(action: AgentAction): void {
    this.actionLog.push({
      event: action.event,
      checkpointId: action.checkpointId,
      volumeIds: [...action.volumeIds],
      action: action.action,
    });
    if (this.actionLog.length > MAX_AGENT_ACTIONS) this.actionLog.shift();
  }

  /** Writes `data` at byte `offset` of the replica, as replication of a source write would. */
  async write(volumeId: string, offset: number, data: Uint8Array): Promise<void> {
    const record = this.replicas.require(volumeId);
    checkRange(record, offset, data.length);
    if (data.length === 0) return;
    await this.replicas.withVolumeLock(volumeId, async () => {
      const handle = await open(record.imagePath, 'r+');
      try {
        await handle.write(data, 0, data.length, offset);
      } finally {
        await handle.close();
      }
      await this.emulator.markBlocksWritten(volumeId, blockRange(offset, data.length));
    });
  }

  /**
   * Discards (TRIMs) a byte range: it reads back as zeros; whole 512 KiB blocks inside it are no
   * longer written blocks; partly covered blocks stay written (with zeros in the range).
   */
  async discard(volumeId: string, offset: number, length: number): Promise<void> {
    const record = this.replicas.require(volumeId);
    checkRange(record, offset, length);
    if (length === 0) return;
    await this.replicas.withVolumeLock(volumeId, async () => {
      const handle = await open(record.imagePath, 'r+');
      try {
        const fileSize = (await handle.stat()).size;
        const end = Math.min(offset + length, fileSize);
        const zeros = Buffer.alloc(Math.min(ZERO_WRITE_BYTES, Math.max(0, end - offset)));
        for (let position = offset; position < end; position += zeros.length) {
          await handle.write(zeros, 0, Math.min(zeros.length, end - position), position);
        }
      } finally {
        await handle.close();
      }
      const firstWhole = Math.ceil(offset / EBS_BLOCK_SIZE_BYTES);
      const endWhole = Math.floor((offset + length) / EBS_BLOCK_SIZE_BYTES);
      const whole: number[] = [];
      for (let index = firstWhole; index < endWhole; index += 1) whole.push(index);
      const partial = blockRange(offset, length).filter((index) => index < firstWhole || index >= endWhole);
      if (whole.length > 0) await this.emulator.discardBlocks(volumeId, whole);
      if (partial.length > 0) await this.emulator.markBlocksWritten(volumeId, partial);
    });
  }

  /** Reports that the replica now holds checkpoint `checkpointId` (and its sync state). */
  async reportCheckpoint(volumeId: string, report: CheckpointReport): Promise<ReplicaRecord> {
    const syncState = report.syncState ?? 'IN_SYNC';
    const backlogBytes = report.backlogBytes ?? 0;
    checkSync(syncState, backlogBytes);
    return this.replicas.setTags(volumeId, {
      [REPLICA_TAG.checkpointId]: report.checkpointId,
      [REPLICA_TAG.checkpointTime]: (report.checkpointTime ?? new Date()).toISOString(),
      [REPLICA_TAG.syncState]: syncState,
      [REPLICA_TAG.backlogBytes]: String(backlogBytes),
    });
  }

  /** Reports the replica's sync state without a new checkpoint. */
  /**
   * Reports a server's replication state on every one of its replica volumes (tags
   * `rbp:replication-state` and `rbp:lag-seconds`, docs/replica-tags.md). The checkpoint and sync
   * tags are left alone: they belong to the checkpoint protocol.
   */
  async reportReplication(serverId: string, report: ReplicationReport): Promise<ReplicaRecord[]> {
    const volumes = this.replicas.list().filter((record) => record.serverId === serverId);
    if (volumes.length === 0) {
      throw new NotFoundError(`server ${serverId} has no replica volume`, { context: { serverId } });
    }
    const lag = report.lagSeconds ?? (report.replication === 'in-sync' ? 0 : undefined);
    if (lag !== undefined && (!Number.isSafeInteger(lag) || lag < 0)) {
      throw new ValidationError('lagSeconds must be a non-negative integer', { context: { serverId } });
    }
    const updated: ReplicaRecord[] = [];
    for (const volume of volumes) {
      let record = await this.replicas.setTags(volume.volumeId, {
        [REPLICATION_STATE_TAG]: report.replication,
        ...(lag === undefined ? {} : { [LAG_SECONDS_TAG]: String(lag) }),
      });
      if (lag === undefined && record.tags[LAG_SECONDS_TAG] !== undefined) {
        record = await this.replicas.removeTags(volume.volumeId, [LAG_SECONDS_TAG]);
      }
      updated.push(record);
    }
    return updated;
  }

  async reportSync(volumeId: string, report: SyncReport): Promise<ReplicaRecord> {
    checkSync(report.syncState, report.backlogBytes);
    return this.replicas.setTags(volumeId, {
      [REPLICA_TAG.syncState]: report.syncState,
      [REPLICA_TAG.backlogBytes]: String(report.backlogBytes),
    });
  }
}

function parseDetail(text: string | undefined): { checkpointId: string; volumeIds: string[] } | undefined {
  if (text === undefined) return undefined;
  try {
    const detail = JSON.parse(text) as { checkpointId?: unknown; volumeIds?: unknown };
    if (typeof detail.checkpointId !== 'string' || !Array.isArray(detail.volumeIds)) return undefined;
    return {
      checkpointId: detail.checkpointId,
      volumeIds: detail.volumeIds.filter((id): id is string => typeof id === 'string'),
    };
  } catch {
    return undefined;
  }
}

function checkRange(record: ReplicaRecord, offset: number, length: number): void {
  const volumeBytes = record.volumeSizeGib * GIB_BYTES;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ValidationError('offset and length must be non-negative integers', {
      context: { volumeId: record.volumeId, offset, length },
    });
  }
  if (offset + length > volumeBytes) {
    throw new ValidationError(`the range ends beyond the volume's ${volumeBytes} bytes`, {
      context: { volumeId: record.volumeId, offset, length },
    });
  }
}

function checkSync(syncState: string, backlogBytes: number): void {
  if (syncState !== 'IN_SYNC' && syncState !== 'BACKLOG') {
    throw new ValidationError(`sync state must be IN_SYNC or BACKLOG, not ${syncState}`);
  }
  if (!Number.isSafeInteger(backlogBytes) || backlogBytes < 0) {
    throw new ValidationError('backlog bytes must be a non-negative integer', { context: { backlogBytes } });
  }
}

/** The 512 KiB block indexes a byte range touches. */
export function blockRange(offset: number, length: number): number[] {
  if (length === 0) return [];
  const first = Math.floor(offset / EBS_BLOCK_SIZE_BYTES);
  const last = Math.floor((offset + length - 1) / EBS_BLOCK_SIZE_BYTES);
  const blocks: number[] = [];
  for (let index = first; index <= last; index += 1) blocks.push(index);
  return blocks;
}
