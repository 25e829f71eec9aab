/**
 * Restore tests on the local stack: the API fixture's ext4 replica (two real backups, catalogued in
 * the table), `rbp restore-test run --wait --json` through the API and the lifecycle job Lambda on
 * the gateway passes; after a chunk holding a file's data is overwritten with garbage, the test
 * fails with exit 8 naming the file and the chunk, and the failure is published on the bus.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { LambdaWiring } from '../../lambdas/aws/wiring.ts';
import {
  RESTORE_TEST_FAILED_EVENT,
  type LifecycleRunDeps,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { LOCAL_API_NAMES } from '../api/local-api-fixture.ts';
import { useLocalApiProduct } from '../support/local-product.ts';
import { chunkOfFile } from './restore-test-fixture.ts';

/** The lifecycle job function's name on this test's gateway. */
const LIFECYCLE_FUNCTION = 'rbp-lifecycle-job';
/** A 70,000-byte file of the fixture's tree (so stored in extents, not inline). */
const VICTIM = '/srv/pg/data/base/16384';
const published: [string, unknown][] = [];
const failureCounts: number[] = [];
const product = useLocalApiProduct('restore-test-local');
const { rbp } = product;

beforeAll(() => {
  product.serveLifecycleApi(LIFECYCLE_FUNCTION);
  // The lifecycle job's dependencies as the Lambda wires them, over this stack's table and bucket.
  const wiring = new LambdaWiring(
    {
      TABLE_NAME: LOCAL_API_NAMES.table,
      IMAGE_BUCKET: LOCAL_API_NAMES.imageBucket,
      EVENT_BUS_NAME: 'default',
    },
    (client) => client,
    product.clientOptions(),
  );
  const wired = wiring.lifecycleRunDeps();
  const runDeps: LifecycleRunDeps = {
    ...wired,
    events: {
      publish: async (detailType, detail) => {
        published.push([detailType, detail]);
        await wired.events.publish(detailType, detail);
      },
    },
    recordFindings: () => undefined,
    recordRestoreTestFailures: (count) => failureCounts.push(count),
  };
  const job = createLifecycleJobHandler({ run: runDeps, relaunch: () => undefined });
  product.stack.gateway.registerFunction(LIFECYCLE_FUNCTION, (event, context) => job(event, context));
});

interface Summary {
  status: string;
  servers: {
    server: string;
    imageId: string;
    filesChecked: number;
    bytesChecked: number;
    durationMs: number;
    result: string;
    failures: string[];
  }[];
}

describe('restore tests on the local stack', () => {
  it(
    'rbp restore-test run passes, then fails with exit 8 naming the file and the chunk overwritten with garbage',
    { timeout: 300_000 },
    async () => {
      const run = ['restore-test', 'run', '--files', '1000', '--wait', '--json', '--poll-interval', '0.2'];
      const passed = await rbp.json<Summary>(...run);
      expect(Object.keys(passed)).toEqual(['status', 'servers']);
      expect(passed.status).toBe('passed');
      expect(passed.servers).toHaveLength(1);
      const [server] = passed.servers;
      expect(Object.keys(server!)).toEqual([
        'server',
        'imageId',
        'filesChecked',
        'bytesChecked',
        'durationMs',
        'result',
        'failures',
      ]);
      // The server is the replica volume's rbp:source-server tag, as the deployment reads it.
      const serverId = product.stack.replicas.get(product.api.volumeId)!.serverId;
      expect(server).toMatchObject({ server: serverId, imageId: 'img-b', result: 'Passed', failures: [] });
      // Every regular file of the fixture's tree (about 40 generated files and the application's).
      expect(server!.filesChecked).toBeGreaterThan(30);
      expect(server!.bytesChecked).toBeGreaterThan(70_000);
      expect(published).toEqual([]);
      expect(failureCounts).toEqual([0]);

      const record = await product.api.engine.records.getImageRecord(product.api.volumeId, 'img-b');
      const { key, name } = await chunkOfFile(product.api.engine.images, record, VICTIM);
      await product.api.engine.s3Client.send(
        new PutObjectCommand({
          Bucket: LOCAL_API_NAMES.imageBucket,
          Key: key,
          Body: Buffer.alloc(4096, 0x5a),
        }),
      );
      const failed = await rbp(...run);
      expect(failed.code, failed.stderr).toBe(EXIT.JOB_FAILED);
      const summary = JSON.parse(failed.stdout) as Summary;
      expect(summary.status).toBe('failed');
      expect(summary.servers[0]!.result).toBe('Failed');
      const failure = summary.servers[0]!.failures.find((f) => f.startsWith(`file ${VICTIM} `));
      expect(failure).toContain(name);
      expect(published.map(([type]) => type)).toEqual([RESTORE_TEST_FAILED_EVENT]);
      expect(JSON.stringify(published[0]![1])).toContain(name);
      expect(failureCounts).toEqual([0, 1]);
    },
  );
});
