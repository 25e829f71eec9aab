/**
 * The workflow run engine (lambdas/core/workflows/workflow-run-engine.ts) in memory
 * (memory-workflow-world.ts: EC2's rules for snapshots, volumes and attachments), driven as the run
 * state machine drives it (statemachines/workflow-run.asl.json: Advance Run / Wait, a retryable
 * error retried, any other error caught by Fail Run): each phase of LiveClone, masked, DirectMount
 * and unmount runs, then properties over random faults:
 *
 * - retried steps (a call throwing before or after it took effect) never duplicate a restore, a
 *   masked snapshot or a volume, and the refresh ends with exactly the new clone;
 * - the clone a refresh replaces is detached or deleted only after the new clone is complete,
 *   tagged and (DirectMount) attached;
 * - a permanent failure before the replacement leaves the earlier clone as it was and nothing of
 *   the failed run; a masking that fails never leaves the unmasked clone.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError, describeError, isRetryable, ValidationError } from '../../lambdas/core/errors.ts';
import { parseWorkflowDocument } from '../../lambdas/core/workflows/workflow-document.ts';
import { currentRunOf, startWorkflowRun } from '../../lambdas/core/workflows/workflow-run-service.ts';
import {
  advanceStoredWorkflowRun,
  beginWorkflowRun,
  failStoredWorkflowRun,
} from '../../lambdas/core/workflows/workflow-run-steps.ts';
import type { WorkflowRun } from '../../lambdas/core/workflows/workflow-run.ts';
import { WORKFLOW_FORMAT_VERSION } from '../../lambdas/core/workflows/workflow-document.ts';
import { INSTANCE, workflowWorld, ZONE, type Fault, type WorkflowWorld } from './memory-workflow-world.ts';

/** Advance invocations a run may take before the driver calls it stuck (a run needs about ten). */
const MAX_INVOCATIONS = 400;
/** Retries the state machine gives a retryable error before its Catch fails the run. */
const STATE_MACHINE_RETRIES = 5;

type Kind = 'LiveClone' | 'Masked' | 'LiveCloneVolume' | 'DirectMount';

async function createWorkflow(world: WorkflowWorld, kind: Kind): Promise<string> {
  const name = `wf${kind}`;
  const document = parseWorkflowDocument({
    name,
    type: kind === 'DirectMount' ? 'DirectMount' : 'LiveClone',
    server: 'web01',
    schedule: { type: 'on-demand' },
    target:
      kind === 'DirectMount'
        ? { instanceId: INSTANCE, availabilityZone: ZONE, device: '/dev/sdf' }
        : kind === 'LiveCloneVolume'
          ? { availabilityZone: ZONE }
          : {},
    ...(kind === 'Masked' ? { masking: { function: 'maskit', timeoutSeconds: 60 } } : {}),
    ...(kind === 'LiveCloneVolume' ? { createVolume: true } : {}),
    tags: { team: 'qa' },
  });
  const now = world.clock.now().toISOString();
  await world.workflows.create({
    formatVersion: WORKFLOW_FORMAT_VERSION,
    name,
    document,
    revision: 1,
    createdAt: now,
    updatedAt: now,
  });
  return name;
}

let hex = 0;
/** POST /workflows/{name}/runs: the checks and the record (the execution is the driver below). */
async function startRun(
  world: WorkflowWorld,
  name: string,
  action: 'run' | 'unmount' = 'run',
): Promise<string> {
  world.clock.advance(60_000);
  const run = await startWorkflowRun(
    {
      ...world.ports(),
      executions: { start: () => Promise.resolve() },
      randomHex: () => (hex++).toString(16),
    },
    name,
    { action },
  );
  return run.runId;
}

/**
 * Runs the state machine over the run: Advance Run until it is no longer Running, a tick of time
 * for every Wait; a retryable error is retried (after STATE_MACHINE_RETRIES in a row, or when
 * `unboundedRetries` is false, the Catch takes over); any other error goes to Fail Run.
 */
async function drive(
  world: WorkflowWorld,
  runId: string,
  decide: (call: string) => Fault = () => 'none',
  unboundedRetries = true,
): Promise<WorkflowRun> {
  const ports = world.ports(decide);
  let failure: string | undefined;
  let retries = 0;
  for (let invocation = 0; invocation < MAX_INVOCATIONS; invocation += 1) {
    try {
      const step =
        failure === undefined
          ? await advanceStoredWorkflowRun(ports, runId)
          : await failStoredWorkflowRun(ports, runId, failure);
      failure = undefined;
      retries = 0;
      if (step.status !== 'Running') return (await world.runs.get(runId))!;
    } catch (error) {
      if (isRetryable(error) && (unboundedRetries || retries < STATE_MACHINE_RETRIES)) retries += 1;
      else failure ??= describeError(error);
    }
    await world.tick();
  }
  throw new Error(`run ${runId} still Running after ${MAX_INVOCATIONS} invocations`);
}

function liveSnapshotsTagged(world: WorkflowWorld, key: string, value: string): string[] {
  return [...world.ec2.snapshots.entries()].filter(([, s]) => s.tags[key] === value).map(([id]) => id);
}

function liveVolumesTagged(world: WorkflowWorld, key: string, value: string): string[] {
  return [...world.ec2.volumes.entries()].filter(([, v]) => v.tags[key] === value).map(([id]) => id);
}

describe('workflow runs in memory, phase by phase', () => {
  it('a LiveClone run restores each volume of the server and tags the clone; it is not flagged non-sensitive', async () => {
    const world = workflowWorld(2);
    const name = await createWorkflow(world, 'LiveClone');
    const run = await drive(world, await startRun(world, name));
    expect({ status: run.status, phase: run.phase, reason: run.reason }).toEqual({
      status: 'Succeeded',
      phase: 'Finished',
      reason: undefined,
    });
    expect(run.volumes.map((v) => v.imageId)).toEqual(['img-0-2', 'img-1-2']);
    expect(world.restores.launched.size).toBe(2);
    expect([...world.ec2.snapshots.keys()].sort()).toEqual(run.volumes.map((v) => v.snapshotId).sort());
    for (const volume of run.volumes) {
      expect(world.ec2.snapshots.get(volume.snapshotId!)!.tags).toEqual({
        'rbp:restore-id': volume.restoreId,
        'rbp:workflow': name,
        'rbp:run-id': run.runId,
        'rbp:image': volume.imageId,
        'rbp:source-volume': volume.sourceVolumeId,
        team: 'qa',
      });
    }
    expect(world.ec2.volumes.size).toBe(0);
  });

  it('a refresh restores over the previous clone (parentRestoreId) and deletes the previous clone after', async () => {
    const world = workflowWorld(1);
    const name = await createWorkflow(world, 'LiveClone');
    const first = await drive(world, await startRun(world, name));
    const second = await drive(world, await startRun(world, name));
    expect(second.status).toBe('Succeeded');
    expect(second.replacesRunId).toBe(first.runId);
    expect(second.volumes[0]!.parentRestoreId).toBe(first.volumes[0]!.restoreId);
    expect(second.volumes[0]!.changedBlocksCount).toBe(2);
    expect([...world.ec2.snapshots.keys()]).toEqual([second.volumes[0]!.snapshotId]);
    expect((await world.runs.get(first.runId))!.replacedByRunId).toBe(second.runId);
    const created = world.ec2.events.findIndex(
      (e) => e.kind === 'create-snapshot' && e.id === second.volumes[0]!.snapshotId,
    );
    const deleted = world.ec2.events.findIndex(
      (e) => e.kind === 'delete-snapshot' && e.id === first.volumes[0]!.snapshotId,
    );
    expect(created).toBeGreaterThanOrEqual(0);
    expect(deleted).toBeGreaterThan(created);
  });

  it('a masked LiveClone keeps only the masked snapshots, flagged non-sensitive; its refresh restores in full', async () => {
    const world = workflowWorld(2);
    const name = await createWorkflow(world, 'Masked');
    const run = await drive(world, await startRun(world, name));
    expect({ status: run.status, nonSensitive: run.nonSensitive }).toEqual({
      status: 'Succeeded',
      nonSensitive: true,
    });
    expect(world.hook.invocations).toBe(1);
    for (const volume of run.volumes) {
      expect(volume.snapshotId).not.toBe(volume.restoredSnapshotId);
      expect(world.ec2.snapshots.has(volume.restoredSnapshotId!)).toBe(false);
      expect(world.ec2.snapshots.get(volume.snapshotId!)!.tags['rbp:non-sensitive']).toBe('true');
    }
    const refresh = await drive(world, await startRun(world, name));
    expect(refresh.status).toBe('Succeeded');
    expect(refresh.volumes.every((v) => v.parentRestoreId === undefined)).toBe(true);
    expect([...world.ec2.snapshots.keys()].sort()).toEqual(refresh.volumes.map((v) => v.snapshotId).sort());
  });

  it.each([
    ['answers failed', 'fail', 'masking hook maskit failed: no such file'],
    ['throws', 'throw', 'masking hook maskit failed: the hook function crashed'],
  ] as const)(
    'a masking hook that %s fails the run and deletes the unmasked clone; the earlier clone stays',
    async (_, mode, reason) => {
      const world = workflowWorld(1);
      const name = await createWorkflow(world, 'Masked');
      const first = await drive(world, await startRun(world, name));
      world.hook.mode = mode;
      const failed = await drive(world, await startRun(world, name));
      expect({ status: failed.status, reason: failed.reason }).toEqual({ status: 'Failed', reason });
      expect([...world.ec2.snapshots.keys()]).toEqual([first.volumes[0]!.snapshotId]);
      expect(failed.volumes[0]).toEqual({
        sourceVolumeId: world.volumeIds[0],
        imageId: 'img-0-2',
        restoreId: `${failed.runId}-v0`,
        changedBlocksCount: 8,
      });
      expect(currentRunOf([failed, first])?.runId).toBe(first.runId);
    },
  );

  it('a failed restore fails the run with its reason and leaves nothing', async () => {
    const world = workflowWorld(2);
    const name = await createWorkflow(world, 'LiveClone');
    const runId = await startRun(world, name);
    world.restores.failing.add(`${runId}-v1`);
    const run = await drive(world, runId);
    expect({ status: run.status, reason: run.reason }).toEqual({
      status: 'Failed',
      reason: `restore ${runId}-v1 of ${world.volumeIds[1]} (img-1-2) failed: image chunk missing`,
    });
    expect(world.ec2.snapshots.size).toBe(0);
  });

  it('createVolume makes a volume from each clone snapshot in the target zone', async () => {
    const world = workflowWorld(2);
    const name = await createWorkflow(world, 'LiveCloneVolume');
    const run = await drive(world, await startRun(world, name));
    expect(run.status).toBe('Succeeded');
    for (const volume of run.volumes) {
      const made = world.ec2.volumes.get(volume.volumeId!)!;
      expect({ snapshot: made.snapshotId, zone: made.availabilityZone, state: made.state }).toEqual({
        snapshot: volume.snapshotId,
        zone: ZONE,
        state: 'available',
      });
    }
  });

  it('a DirectMount attaches at the device, a refresh at the next free name before the old one goes, an unmount removes it', async () => {
    const world = workflowWorld(2);
    const name = await createWorkflow(world, 'DirectMount');
    const first = await drive(world, await startRun(world, name));
    expect(first.status).toBe('Succeeded');
    expect(first.volumes.map((v) => v.device)).toEqual(['/dev/sdf', '/dev/sdg']);
    expect(world.ec2.devicesInUse(INSTANCE)).toEqual(['/dev/sdf', '/dev/sdg', '/dev/xvda']);
    const second = await drive(world, await startRun(world, name));
    expect(second.status).toBe('Succeeded');
    expect(second.volumes.map((v) => v.device)).toEqual(['/dev/sdh', '/dev/sdi']);
    expect(world.ec2.devicesInUse(INSTANCE)).toEqual(['/dev/sdh', '/dev/sdi', '/dev/xvda']);
    expect([...world.ec2.volumes.keys()].sort()).toEqual(second.volumes.map((v) => v.volumeId).sort());
    const unmount = await drive(world, await startRun(world, name, 'unmount'));
    expect(unmount.status).toBe('Succeeded');
    expect(world.ec2.devicesInUse(INSTANCE)).toEqual(['/dev/xvda']);
    expect(world.ec2.volumes.size + world.ec2.snapshots.size).toBe(0);
  });
});

/** Of two starts at the same time, the run id of the one written; the other must be refused, naming it. */
function oneStarted(outcomes: readonly PromiseSettledResult<{ runId: string }>[], workflow: string): string {
  const written = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.runId] : []));
  const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
  expect(written).toHaveLength(1);
  expect(refused).toHaveLength(1);
  expect(refused[0]).toBeInstanceOf(ConflictError);
  expect((refused[0] as Error).message).toBe(`workflow ${workflow} is already running (run ${written[0]})`);
  return written[0]!;
}

describe('starts at the same time', () => {
  it('two API starts that both pass the checks: one run and one execution, the other refused naming it', async () => {
    const world = workflowWorld(2);
    const name = await createWorkflow(world, 'LiveClone');
    const started: string[] = [];
    const ports = {
      ...world.ports(),
      executions: {
        start: (runId: string) => {
          started.push(runId);
          return Promise.resolve();
        },
      },
      randomHex: () => (hex++).toString(16),
    };
    const reads = world.runs.pageReads.length;
    const runId = oneStarted(
      await Promise.allSettled([startWorkflowRun(ports, name, {}), startWorkflowRun(ports, name, {})]),
      name,
    );
    expect(world.runs.pageReads.length - reads).toBe(2);
    expect(started).toEqual([runId]);
    expect((await world.runs.list()).map((r) => r.runId)).toEqual([runId]);
    expect((await drive(world, runId)).status).toBe('Succeeded');
    expect((await startRun(world, name)) > runId).toBe(true);
  });

  it("a schedule's begin and an API start at the same time: one run; a retry of the begin that was written answers with its run", async () => {
    const world = workflowWorld(2);
    const name = await createWorkflow(world, 'LiveClone');
    const event = {
      action: 'begin' as const,
      executionName: 'sched-exec-1',
      startTime: world.clock.now().toISOString(),
      input: { workflow: name, runAction: 'run' as const, trigger: `schedule:${name}` },
    };
    const ports = {
      ...world.ports(),
      executions: { start: () => Promise.resolve() },
      randomHex: () => (hex++).toString(16),
    };
    const outcomes = await Promise.allSettled([
      beginWorkflowRun(world.ports(), event),
      startWorkflowRun(ports, name, {}),
    ]);
    const runId = oneStarted(outcomes, name);
    expect((await world.runs.list()).map((r) => r.runId)).toEqual([runId]);
    if (outcomes[0]?.status === 'fulfilled') {
      expect(await beginWorkflowRun(world.ports(), event)).toEqual({ runId, status: 'Running' });
    }
  });
});

describe('a recovery point as the image of a workflow', () => {
  function point(world: WorkflowWorld, id: string, serverId: string, volumes: readonly string[]): void {
    world.points.set(id, {
      version: 1,
      recoveryPointId: id,
      serverId,
      backupId: id.slice(3),
      createdAt: '2026-12-01T00:00:00.000Z',
      images: volumes.map((volumeId) => {
        const index = world.volumeIds.indexOf(volumeId);
        return {
          volumeId,
          device: `/dev/sd${'fgh'[index]}`,
          imageId: `img-${index}-1`,
          snapshotId: `snap-replica-${index}-1`,
          kind: 'full' as const,
        };
      }),
    });
  }

  async function withImage(world: WorkflowWorld, kind: Kind, image: string): Promise<string> {
    const name = await createWorkflow(world, kind);
    const record = (await world.workflows.get(name))!;
    await world.workflows.replace(
      { ...record, revision: 2, document: { ...record.document, image } },
      record.revision,
    );
    return name;
  }

  it('clones every volume of the recovery point (its images, not the latest) and mounts them at their devices', async () => {
    const world = workflowWorld(2);
    point(world, 'rp-bk-1', 'web01', world.volumeIds);
    const name = await withImage(world, 'DirectMount', 'rp-bk-1');
    const run = await drive(world, await startRun(world, name));
    expect(run.status).toBe('Succeeded');
    expect(run.volumes.map((v) => [v.sourceVolumeId, v.imageId, v.device])).toEqual([
      [world.volumeIds[0], 'img-0-1', '/dev/sdf'],
      [world.volumeIds[1], 'img-1-1', '/dev/sdg'],
    ]);
  });

  it.each([
    ['does not exist', () => undefined, 'workflow wfLiveClone: recovery point rp-bk-9 does not exist'],
    [
      "is another server's",
      (world: WorkflowWorld) => point(world, 'rp-bk-9', 'db01', world.volumeIds),
      'workflow wfLiveClone: recovery point rp-bk-9 is of server db01, not of web01',
    ],
    [
      "lacks one of the workflow's volumes",
      (world: WorkflowWorld) => point(world, 'rp-bk-9', 'web01', [world.volumeIds[0]!]),
      'workflow wfLiveClone: recovery point rp-bk-9 has no image of volume vol-00000000000000001 (it holds vol-00000000000000000)',
    ],
  ])('a run from a recovery point that %s is refused (400) and nothing starts', async (_, setUp, message) => {
    const world = workflowWorld(2);
    setUp(world);
    const name = await withImage(world, 'LiveClone', 'rp-bk-9');
    await expect(startRun(world, name)).rejects.toThrow(message);
    await expect(startRun(world, name)).rejects.toBeInstanceOf(ValidationError);
    expect(await world.runs.list()).toEqual([]);
    expect(world.restores.launched.size).toBe(0);
  });
});

const kinds = fc.constantFrom<Kind>('LiveClone', 'Masked', 'LiveCloneVolume', 'DirectMount');

/**
 * Watches every removal during the refresh: a removal of something the earlier run made must come
 * only once the new clone is complete (its snapshots completed and tagged with the new run's id)
 * and, for a DirectMount, attached.
 */
function watchReplacement(
  world: WorkflowWorld,
  kind: Kind,
  first: WorkflowRun,
  volumeCount: number,
): string[] {
  const violations: string[] = [];
  const earlier = new Set(first.volumes.flatMap((v) => [v.snapshotId, v.restoredSnapshotId, v.volumeId]));
  world.ec2.beforeRemoval = (event) => {
    if (!earlier.has(event.id)) return;
    const runId = [...world.runs.records.values()].find((r) => r.replacesRunId === first.runId)?.runId ?? '';
    const clones = liveSnapshotsTagged(world, 'rbp:run-id', runId).filter(
      (id) =>
        world.ec2.snapshots.get(id)!.state === 'completed' &&
        world.ec2.snapshots.get(id)!.tags['rbp:image'] !== undefined,
    );
    const attached = liveVolumesTagged(world, 'rbp:run-id', runId).filter(
      (id) => world.ec2.volumes.get(id)!.attachment?.state === 'attached',
    );
    if (clones.length !== volumeCount || (kind === 'DirectMount' && attached.length !== volumeCount)) {
      violations.push(
        `${event.kind} ${event.id} while the new clone has ${clones.length} complete snapshots, ${attached.length} attached volumes`,
      );
    }
  };
  return violations;
}

describe('workflow run engine properties', () => {
  it('retried steps never duplicate restores, masked snapshots or volumes; the earlier clone goes only after the new one is complete', async () => {
    await fc.assert(
      fc.asyncProperty(
        kinds,
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.constantFrom<Fault>('none', 'none', 'none', 'retryable-before', 'retryable-after'), {
          maxLength: 120,
        }),
        async (kind, volumeCount, faults) => {
          const world = workflowWorld(volumeCount);
          const name = await createWorkflow(world, kind);
          const first = await drive(world, await startRun(world, name));
          expect(first.status).toBe('Succeeded');
          const violations = watchReplacement(world, kind, first, volumeCount);
          const createdBefore = world.ec2.events.filter((e) => e.kind.startsWith('create-')).length;
          const hookCallsBefore = world.hook.invocations;
          let call = 0;
          const refresh = await drive(world, await startRun(world, name), () => faults[call++] ?? 'none');

          expect({ status: refresh.status, reason: refresh.reason }).toEqual({
            status: 'Succeeded',
            reason: undefined,
          });
          expect(violations).toEqual([]);
          // Exactly the new clone exists: one snapshot (and volume, where one is made) per volume.
          expect([...world.ec2.snapshots.keys()].sort()).toEqual(
            refresh.volumes.map((v) => v.snapshotId).sort(),
          );
          expect([...world.ec2.volumes.keys()].sort()).toEqual(
            refresh.volumes.flatMap((v) => (v.volumeId === undefined ? [] : [v.volumeId])).sort(),
          );
          // Nothing was made twice: a restore per volume, a masked snapshot per volume, a volume per volume.
          const created =
            world.ec2.events.slice().filter((e) => e.kind.startsWith('create-')).length - createdBefore;
          const perVolume =
            1 + (kind === 'Masked' ? 1 : 0) + (kind === 'DirectMount' || kind === 'LiveCloneVolume' ? 1 : 0);
          expect(created).toBe(perVolume * volumeCount);
          if (kind !== 'Masked') expect(world.hook.invocations).toBe(hookCallsBefore);
          if (kind === 'DirectMount') {
            expect(world.ec2.devicesInUse(INSTANCE)).toEqual(
              [...refresh.volumes.map((v) => v.device!), '/dev/xvda'].sort(),
            );
          }
          expect((await world.runs.get(first.runId))!.replacedByRunId).toBe(refresh.runId);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('a permanent failure anywhere before the replacement leaves the earlier clone as it was and nothing of the failed run', async () => {
    await fc.assert(
      fc.asyncProperty(
        kinds,
        fc.integer({ min: 1, max: 3 }),
        fc.nat({ max: 60 }),
        async (kind, volumeCount, failAt) => {
          const world = workflowWorld(volumeCount);
          const name = await createWorkflow(world, kind);
          const first = await drive(world, await startRun(world, name));
          const before = {
            snapshots: [...world.ec2.snapshots.keys()].sort(),
            volumes: [...world.ec2.volumes.keys()].sort(),
            devices: world.ec2.devicesInUse(INSTANCE),
          };
          const violations = watchReplacement(world, kind, first, volumeCount);
          let call = 0;
          const refresh = await drive(world, await startRun(world, name), () =>
            call++ === failAt ? 'permanent-before' : 'none',
          );
          expect(violations).toEqual([]);
          const ownSnapshots = liveSnapshotsTagged(world, 'rbp:run-id', refresh.runId);
          const restoreSnapshots = [...world.ec2.snapshots.entries()].filter(
            ([, s]) => s.madeBy === 'restore' && s.tags['rbp:restore-id']?.startsWith(refresh.runId) === true,
          );
          if (refresh.status === 'Succeeded') {
            expect([...world.ec2.snapshots.keys()].sort()).toEqual(
              refresh.volumes.map((v) => v.snapshotId).sort(),
            );
            return;
          }
          expect(refresh.reason).toMatch(/injected: \S+ refused/);
          const replacing =
            refresh.volumes.length > 0 && refresh.volumes.every((v) => v.snapshotId !== undefined);
          if (replacing) {
            // Failed while removing the earlier clone: the new clone is complete and kept, and is current.
            expect(ownSnapshots.sort()).toEqual(refresh.volumes.map((v) => v.snapshotId).sort());
            expect(currentRunOf([refresh, first])?.runId).toBe(refresh.runId);
            return;
          }
          expect({
            snapshots: [...world.ec2.snapshots.keys()].sort(),
            volumes: [...world.ec2.volumes.keys()].sort(),
            devices: world.ec2.devicesInUse(INSTANCE),
          }).toEqual(before);
          expect(ownSnapshots).toEqual([]);
          // An unmasked clone is never left behind.
          expect(restoreSnapshots).toEqual([]);
          expect(liveVolumesTagged(world, 'rbp:run-id', refresh.runId)).toEqual([]);
          expect(currentRunOf([refresh, first])?.runId).toBe(first.runId);
        },
      ),
      { numRuns: 120 },
    );
  });
});
