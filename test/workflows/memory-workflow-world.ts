/**
 * An in-memory world for the workflow run engine (lambdas/core/workflows/workflow-run-engine.ts):
 * EC2 snapshots, volumes, attachments and instances with EC2's rules (a volume only from a
 * completed snapshot, the same ClientToken gives the same volume, AttachVolume refused at a used
 * device or for a volume in use, DeleteVolume refused while attached), volume restores that finish
 * on the next tick, a masking hook that answers per runId, and a fault injector that makes any
 * port call throw before or after it took effect. `tick()` moves EC2 on as time passes.
 */
import {
  ConflictError,
  NotFoundError,
  PermanentError,
  ThrottledError,
  ValidationError,
} from '../../lambdas/core/errors.ts';
import type { Image } from '../../lambdas/core/api/schemas.ts';
import type { ImageDirectory } from '../../lambdas/core/api/api-ports.ts';
import type { ServerDirectory } from '../../lambdas/core/plans/plan-ports.ts';
import type { ServerView } from '../../lambdas/core/plans/servers.ts';
import {
  recoveryPointErrors,
  type RecoveryPoint,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import {
  volumeRestoreJobs,
  type VolumeRestoreJobStore,
  type VolumeRestoreLauncher,
} from '../../lambdas/core/restore/volume-restore-jobs.ts';
import type { TargetInstance } from '../../lambdas/core/workflows/devices.ts';
import type { MaskingHookEvent, MaskingHookInvoker } from '../../lambdas/core/workflows/masking.ts';
import type {
  CloneResources,
  CloneSnapshotState,
  CloneVolume,
} from '../../lambdas/core/workflows/workflow-run-ports.ts';
import type { WorkflowRunFunctionPorts } from '../../lambdas/core/workflows/workflow-run-steps.ts';
import type { InstanceDirectory, WorkflowRecord } from '../../lambdas/core/workflows/workflow-service.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryNamedRecords } from '../fakes/memory-named-records.ts';
import { MemoryWorkflowRuns } from './memory-workflow-runs.ts';

export const ZONE = 'us-east-1a';
export const INSTANCE = 'i-0123456789abcdef0';
const ROOT_DEVICE = '/dev/xvda';
const GIB = 1_073_741_824;

interface MemorySnapshot {
  state: 'pending' | 'completed';
  tags: Record<string, string>;
  /** What made it: a restore, a masking hook. */
  madeBy: 'restore' | 'mask';
}

interface MemoryVolume {
  readonly snapshotId: string;
  readonly availabilityZone: string;
  state: 'creating' | 'available' | 'in-use';
  tags: Record<string, string>;
  attachment?: { instanceId: string; device: string; state: 'attaching' | 'attached' | 'detaching' };
}

/** What the world saw happen, in order (deletions of resources are what the properties look at). */
export type WorldEvent =
  | { readonly kind: 'delete-snapshot' | 'delete-volume' | 'detach'; readonly id: string }
  | { readonly kind: 'create-snapshot' | 'create-volume' | 'attach'; readonly id: string };

export class MemoryEc2 implements CloneResources, InstanceDirectory {
  readonly snapshots = new Map<string, MemorySnapshot>();
  readonly volumes = new Map<string, MemoryVolume>();
  readonly instances = new Map<string, { availabilityZone: string }>([
    [INSTANCE, { availabilityZone: ZONE }],
  ]);
  readonly events: WorldEvent[] = [];
  /** Called before a snapshot or volume is deleted or detached (properties check what exists then). */
  beforeRemoval: (event: WorldEvent) => void = () => undefined;
  private readonly tokens = new Map<string, string>();
  private next = 1;

  private id(prefix: string): string {
    return `${prefix}-${(this.next++).toString(16).padStart(17, '0')}`;
  }

  makeSnapshot(
    madeBy: MemorySnapshot['madeBy'],
    tags: Record<string, string>,
    state: MemorySnapshot['state'],
  ): string {
    const id = this.id('snap');
    this.snapshots.set(id, { state, tags: { ...tags }, madeBy });
    this.events.push({ kind: 'create-snapshot', id });
    return id;
  }

  /** Time passes: pending snapshots complete, volumes become available, attachments settle. */
  tick(): void {
    for (const snapshot of this.snapshots.values()) snapshot.state = 'completed';
    for (const volume of this.volumes.values()) {
      if (volume.state === 'creating') volume.state = 'available';
      if (volume.attachment?.state === 'attaching') {
        volume.attachment.state = 'attached';
        volume.state = 'in-use';
      } else if (volume.attachment?.state === 'detaching') {
        delete volume.attachment;
        volume.state = 'available';
      }
    }
  }

  devicesInUse(instanceId: string): string[] {
    return [
      ROOT_DEVICE,
      ...[...this.volumes.values()].flatMap((v) =>
        v.attachment?.instanceId === instanceId ? [v.attachment.device] : [],
      ),
    ].sort();
  }

  describe(instanceId: string): Promise<TargetInstance | undefined> {
    const instance = this.instances.get(instanceId);
    return Promise.resolve(
      instance === undefined
        ? undefined
        : {
            instanceId,
            availabilityZone: instance.availabilityZone,
            devicesInUse: this.devicesInUse(instanceId),
          },
    );
  }

  snapshotState(snapshotId: string): Promise<CloneSnapshotState> {
    return Promise.resolve(this.snapshots.get(snapshotId)?.state ?? 'absent');
  }

  tag(resourceIds: readonly string[], tags: Readonly<Record<string, string>>): Promise<void> {
    for (const id of resourceIds) {
      const resource = this.snapshots.get(id) ?? this.volumes.get(id);
      if (resource === undefined)
        return Promise.reject(new NotFoundError(`CreateTags: ${id} does not exist`));
      resource.tags = { ...resource.tags, ...tags };
    }
    return Promise.resolve();
  }

  deleteSnapshot(snapshotId: string): Promise<void> {
    if (this.snapshots.has(snapshotId)) {
      this.beforeRemoval({ kind: 'delete-snapshot', id: snapshotId });
      this.snapshots.delete(snapshotId);
      this.events.push({ kind: 'delete-snapshot', id: snapshotId });
    }
    return Promise.resolve();
  }

  createVolume(request: {
    readonly snapshotId: string;
    readonly availabilityZone: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly clientToken: string;
  }): Promise<string> {
    const known = this.tokens.get(request.clientToken);
    if (known !== undefined) return Promise.resolve(known);
    if (this.snapshots.get(request.snapshotId)?.state !== 'completed') {
      return Promise.reject(
        new ValidationError(`CreateVolume: snapshot ${request.snapshotId} is not completed`),
      );
    }
    const id = this.id('vol');
    this.volumes.set(id, {
      snapshotId: request.snapshotId,
      availabilityZone: request.availabilityZone,
      state: 'creating',
      tags: { ...request.tags },
    });
    this.tokens.set(request.clientToken, id);
    this.events.push({ kind: 'create-volume', id });
    return Promise.resolve(id);
  }

  describeVolume(volumeId: string): Promise<CloneVolume | undefined> {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) return Promise.resolve(undefined);
    return Promise.resolve({
      volumeId,
      state: volume.state,
      availabilityZone: volume.availabilityZone,
      attachments: volume.attachment === undefined ? [] : [{ ...volume.attachment }],
    });
  }

  attachVolume(volumeId: string, instanceId: string, device: string): Promise<void> {
    const volume = this.volumes.get(volumeId);
    const instance = this.instances.get(instanceId);
    if (volume === undefined || instance === undefined) {
      return Promise.reject(new NotFoundError(`AttachVolume: ${volumeId} or ${instanceId} does not exist`));
    }
    if (volume.state !== 'available' || volume.attachment !== undefined) {
      return Promise.reject(new ConflictError(`AttachVolume: ${volumeId} is ${volume.state} (VolumeInUse)`));
    }
    if (volume.availabilityZone !== instance.availabilityZone) {
      return Promise.reject(new ValidationError(`AttachVolume: ${volumeId} is in another zone`));
    }
    if (this.devicesInUse(instanceId).includes(device)) {
      return Promise.reject(new ConflictError(`AttachVolume: ${device} is in use on ${instanceId}`));
    }
    volume.attachment = { instanceId, device, state: 'attaching' };
    this.events.push({ kind: 'attach', id: volumeId });
    return Promise.resolve();
  }

  detachVolume(volumeId: string, instanceId: string): Promise<void> {
    const volume = this.volumes.get(volumeId);
    if (volume?.attachment?.instanceId !== instanceId) {
      return Promise.reject(new ConflictError(`DetachVolume: ${volumeId} is not attached to ${instanceId}`));
    }
    this.beforeRemoval({ kind: 'detach', id: volumeId });
    volume.attachment.state = 'detaching';
    this.events.push({ kind: 'detach', id: volumeId });
    return Promise.resolve();
  }

  taggedWithRun(runId: string): Promise<{ snapshotIds: string[]; volumeIds: string[] }> {
    const tagged = (tags: Record<string, string>): boolean => tags['rbp:run-id'] === runId;
    return Promise.resolve({
      snapshotIds: [...this.snapshots.entries()]
        .filter(([, s]) => tagged(s.tags))
        .map(([id]) => id)
        .sort(),
      volumeIds: [...this.volumes.entries()]
        .filter(([, v]) => tagged(v.tags))
        .map(([id]) => id)
        .sort(),
    });
  }

  deleteVolume(volumeId: string): Promise<void> {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) return Promise.resolve();
    if (volume.attachment !== undefined || volume.state === 'in-use') {
      return Promise.reject(new ConflictError(`DeleteVolume: ${volumeId} is attached (VolumeInUse)`));
    }
    this.beforeRemoval({ kind: 'delete-volume', id: volumeId });
    this.volumes.delete(volumeId);
    this.events.push({ kind: 'delete-volume', id: volumeId });
    return Promise.resolve();
  }
}

/** Volume restores: a launched restore succeeds on the next tick with a completed snapshot. */
export class MemoryRestores implements VolumeRestoreLauncher {
  readonly jobs: VolumeRestoreJobStore = volumeRestoreJobs(new MemoryJobStore());
  readonly launched = new Set<string>();
  /** Restores whose job finishes `failed` (a broken image), by restore id. */
  readonly failing = new Set<string>();

  constructor(private readonly ec2: MemoryEc2) {}

  launch(event: { readonly restoreId: string; readonly kind: 'volume' }): Promise<void> {
    this.launched.add(event.restoreId);
    return Promise.resolve();
  }

  async tick(): Promise<void> {
    for (const restoreId of this.launched) {
      const job = await this.jobs.get(restoreId);
      if (job.status !== 'pending') continue;
      if (this.failing.has(restoreId)) {
        await this.jobs.update(
          {
            ...job,
            status: 'failed',
            failure: { reason: 'image chunk missing', errorName: 'IntegrityError' },
          },
          ['pending'],
        );
        continue;
      }
      const snapshotId = this.ec2.makeSnapshot('restore', { 'rbp:restore-id': restoreId }, 'completed');
      await this.jobs.update(
        {
          ...job,
          status: 'succeeded',
          snapshotId,
          changedBlocksCount: job.parentRestoreId === undefined ? 8 : 2,
        },
        ['pending'],
      );
    }
  }
}

/** A masking hook that writes one child snapshot per device, the same one for the same runId. */
export class MemoryMaskingHook implements MaskingHookInvoker {
  mode: 'mask' | 'fail' | 'throw' = 'mask';
  invocations = 0;
  private readonly answered = new Map<string, Record<string, string>>();

  constructor(private readonly ec2: MemoryEc2) {}

  invoke(_functionName: string, event: MaskingHookEvent): Promise<unknown> {
    this.invocations += 1;
    if (this.mode === 'throw') return Promise.reject(new PermanentError('the hook function crashed'));
    if (this.mode === 'fail') return Promise.resolve({ status: 'failed', message: 'no such file' });
    let masked = this.answered.get(event.runId);
    if (masked === undefined) {
      masked = Object.fromEntries(
        event.devices.map((d) => [
          d.sourceVolumeId,
          this.ec2.makeSnapshot('mask', { ...event.tags, 'rbp:masked-from': d.snapshotId }, 'pending'),
        ]),
      );
      this.answered.set(event.runId, masked);
    }
    return Promise.resolve({ maskedSnapshots: masked, message: 'masked' });
  }
}

/** Whether a call throws, and when: before it takes effect, or after (the caller cannot tell). */
export type Fault = 'none' | 'retryable-before' | 'retryable-after' | 'permanent-before';

/**
 * Wraps every method of `target` so that `decide(name)` may make a call throw: a ThrottledError
 * (retryable) before or after the call took effect, or a PermanentError before it.
 */
export function faulty<T extends object>(target: T, label: string, decide: (call: string) => Fault): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return async (...args: unknown[]): Promise<unknown> => {
        const call = `${label}.${property}`;
        const fault = decide(call);
        if (fault === 'retryable-before') throw new ThrottledError(`injected: ${call} throttled`);
        if (fault === 'permanent-before') throw new PermanentError(`injected: ${call} refused`);
        const result: unknown = await (value as (...a: unknown[]) => unknown).apply(object, args);
        if (fault === 'retryable-after') throw new ThrottledError(`injected: ${call} answered late`);
        return result;
      };
    },
  });
}

export interface WorkflowWorld {
  readonly ec2: MemoryEc2;
  readonly restores: MemoryRestores;
  readonly hook: MemoryMaskingHook;
  readonly workflows: MemoryNamedRecords<WorkflowRecord>;
  readonly runs: MemoryWorkflowRuns;
  readonly clock: ManualClock;
  /** The source volumes of server web01. */
  readonly volumeIds: readonly string[];
  /** Two images per volume, older first: `img-<n>-1`, `img-<n>-2`. */
  readonly images: ReadonlyMap<string, readonly Image[]>;
  /** Recovery points by id (none until a test adds one). */
  readonly points: Map<string, RecoveryPoint>;
  /** The ports, with every call going through `decide` (faults). */
  ports(decide?: (call: string) => Fault): WorkflowRunFunctionPorts;
  /** Time passes for EC2 and the restores. */
  tick(): Promise<void>;
}

export function workflowWorld(volumeCount: number): WorkflowWorld {
  const ec2 = new MemoryEc2();
  const restores = new MemoryRestores(ec2);
  const hook = new MemoryMaskingHook(ec2);
  const workflows = new MemoryNamedRecords<WorkflowRecord>('workflow');
  const runs = new MemoryWorkflowRuns();
  const clock = new ManualClock(Date.UTC(2026, 11, 3, 6, 0, 0));
  const volumeIds = Array.from({ length: volumeCount }, (_, i) => `vol-0000000000000000${i}`);
  const images = new Map<string, Image[]>(
    volumeIds.map((volumeId, i) => [
      volumeId,
      [1, 2].map((n) => ({
        imageId: `img-${i}-${n}`,
        volumeId,
        createdAt: `2026-12-0${n}T00:00:0${i}.000Z`,
        kind: n === 1 ? 'full' : 'incremental',
        status: 'committed',
        snapshotId: `snap-replica-${i}-${n}`,
        volumeSizeBytes: 8 * GIB,
        formatVersion: 1,
        stats: {},
      })) as Image[],
    ]),
  );
  const points = new Map<string, RecoveryPoint>();
  const directory: ImageDirectory = {
    listImages: (volumeId) => Promise.resolve(images.get(volumeId) ?? []),
    getImage: (imageId) => {
      const image = [...images.values()].flat().find((i) => i.imageId === imageId);
      return image === undefined
        ? Promise.reject(new NotFoundError(`image ${imageId} does not exist`))
        : Promise.resolve(image);
    },
  };
  const server: ServerView = {
    name: 'web01',
    replication: 'in-sync',
    volumes: volumeIds.map((volumeId) => ({ volumeId, tags: { 'rbp:source-server': 'web01' } })),
    applications: [],
    hasPrimary: false,
  };
  const servers: ServerDirectory = {
    list: () => Promise.resolve([server]),
    get: (name) => Promise.resolve(name === 'web01' ? server : undefined),
  };
  return {
    ec2,
    restores,
    hook,
    workflows,
    runs,
    clock,
    volumeIds,
    images,
    points,
    ports(decide = () => 'none') {
      return {
        workflows,
        runs: faulty(runs, 'runs', decide),
        servers,
        images: directory,
        recoveryPoints: {
          get: (id: string) => {
            const point = points.get(id);
            return point === undefined
              ? Promise.reject(recoveryPointErrors.missing(id))
              : Promise.resolve(point);
          },
        },
        instances: faulty<InstanceDirectory>(ec2, 'instances', decide),
        restoreJobs: faulty(restores.jobs, 'restoreJobs', decide),
        restoreLauncher: faulty<VolumeRestoreLauncher>(restores, 'restoreLauncher', decide),
        resources: faulty<CloneResources>(ec2, 'resources', decide),
        masking: faulty<MaskingHookInvoker>(hook, 'masking', decide),
        clock,
        kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/test',
      };
    },
    async tick() {
      clock.advance(5_000);
      ec2.tick();
      await restores.tick();
    },
  };
}
