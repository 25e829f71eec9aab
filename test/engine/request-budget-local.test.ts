/**
 * The account-wide request budgets (docs/scale.md) in a whole backup on the local stack: the real
 * state machine and the copy-range Lambda as deployed claim their GetSnapshotBlock and List* tokens
 * from the `BUDGET#<family>` items of the product's table (moto), and the image the backup writes
 * reads back byte for byte equal to the replica's disk.
 */
import '../support/quiet-powertools.ts';
import { readFile } from 'node:fs/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { BUDGET_SORT_KEY, budgetPartitionKey } from '../../lambdas/aws/dynamodb-request-budget.ts';
import type { RequestFamily } from '../../lambdas/core/store/request-budget.ts';
import { readImage, useDeployedProduct } from '../support/local-product.ts';

/** The replica disks makeReplica writes are 32 MiB ext4 images. */
const DISK_BYTES = 32 * 1024 * 1024;

const product = useDeployedProduct('request-budget-local', { handlerEnv: { RANGE_WORKERS: '2' } });
let documents: DynamoDBDocumentClient | undefined;
afterAll(() => documents?.destroy());

async function budgetItem(family: RequestFamily): Promise<Record<string, unknown> | undefined> {
  documents ??= DynamoDBDocumentClient.from(
    new DynamoDBClient(product.local.clientConfig({ maxAttempts: 3 })),
  );
  const { Item } = await documents.send(
    new GetCommand({
      TableName: product.product.names.table,
      Key: { pk: budgetPartitionKey(family), sk: BUDGET_SORT_KEY },
      ConsistentRead: true,
    }),
  );
  return Item;
}

describe('account request budgets in a backup on the local stack', () => {
  it('the deployed copy-range workers claim from the table budgets, and the image reads back byte for byte', async () => {
    const disk = await product.makeReplica('disk', {
      'etc/hostname': 'budget-01\n',
      'data/a.bin': Buffer.alloc(3_000_000, 7),
      'data/b.bin': Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => (i * 31) % 251)),
    });
    expect(await budgetItem('get-block')).toBeUndefined();
    const started = Date.now();
    const run = await product.rbp.json<{ status: string; images: { imageId: string }[] }>(
      'backup',
      'start',
      '--volume',
      disk.volumeId,
      '--wait',
      '--timeout',
      '600',
    );
    expect(run.status).toBe('SUCCEEDED');

    for (const family of ['get-block', 'list'] as const) {
      const item = await budgetItem(family);
      expect(item, `BUDGET#${family}`).toBeDefined();
      // Every claim is a conditional write that raises the version; the bucket was refilled during the backup.
      expect(Number(item!['version']), family).toBeGreaterThanOrEqual(1);
      expect(Number(item!['refilledAtMs']), family).toBeGreaterThanOrEqual(started);
      expect(Number(item!['refilledAtMs']), family).toBeLessThanOrEqual(Date.now());
    }
    // Nothing restores into EBS here, so nothing claims PutSnapshotBlock tokens.
    expect(await budgetItem('put-block')).toBeUndefined();

    const restored = await readImage(product.engine, disk.volumeId, run.images[0]!.imageId, DISK_BYTES);
    expect(restored.equals(await readFile(disk.image))).toBe(true);
  }, 600_000);
});
