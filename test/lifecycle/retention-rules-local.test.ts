/**
 * Where retention rules come from, on the local stack: a server's stored default (`rbp retention
 * set|show`, used by `retention apply --server/--volume` without rules), a plan's rules
 * (`--plan P`), a 400 naming what is missing when there are none, and the expiry after a plan run:
 * the plan-run function's `Plan Run Finished` event goes through EventBridge (the rule
 * lib/constructs/lifecycle-jobs.ts creates, stored in moto and delivered by the gateway) to the
 * lifecycle job function, which applies the plan's rules to the run's servers' images that the
 * plan made (their recovery points' trigger is `plan:keep-two`).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { DynamoDbGcCoordination, LIFECYCLE_JOBS } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { DynamoDbPlanStore } from '../../lambdas/aws/dynamodb-plan-store.ts';
import { DynamoDbRecoveryPointStore } from '../../lambdas/aws/dynamodb-recovery-points.ts';
import { EventBridgePublisher } from '../../lambdas/aws/outcome-publishers.ts';
import { PlanOutcomePublisher } from '../../lambdas/aws/plan-run-adapters.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { createSdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { lifecycleRetentionSources } from '../../lambdas/aws/wiring.ts';
import type { RetentionResult, StoredRetention } from '../../lambdas/core/api/lifecycle-api.ts';
import type { ExpiryRun, LifecycleRunDeps } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { expiryRunIdOf, expiryRunOf } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { PLAN_RECORD_FORMAT_VERSION } from '../../lambdas/core/plans/plan-service.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { realSleep } from '../../lambdas/core/util/retry.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { deployPlanRunExpiryRule, LOCAL_DEPLOYMENT, LOCAL_LIFECYCLE_FUNCTION } from '../../local/deploy.ts';
import { LOCAL_API_NAMES } from '../api/local-api-fixture.ts';
import { API_FIXTURE_DISK_BYTES, useLocalApiProduct } from '../support/local-product.ts';
import { imagePoint } from './plan-points.ts';

/** The fixture's ext4 image is 32 MiB; the rest of the 1 GiB volume was never written. */
const DISK_BYTES = API_FIXTURE_DISK_BYTES;
/** How long the asynchronous expiry may take on a loaded machine. */
const EXPIRY_WAIT_MS = 60_000;
const product = useLocalApiProduct('retention-rules-local');
const { rbp } = product;
const json = rbp.json;
let serverId: string;
let runDeps: LifecycleRunDeps;

async function imageIds(): Promise<string[]> {
  return (await json<{ imageId: string }[]>('images', 'ls', '--volume', product.api.volumeId)).map(
    (i) => i.imageId,
  );
}

beforeAll(async () => {
  serverId = product.stack.replicas.get(product.api.volumeId)!.serverId;
  const control = product.serveLifecycleApi();

  // The lifecycle job function and the rule that hands it every finished plan run, as deployed.
  const records = new DynamoDbLifecycleImageRecords(control.documents, LOCAL_API_NAMES.table, () =>
    Promise.resolve(new Map([[product.api.volumeId, serverId]])),
  );
  const objects = new S3LifecycleObjectStore(control.s3, LOCAL_API_NAMES.imageBucket);
  const recoveryPoints = new DynamoDbRecoveryPointStore(control.documents, LOCAL_API_NAMES.table);
  runDeps = {
    jobs: new DynamoDbJobStore(control.documents, LOCAL_API_NAMES.table, LIFECYCLE_JOBS),
    clock: systemClock,
    newRunId: (kind) => `${kind}-1`,
    gc: {
      objects,
      records,
      coordination: new DynamoDbGcCoordination(control.documents, LOCAL_API_NAMES.table),
      clock: systemClock,
    },
    scrub: { objects, records },
    retention: {
      objects,
      records,
      clock: systemClock,
      recoveryPoints,
      ...lifecycleRetentionSources(LOCAL_API_NAMES.table, control),
    },
    events: new EventBridgePublisher(control.eventBridge, 'default'),
    recordFindings: () => undefined,
  };
  const job = createLifecycleJobHandler({ run: runDeps, relaunch: () => undefined });
  product.stack.gateway.registerFunction(LOCAL_LIFECYCLE_FUNCTION, (event, context) => job(event, context));
  await deployPlanRunExpiryRule(product.clientOptions(), {
    ...LOCAL_DEPLOYMENT,
    table: LOCAL_API_NAMES.table,
  });

  // Two more images of the unchanged volume (img-c, img-d), a day apart.
  await product.backUp({ imageId: 'img-c', createdAt: '2026-03-03T00:00:00.000Z', parent: 'img-b' });
  await product.backUp({ imageId: 'img-d', createdAt: '2026-03-04T00:00:00.000Z', parent: 'img-c' });
  // Each image as a recovery point of plan keep-two's: a plan's expiry deletes only its own points.
  for (const image of await records.listImages()) {
    await recoveryPoints.put(imagePoint({ ...image, serverId }, 'plan:keep-two'));
  }
  const plans = new DynamoDbPlanStore(control.documents, LOCAL_API_NAMES.table);
  const now = new Date().toISOString();
  for (const document of [
    { name: 'no-rules', activities: [{ servers: serverId }] },
    { name: 'keep-two', retention: { keepLast: 2 }, activities: [{ servers: serverId }] },
  ]) {
    await plans.create({
      formatVersion: PLAN_RECORD_FORMAT_VERSION,
      name: document.name,
      document: parsePlanDocument(document),
      revision: 1,
      createdAt: now,
      updatedAt: now,
    });
  }
}, 300_000);

describe('stored and plan retention rules on the local stack', () => {
  it('without rules and without stored rules, apply is a 400 naming the server', async () => {
    const run = await rbp('retention', 'apply', '--server', serverId, '--dry-run');
    expect(run.code).toBe(EXIT.INVALID_REQUEST);
    expect(run.stderr).toContain(
      `no retention rules given and server ${serverId} has no stored retention rules; give at least one keep rule`,
    );
    const volume = await rbp('retention', 'apply', '--volume', product.api.volumeId, '--dry-run');
    expect(volume.code).toBe(EXIT.INVALID_REQUEST);
    expect(volume.stderr).toContain(`server ${serverId} has no stored retention rules`);
    const shown = await rbp('retention', 'show', '--server', serverId);
    expect(shown.code).toBe(EXIT.NOT_FOUND);
    expect(shown.stderr).toContain(`server ${serverId} has no stored retention rules`);
  });

  it('retention set stores a default that show returns and apply uses for the server and its volumes', async () => {
    const stored = await json<StoredRetention>('retention', 'set', '--server', serverId, '--keep-last', '3');
    expect(stored).toMatchObject({ serverId, rules: { keepLast: 3 } });
    expect(await json<StoredRetention>('retention', 'show', '--server', serverId)).toEqual(stored);
    const expected = [
      ['img-d', 'kept', ['last 3']],
      ['img-c', 'kept', ['last 3']],
      ['img-b', 'kept', ['last 3']],
      ['img-a', 'would-delete', []],
    ];
    for (const scope of [
      ['--server', serverId],
      ['--volume', product.api.volumeId],
    ]) {
      const result = await json<RetentionResult>('retention', 'apply', ...scope, '--dry-run');
      expect(result.images.map((i) => [i.imageId, i.outcome, i.reasons])).toEqual(expected);
      expect(new Set(result.images.map((i) => i.group))).toEqual(new Set([`${serverId}#replica`]));
    }
    const empty = await rbp('retention', 'set', '--server', serverId);
    expect(empty.code).toBe(EXIT.USAGE);
    expect(await imageIds()).toEqual(['img-d', 'img-c', 'img-b', 'img-a']);
  });

  it("--plan uses the plan's rules; a plan without rules is a 400 naming the plan", async () => {
    const none = await rbp('retention', 'apply', '--plan', 'no-rules', '--dry-run');
    expect(none.code).toBe(EXIT.INVALID_REQUEST);
    expect(none.stderr).toContain('plan no-rules has no retention rules and the request gives none');
    const missing = await rbp('retention', 'apply', '--plan', 'nothing-here', '--dry-run');
    expect(missing.code).toBe(EXIT.NOT_FOUND);
    expect(missing.stderr).toContain('plan nothing-here does not exist');
    const result = await json<RetentionResult>('retention', 'apply', '--plan', 'keep-two', '--dry-run');
    expect(result.images.map((i) => [i.imageId, i.outcome, i.reasons])).toEqual([
      ['img-d', 'kept', ['last 2']],
      ['img-c', 'kept', ['last 2']],
      ['img-b', 'would-delete', []],
      ['img-a', 'would-delete', []],
    ]);
  });

  it("a finished plan run is followed by an expiry of its servers with the plan's rules", async () => {
    const control = createSdkClients('control', product.clientOptions());
    const topic = await control.sns.send(new CreateTopicCommand({ Name: 'retention-rules-outcomes' }));
    const publisher = new PlanOutcomePublisher(control.eventBridge, 'default', control.sns, topic.TopicArn!);
    const event = {
      detailType: 'Plan Run Finished' as const,
      detail: {
        runId: 'pr-20260304t010000000z-0a1b2c3d',
        plan: 'keep-two',
        status: 'Succeeded' as const,
        tasks: [{ index: 0, server: serverId, status: 'Succeeded' as const }],
        trigger: 'manual',
        startedAt: '2026-03-04T01:00:00.000Z',
        finishedAt: '2026-03-04T01:05:00.000Z',
      },
    };
    await publisher.publish([event]);
    const runId = expiryRunIdOf(event.detail.runId);
    let run: ExpiryRun | undefined;
    const deadline = Date.now() + EXPIRY_WAIT_MS;
    while (Date.now() < deadline) {
      run = await runDeps.jobs
        .get(runId)
        .then(expiryRunOf)
        .catch(() => undefined);
      if (run?.status === 'complete' || run?.status === 'failed') break;
      await realSleep(200);
    }
    expect(run).toMatchObject({
      runId,
      status: 'complete',
      plan: 'keep-two',
      planRunId: event.detail.runId,
      result: {
        servers: [{ serverId, rules: 'plan', kept: 2, deleted: 2, notDeleted: [] }],
        deleted: [`${product.api.volumeId}/img-b`, `${product.api.volumeId}/img-a`],
      },
    });
    expect(await imageIds()).toEqual(['img-d', 'img-c']);
    const delivered = product.stack.gateway.eventRules!.deliveries();
    expect(delivered.filter((d) => d.detailType === 'Plan Run Finished').length).toBe(1);

    // EventBridge delivers at least once: the same event again finds the expiry done.
    await publisher.publish([event]);
    await realSleep(1_000);
    expect(await imageIds()).toEqual(['img-d', 'img-c']);
    expect(expiryRunOf(await runDeps.jobs.get(runId)).result?.deleted).toHaveLength(2);

    // The images left read back as before.
    const disk = await readFile(path.join(product.work, 'replica.img'));
    expect((await product.imageBytes('img-d')).equals(disk.subarray(0, DISK_BYTES))).toBe(true);
  });
});
