/**
 * A finished restore test's job record on DynamoDB (moto through the local stack): the job store
 * keeps the whole record as JSON in one item, and an item holds at most 400 KB
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items).
 * A test of RESTORE_TEST_MAX_FILES files whose results fit while it runs (as its progress) must also
 * fit when it finishes: the finished record holds the result and no longer the progress.
 */
import { afterAll, expect, it } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { LIFECYCLE_JOBS } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { JOB_RECORD_VERSION, jobExpiry } from '../../lambdas/core/jobs/job-store.ts';
import { RESTORE_TEST_JOB_KIND, runLifecycleJob } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import {
  RESTORE_TEST_MAX_FILES,
  RESTORE_TEST_PROGRESS_VERSION,
  type RestoreTestProgress,
} from '../../lambdas/core/lifecycle/restore-test.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { newWorld } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';

const local = useLocalStack();
let client: DynamoDBDocumentClient | undefined;
afterAll(() => client?.destroy());

/** A path as deep as real ones get (about 120 characters), numbered. */
const pathOf = (n: number) =>
  `/var/lib/postgresql/16/main/base/16384/pg_largeobject_metadata/segments/${'x'.repeat(40)}/${n}`;

/** Every server tested (one of RESTORE_TEST_MAX_FILES files), no whole-volume read left: the last save. */
function lastProgress(): RestoreTestProgress {
  const files = Array.from({ length: RESTORE_TEST_MAX_FILES }, (_, n) => ({
    volumeId: 'vol-0123456789abcdef0',
    partition: 1,
    path: pathOf(n),
    size: 8192,
    sha256: 'ab'.repeat(32),
  }));
  return {
    version: RESTORE_TEST_PROGRESS_VERSION,
    servers: ['db-01'],
    results: [
      {
        server: 'db-01',
        imageId: 'img-bk-1',
        images: ['vol-0123456789abcdef0/img-bk-1'],
        filesChecked: files.length,
        bytesChecked: files.length * 8192,
        durationMs: 1234,
        result: 'Passed',
        failures: [],
        files,
        notes: [],
      },
    ],
    wholeVolume: [],
    cursor: { image: 0, segment: 0 },
  };
}

it(`a restore test of ${RESTORE_TEST_MAX_FILES} files finishes in one DynamoDB item`, async () => {
  client ??= await createCatalogTable(local.clientConfig(), 'jobs');
  const jobs = new DynamoDbJobStore(client, 'jobs', LIFECYCLE_JOBS);
  const world = newWorld();
  const at = world.clock.now().toISOString();
  const progress = lastProgress();
  // The running record fits (about 250 KB), twice its results would not.
  const size = Buffer.byteLength(JSON.stringify(progress));
  expect(size).toBeGreaterThan(200 * 1024);
  expect(size).toBeLessThan(300 * 1024);
  await jobs.create({
    version: JOB_RECORD_VERSION,
    kind: RESTORE_TEST_JOB_KIND,
    jobId: 'restore-test-1',
    status: 'RUNNING',
    params: { files: RESTORE_TEST_MAX_FILES },
    progress,
    createdAt: at,
    updatedAt: at,
    expiresAtEpochSeconds: jobExpiry(at),
  });
  const run = lifecycleRunDeps(world, jobs, {
    restoreTest: {
      records: world.records,
      catalog: new MemoryCatalogStore(),
      images: world.images,
      clock: world.clock,
    },
  });
  const outcome = await runLifecycleJob(
    run,
    { kind: RESTORE_TEST_JOB_KIND, runId: 'restore-test-1' },
    world.clock.now().getTime() + 15 * 60 * 1000,
  );
  expect(outcome).toMatchObject({ continue: false, run: { status: 'passed' } });
  const done = await jobs.get('restore-test-1');
  expect(done.status).toBe('SUCCEEDED');
  expect(done.result).toEqual({ status: 'passed', servers: progress.results });
  expect(done.progress).toBeUndefined();
}, 120_000);
