/**
 * Runs statemachines/backup.asl.json in aws-local-stepfunctions with the real orchestration
 * handlers over in-memory fakes of AWS (a replica world with a scripted replication agent, EC2
 * snapshots that complete after a few looks, a lock table, event and SNS sinks). The engine steps
 * (plan, copy range, commit) are test doubles here: they belong to the backup engine and are
 * exercised end to end through moto elsewhere.
 *
 * aws-local-stepfunctions has no Distributed Map semantics, so the harness rewrites "Copy Ranges"
 * into an inline Map: ItemReader → ItemsPath over the items the plan double returns inline,
 * ResultWriter and ProcessorConfig dropped (an inline Map runs the same iterator over the same
 * items; https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html). Waits take 0 ms and retries 0 ms.
 */
import '../support/quiet-powertools.ts';
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import { InMemoryLockStore } from '../orchestration/in-memory-lock-store.ts';
import { ConflictError } from '../../lambdas/core/errors.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { SnapshotLimitExceededError } from '../../lambdas/core/orchestration/orchestration-errors.ts';
import type { SnapshotView } from '../../lambdas/core/orchestration/replica-snapshots.ts';
import { createBackupLockHandler } from '../../lambdas/handlers/backup-lock.ts';
import { createCleanupHandler } from '../../lambdas/handlers/cleanup-backup.ts';
import { createProbeReplicaHandler } from '../../lambdas/handlers/probe-replica.ts';
import { createPublishOutcomeHandler } from '../../lambdas/handlers/publish-outcome.ts';
import { createReplicaCheckpointHandler } from '../../lambdas/handlers/replica-checkpoint.ts';
import type { SnapshotPort } from '../../lambdas/core/orchestration/orchestration-ports.ts';
import { createReplicaSnapshotsHandler } from '../../lambdas/handlers/replica-snapshots.ts';

export const ASL_PATH = new URL('../../statemachines/backup.asl.json', import.meta.url);
export const ACCOUNT = '123456789012';

export type AslDefinition = { StartAt: string; States: Record<string, Record<string, unknown>> } & Record<
  string,
  unknown
>;

export function placeholdersOf(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]!));
}

/** The ASL with every ${Key} replaced: function ARNs for *FunctionArn, a bucket name otherwise. */
export function substitutedAsl(): AslDefinition {
  const text = readFileSync(ASL_PATH, 'utf8').replace(/\$\{([A-Za-z0-9]+)\}/g, (_m, key: string) =>
    key.endsWith('FunctionArn')
      ? `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${key.replace(/Arn$/, '')}`
      : 'rbp-images-test',
  );
  return JSON.parse(text) as AslDefinition;
}

function rewriteDistributedMaps(definition: AslDefinition): AslDefinition {
  const copy = structuredClone(definition);
  rewriteStates(copy.States);
  return copy;
}

/** Rewrites the Distributed Maps among `states`, looking inside inline Maps (Back Up Volumes). */
function rewriteStates(states: Record<string, Record<string, unknown>>): void {
  for (const state of Object.values(states)) {
    if (state['Type'] !== 'Map') continue;
    const processor = state['ItemProcessor'] as Record<string, unknown>;
    if (state['ItemReader'] === undefined) {
      rewriteStates(processor['States'] as Record<string, Record<string, unknown>>);
      continue;
    }
    delete state['ItemReader'];
    delete state['ResultWriter'];
    state['ItemsPath'] = '$.plan.result.workItems.inlineItems';
    delete processor['ProcessorConfig'];
  }
}

/**
 * Commit Recovery Point's double (the real step is tested on its own, test/recovery-points): the
 * record of the run's images, each volume named disk<N>.
 */
const recoveryPointDouble: LambdaHandler = (payload: unknown) => {
  const input = payload as {
    backup: { backupId: string; serverId: string };
    volumes: { volumeId: string; imageId: string; kind: string; createdAt: string }[];
  };
  return Promise.resolve({
    recoveryPointId: `rp-${input.backup.backupId}`,
    serverId: input.backup.serverId,
    createdAt: input.volumes[0]!.createdAt,
    images: input.volumes.map((v, n) => ({
      volumeId: v.volumeId,
      device: `disk${n}`,
      imageId: v.imageId,
      snapshotId: 'snap-double',
      kind: v.kind,
    })),
    imageIds: input.volumes.map((v) => v.imageId),
  });
};

/** A clock that moves 15 s every time someone looks: waits and deadlines play out deterministically. */
export class SteppingClock implements Clock {
  constructor(
    private ms: number,
    private readonly stepMs = 15_000,
  ) {}
  now(): Date {
    this.ms += this.stepMs;
    return new Date(this.ms);
  }
}

export interface AgentScript {
  /** Probes that see BACKLOG before the agent reports the checkpoint in sync; 'never' for a dead agent. */
  readonly syncAfterProbes: number | 'never';
}

export interface SnapshotScript {
  /** DescribeSnapshots looks before a snapshot completes. */
  readonly completeAfterChecks: number;
  /** The n-th created snapshots (1-based) that end in `error`. */
  readonly failingCreations: readonly number[];
  /** CreateSnapshot calls refused with ConcurrentSnapshotLimitExceeded before one succeeds. */
  readonly limitExceededCalls: number;
}

export class FakeWorld implements SnapshotPort {
  readonly locks: InMemoryLockStore;
  readonly events: { detailType: string; detail: Record<string, unknown> }[] = [];
  readonly notifications: { subject: string; message: string }[] = [];
  readonly volumeTags = new Map<string, Record<string, string>>();
  readonly snapshots = new Map<string, SnapshotView & { checks: number }>();
  readonly calls: string[] = [];
  private probes = 0;
  private created = 0;
  private limitRefusals = 0;
  private pendingCheckpoint: string | undefined;

  constructor(
    readonly clock: Clock,
    private readonly agent: AgentScript,
    private readonly snapshotScript: SnapshotScript,
  ) {
    this.locks = new InMemoryLockStore(() => clock.now());
  }

  addReplica(volumeId: string, tags: Record<string, string> = { 'rbp:replica': 'true' }): void {
    this.volumeTags.set(volumeId, { ...tags });
  }

  addSnapshot(view: SnapshotView): void {
    this.snapshots.set(view.snapshotId, { ...view, checks: 0 });
  }

  // Replication agent: answers a checkpoint request by reporting it after the scripted probes.
  onEvent(detailType: string, detail: Record<string, unknown>): void {
    this.events.push({ detailType, detail });
    if (detailType === 'Checkpoint Requested') {
      this.pendingCheckpoint = String(detail['checkpointId']);
      this.probes = 0;
    }
  }

  volumeTagsFor(volumeIds: readonly string[]) {
    this.probes += 1;
    if (this.pendingCheckpoint !== undefined && this.agent.syncAfterProbes !== 'never') {
      const inSync = this.probes > this.agent.syncAfterProbes;
      for (const volumeId of volumeIds) {
        const tags = this.volumeTags.get(volumeId);
        if (tags === undefined) continue;
        tags['rbp:checkpoint-id'] = this.pendingCheckpoint;
        tags['rbp:checkpoint-time'] = '2026-01-01T00:00:10.000Z';
        tags['rbp:sync-state'] = inSync ? 'IN_SYNC' : 'BACKLOG';
        tags['rbp:backlog-bytes'] = inSync ? '0' : '65536';
      }
    }
    return Promise.resolve(
      volumeIds
        .filter((id) => this.volumeTags.has(id))
        .map((volumeId) => ({ volumeId, tags: { ...this.volumeTags.get(volumeId)! } })),
    );
  }

  // SnapshotPort
  createSnapshot(volumeId: string, tags: Record<string, string>): Promise<SnapshotView> {
    this.calls.push(`CreateSnapshot ${volumeId}`);
    if (this.limitRefusals < this.snapshotScript.limitExceededCalls) {
      this.limitRefusals += 1;
      return Promise.reject(
        new SnapshotLimitExceededError(
          `CreateSnapshot of ${volumeId} refused: ConcurrentSnapshotLimitExceeded`,
        ),
      );
    }
    this.created += 1;
    const snapshotId = `snap-${String(this.created).padStart(4, '0')}`;
    const view: SnapshotView = {
      snapshotId,
      volumeId,
      state: this.snapshotScript.failingCreations.includes(this.created) ? 'error' : 'pending',
      startTime: this.clock.now().toISOString(),
      tags: { ...tags },
    };
    this.addSnapshot(view);
    return Promise.resolve(view);
  }

  describeSnapshots(snapshotIds: readonly string[]): Promise<SnapshotView[]> {
    const found: SnapshotView[] = [];
    for (const id of snapshotIds) {
      const s = this.snapshots.get(id);
      if (s === undefined) continue;
      s.checks += 1;
      if (s.state === 'pending' && s.checks > this.snapshotScript.completeAfterChecks) {
        this.snapshots.set(id, { ...s, state: 'completed', progress: '100%' });
      }
      found.push(this.snapshots.get(id)!);
    }
    return Promise.resolve(found);
  }

  snapshotsOfBackup(backupId: string): Promise<SnapshotView[]> {
    return Promise.resolve(
      [...this.snapshots.values()].filter(
        (s) => s.tags['rbp:backup-id'] === backupId && s.tags['rbp:managed'] === 'true',
      ),
    );
  }

  managedSnapshotsOfVolume(volumeId: string): Promise<SnapshotView[]> {
    return Promise.resolve(
      [...this.snapshots.values()].filter((s) => s.volumeId === volumeId && s.tags['rbp:managed'] === 'true'),
    );
  }

  tagSnapshot(snapshotId: string, tags: Record<string, string>): Promise<void> {
    const s = this.snapshots.get(snapshotId);
    if (s === undefined) return Promise.reject(new ConflictError(`no snapshot ${snapshotId}`));
    this.snapshots.set(snapshotId, { ...s, tags: { ...s.tags, ...tags } });
    return Promise.resolve();
  }

  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'absent'> {
    this.calls.push(`DeleteSnapshot ${snapshotId}`);
    return Promise.resolve(this.snapshots.delete(snapshotId) ? 'deleted' : 'absent');
  }
}

export type EngineDouble = (payload: Record<string, unknown>) => Promise<unknown>;

export interface EngineDoubles {
  readonly plan: EngineDouble;
  readonly copyRange: EngineDouble;
  readonly commit: EngineDouble;
  readonly catalog: EngineDouble;
}

/** Plan/copy/commit stand-ins: two ranges, a summary per range, one image id. */
export function happyEngine(log: string[]): EngineDoubles {
  return {
    plan: (payload) => {
      const snapshots = payload['snapshots'] as { snapshotId: string; volumeId: string }[];
      log.push(`plan ${snapshots[0]!.snapshotId}`);
      return Promise.resolve({
        workItems: {
          bucket: 'rbp-images-test',
          key: 'work/x/items.json',
          inlineItems: [
            { startBlock: 0, endBlock: 2048 },
            { startBlock: 2048, endBlock: 4096 },
          ],
        },
        maxConcurrency: 2,
        job: { imageId: 'img-1', snapshotId: snapshots[0]!.snapshotId },
      });
    },
    copyRange: (payload) => {
      const range = payload['range'] as { startBlock: number };
      log.push(`copy ${range.startBlock}`);
      return Promise.resolve({ startBlock: range.startBlock, chunksCreated: 3 });
    },
    commit: () => {
      log.push('commit img-1');
      return Promise.resolve({ volumeId: 'vol-0a1b2c3d4e5f60718', imageId: 'img-1' });
    },
    catalog: (payload) => {
      log.push(`catalog ${String(payload['imageId'])}`);
      return Promise.resolve({ status: 'complete', counts: { files: 3 }, errorCount: 0 });
    },
  };
}

export interface RunOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly output?: Record<string, unknown>;
  /** Fail state's Error and Cause, or the uncaught error. */
  readonly error?: string;
  readonly cause?: string;
  readonly statesEntered: string[];
  /** The input each state was entered with, in order (for redrives). */
  readonly stateInputs: { readonly name: string; readonly input: unknown }[];
}

/**
 * A redrive as Step Functions does it: the same execution resumes at the state that failed, with
 * the input that state was entered with; the states that succeeded before it do not run again.
 */
export interface Redrive {
  readonly fromState: string;
  readonly input: unknown;
  /** `$$.State.EnteredTime` of the redrive (a new instant, as Step Functions gives a re-entered state). */
  readonly enteredAt?: string;
}

/**
 * The states a run that meets a held lock passes through (a scheduled or plan run is skipped,
 * not failed): it takes no snapshot and ends in success at Backup Skipped.
 */
export const SKIPPED_RUN_STATES: readonly string[] = [
  'Acquire Lock',
  'Lock Taken?',
  'Publish Skipped',
  'Backup Skipped',
];

/** `$$.State.EnteredTime` of a first run (aws-local-stepfunctions has no State context of its own). */
export const FIRST_RUN_ENTERED_AT = '2026-01-01T00:00:00.000Z';
/** `$$.State.EnteredTime` of a redrive unless the test names one. */
export const REDRIVE_ENTERED_AT = '2026-01-02T00:00:00.000Z';

type LambdaHandler = (payload: unknown) => Promise<unknown>;

export async function runBackup(
  world: FakeWorld,
  engine: EngineDoubles,
  input: unknown,
  executionName = 'bk-1',
  redrive?: Redrive,
): Promise<RunOutcome> {
  const clock = world.clock;
  const events = {
    publish: (detailType: string, detail: object) => {
      world.onEvent(detailType, detail as Record<string, unknown>);
      return Promise.resolve();
    },
  };
  const snapshotDeps = { snapshots: world, clock, retainBaseSnapshots: 1 };
  const functions: Record<string, LambdaHandler> = {
    BackupLockFunction: createBackupLockHandler({
      locks: world.locks,
      clock,
      findVolumes: () => Promise.resolve([]),
      serverTags: () => Promise.resolve(new Map()),
    }),
    CheckpointFunction: createReplicaCheckpointHandler({ events, clock }),
    ProbeReplicaFunction: createProbeReplicaHandler({
      volumeTags: (ids) => world.volumeTagsFor(ids),
      drsSourceServer: () => Promise.resolve(undefined),
      clock,
    }),
    ReplicaSnapshotFunction: createReplicaSnapshotsHandler(snapshotDeps),
    CleanupFunction: createCleanupHandler({ ...snapshotDeps, locks: world.locks }),
    PublishOutcomeFunction: createPublishOutcomeHandler({
      events,
      notifier: {
        notify: (subject, message) => {
          world.notifications.push({ subject, message });
          return Promise.resolve();
        },
      },
      clock,
    }),
    PlanBackupFunction: engine.plan as LambdaHandler,
    CopyRangeFunction: engine.copyRange as LambdaHandler,
    CommitImageFunction: engine.commit as LambdaHandler,
    BuildCatalogFunction: engine.catalog as LambdaHandler,
    CommitRecoveryPointFunction: recoveryPointDouble,
  };
  const definition = rewriteDistributedMaps(substitutedAsl());
  if (redrive !== undefined) definition.StartAt = redrive.fromState;
  const overrides: Record<string, (input: { FunctionName: string; Payload: unknown }) => Promise<unknown>> =
    {};
  const waits: Record<string, number> = {};
  const retries: Record<string, number> = {};
  const visit = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, state] of Object.entries(states)) {
      if (state['Type'] === 'Wait') waits[name] = 0;
      if (state['Retry'] !== undefined) retries[name] = 0;
      if (state['Resource'] === 'arn:aws:states:::lambda:invoke') {
        overrides[name] = async (effective) => {
          const fn = effective.FunctionName.split(':').at(-1)!;
          const handler = functions[fn];
          if (handler === undefined) throw new Error(`no handler for ${fn}`);
          return { Payload: await handler(effective.Payload) };
        };
      }
      const processor = state['ItemProcessor'] as
        { States: Record<string, Record<string, unknown>> } | undefined;
      if (processor !== undefined) visit(processor.States);
    }
  };
  visit(definition.States);
  const machine = new StateMachine(definition as never, {
    // A redrive's StartAt leaves the earlier states unreachable; the definition itself is validated
    // by every normal run.
    validationOptions: redrive === undefined ? { checkPaths: true, checkArn: true } : { noValidate: true },
  });
  const execution = machine.run(
    (redrive === undefined ? input : redrive.input) as never,
    {
      overrides: {
        taskResourceLocalHandlers: overrides,
        waitTimeOverrides: waits,
        retryIntervalOverrides: retries,
      },
      context: {
        Execution: {
          Id: `arn:aws:states:us-east-1:${ACCOUNT}:execution:rbp-backup:${executionName}`,
          Name: executionName,
          StartTime: '2026-01-01T00:00:00.000Z',
        },
        State: {
          EnteredTime:
            redrive === undefined ? FIRST_RUN_ENTERED_AT : (redrive.enteredAt ?? REDRIVE_ENTERED_AT),
        },
      },
    } as never,
  );
  const statesEntered: string[] = [];
  const stateInputs: { name: string; input: unknown }[] = [];
  const collector = (async () => {
    for await (const event of execution.eventLogs as AsyncIterable<{
      type: string;
      state?: { name: string; input: unknown };
    }>) {
      if (event.type === 'StateEntered' && event.state !== undefined) {
        statesEntered.push(event.state.name);
        stateInputs.push({ name: event.state.name, input: event.state.input });
      }
    }
  })();
  try {
    const output = (await execution.result) as Record<string, unknown>;
    await collector;
    return { status: 'SUCCEEDED', output, statesEntered, stateInputs };
  } catch (error) {
    await collector.catch(() => undefined);
    const cause = (error as { cause?: { name?: string; message?: string } }).cause;
    return {
      status: 'FAILED',
      error: cause?.name ?? 'Unknown',
      cause: cause?.message ?? '',
      statesEntered,
      stateInputs,
    };
  }
}
