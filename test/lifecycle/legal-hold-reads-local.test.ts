/**
 * A legal hold is visible where an operator checks an image: the image record store's reads (what
 * GET /images/{id} and the listings project, record-directories.ts imageOf) carry `legalHold` and
 * its reason while the hold is set, and nothing once it is lifted. The hold is not part of the
 * commit: a backup that commits the same record again (a retried step) finds it `exists`, not a
 * conflict. DynamoDB on moto: the hold written by DynamoDbLifecycleImageRecords.setLegalHold, read
 * by DynamoDbImageRecordStore over the same items.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { imageOf } from '../../lambdas/core/api/record-directories.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import { describeImage } from '../../cli/commands/images.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
const destroy: (() => void)[] = [];
afterAll(() => destroy.forEach((d) => d()));

const OPERATOR = 'arn:aws:iam::123456789012:user/legal';

async function reads(store: DynamoDbImageRecordStore, record: ImageRecord): Promise<unknown[]> {
  const page = await store.pageImageRecords(record.volumeId, { limit: 10 });
  return [
    await store.getImageRecord(record.volumeId, record.imageId),
    await store.findImageRecord(record.imageId),
    ...(await store.listImageRecords(record.volumeId)),
    ...page.records,
  ];
}

describe('a legal hold on the image record store’s reads (DynamoDB on moto)', () => {
  it('shows while set, with its reason; a re-commit is `exists`; lifted, the record reads as committed', async () => {
    const documents = await createCatalogTable(local.clientConfig(), 'legal-hold-reads');
    destroy.push(() => documents.destroy());
    const store = new DynamoDbImageRecordStore(documents, 'legal-hold-reads');
    const lifecycle = new DynamoDbLifecycleImageRecords(documents, 'legal-hold-reads', () =>
      Promise.resolve(new Map()),
    );
    const record = fullImageRecord('vol-a', 'img-a1', '2026-04-01T00:00:00.000Z');
    await store.putImageRecord(record);

    const change = { changedAt: '2026-04-02T00:00:00.000Z', changedBy: OPERATOR };
    expect(
      await lifecycle.setLegalHold('vol-a', 'img-a1', { legalHold: true, reason: 'case 4711', ...change }),
    ).toBe('changed');
    const held = { ...record, legalHold: true, legalHoldReason: 'case 4711' };
    expect(await reads(store, record)).toEqual([held, held, held, held]);
    expect(await store.putImageRecord(record)).toBe('exists');
    const image = imageOf(held as ImageRecord, false);
    expect(image).toMatchObject({ imageId: 'img-a1', legalHold: true, legalHoldReason: 'case 4711' });
    expect(describeImage(image).split('\n')).toContain('Legal hold: yes (case 4711)');

    // A hold without a reason drops the one before.
    await lifecycle.setLegalHold('vol-a', 'img-a1', { legalHold: true, ...change });
    const bare = { ...record, legalHold: true };
    expect(await reads(store, record)).toEqual([bare, bare, bare, bare]);
    expect(describeImage(imageOf(bare as ImageRecord, false)).split('\n')).toContain('Legal hold: yes');

    await lifecycle.setLegalHold('vol-a', 'img-a1', { legalHold: false, ...change });
    expect(await reads(store, record)).toEqual([record, record, record, record]);
    expect(Object.keys(imageOf(record, false))).not.toContain('legalHold');
    expect(describeImage(imageOf(record, false))).not.toContain('Legal hold');
  });
});
