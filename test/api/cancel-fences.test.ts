/**
 * The fences that make a cancel clean, on DynamoDB (moto through the local stack):
 * - Commit Image writes the image record only while the backup holds its volume's lock: once a
 *   cancel released it, the commit is a ConflictError and nothing is committed; a commit that
 *   happened before stays (a re-run answers `exists`).
 * - A restore becomes CANCELLED with one conditional write; the worker's later writes are refused,
 *   so it never turns SUCCEEDED; a finished restore is a 409 with the message the CLI prints, an
 *   unknown one a 404; a volume restore's execution is stopped and its snapshot deleted, one whose
 *   snapshot is written cannot be cancelled.
 * - Restore jobs written before the listing key (GSI2) are listed: the first listing gives them
 *   the key once per table (a Scan and an UpdateItem each, then a marker); later listings do not scan.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbBackupLockStore } from '../../lambdas/aws/dynamodb-backup-lock.ts';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { RestoreService } from '../../lambdas/core/api/restore-service.ts';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { FILE_RESTORE_JOB } from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import { lockItemsFor } from '../../lambdas/core/orchestration/backup-lock.ts';
import { VOLUME_RESTORE_JOB } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
const VOLUME = 'vol-0c0c0c0c0c0c0c0c0';
const OWNER = 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-1';
const NOW = new Date('2026-12-03T09:00:00.000Z');
const clock = { now: () => NOW };
let documents: DynamoDBDocumentClient;
let records: DynamoDbImageRecordStore;
let locks: DynamoDbBackupLockStore;
let jobs: DynamoDbJobStore;

function record(imageId: string): ImageRecord {
  return {
    volumeId: VOLUME,
    imageId,
    createdAt: '2026-12-03T08:00:00.000Z',
    kind: 'full',
    formatVersion: 1,
    snapshotId: 'snap-0123456789abcdef0',
    volumeSizeBytes: 16 * 1024 * 1024,
    manifestKey: `manifests/${VOLUME}/${imageId}.json`,
    manifestSha256: 'ab'.repeat(32),
    stats: { chunksCreated: 1, bytesCreated: 100, blocksRead: 2 },
  };
}

beforeAll(async () => {
  documents = await createCatalogTable(local.clientConfig(), 'rbp-cancel');
  records = new DynamoDbImageRecordStore(documents, 'rbp-cancel');
  locks = new DynamoDbBackupLockStore(documents, 'rbp-cancel', clock);
  jobs = new DynamoDbJobStore(documents, 'rbp-cancel');
});

describe('the commit checks the lock', () => {
  it('commits while the backup holds the lock; after a cancel released it, nothing is committed', async () => {
    await locks.acquire(
      lockItemsFor({ volumeIds: [VOLUME], ownerId: OWNER, backupId: 'bk-1', ttlSeconds: 900 }, NOW),
    );
    const lock = { volumeId: VOLUME, ownerId: OWNER };
    expect(await records.putImageRecord(record('img-bk-1'), undefined, lock)).toBe('created');

    expect(await locks.release([VOLUME], OWNER)).toEqual({ released: 1 });
    // A re-run of the commit that happened before the cancel still finds its record.
    expect(await records.putImageRecord(record('img-bk-1'), undefined, lock)).toBe('exists');
    const late = records.putImageRecord(record('img-bk-2'), undefined, { volumeId: VOLUME, ownerId: OWNER });
    await expect(late).rejects.toThrow(ConflictError);
    await expect(late).rejects.toThrow(
      `image img-bk-2: its backup no longer holds the lock on ${VOLUME} (cancelled); not committed`,
    );
    await expect(records.getImageRecord(VOLUME, 'img-bk-2')).rejects.toThrow(NotFoundError);

    // Another backup's lock is not this one's either.
    await locks.acquire(
      lockItemsFor(
        { volumeIds: [VOLUME], ownerId: `${OWNER}-other`, backupId: 'bk-3', ttlSeconds: 900 },
        NOW,
      ),
    );
    await expect(records.putImageRecord(record('img-bk-2'), undefined, lock)).rejects.toThrow(ConflictError);
  });
});

describe('cancelling restores', () => {
  const stopped: string[] = [];
  const deleted: string[] = [];
  const service = () =>
    new RestoreService({
      jobs,
      objects: {
        presignGet: () => Promise.reject(new Error('no download for a cancelled restore')),
      } as never,
      launcher: {
        launch: () => Promise.resolve(),
        stop: (event) => {
          stopped.push(`${event.kind} ${event.restoreId}`);
          return Promise.resolve();
        },
      },
      clock,
      keyToken: () => 'k',
      deleteSnapshot: (snapshotId) => {
        deleted.push(snapshotId);
        return Promise.resolve('deleted' as const);
      },
    });

  it('a file restore ends CANCELLED; the worker can no longer finish it; a second cancel is a 409', async () => {
    const restores = service();
    const image = { imageId: 'img-bk-1', volumeId: VOLUME } as never;
    await restores.start('rs-file-1', image, { kind: 'file', imageId: 'img-bk-1', path: '/etc/motd' });
    const running = FILE_RESTORE_JOB.fromRecord(await jobs.get('rs-file-1'));
    await jobs.update(FILE_RESTORE_JOB.toRecord({ ...running, status: 'running' }), ['PENDING']);

    const cancelled = await restores.cancel('rs-file-1');
    expect(cancelled).toMatchObject({
      restoreId: 'rs-file-1',
      status: 'CANCELLED',
      error: 'cancelled by the operator',
    });
    expect(cancelled.downloadUrl).toBeUndefined();

    // The worker finishing afterwards is refused: the job stays CANCELLED.
    const done = FILE_RESTORE_JOB.toRecord({
      ...running,
      status: 'succeeded',
      result: { key: 'x', bytes: 1 },
    } as never);
    await expect(jobs.update(done, ['RUNNING'])).rejects.toThrow(ConflictError);
    expect((await jobs.get('rs-file-1')).status).toBe('CANCELLED');
    expect((await restores.list({ limit: 10, status: 'CANCELLED' })).items.map((r) => r.restoreId)).toEqual([
      'rs-file-1',
    ]);

    await expect(restores.cancel('rs-file-1')).rejects.toThrow(
      'restore rs-file-1 already finished (CANCELLED): there is nothing to cancel',
    );
    await expect(restores.cancel('rs-20261120t120000000z-0a1b2c3d4e5f6071')).rejects.toThrow(
      'restore rs-20261120t120000000z-0a1b2c3d4e5f6071 does not exist',
    );
  });

  it('a volume restore is stopped and its snapshot deleted; one whose snapshot is written is a 409', async () => {
    const restores = service();
    const base = {
      volumeId: VOLUME,
      imageId: 'img-bk-1',
      status: 'running' as const,
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    };
    await jobs.create(
      VOLUME_RESTORE_JOB.toRecord({ ...base, restoreId: 'rs-vol-1', snapshotId: 'snap-0aaaaaaaaaaaaaaaa' }),
    );
    expect(await restores.cancel('rs-vol-1')).toMatchObject({ status: 'CANCELLED', kind: 'volume' });
    expect(stopped).toEqual(['volume rs-vol-1']);
    expect(deleted).toEqual(['snap-0aaaaaaaaaaaaaaaa']);

    await jobs.create(
      VOLUME_RESTORE_JOB.toRecord({
        ...base,
        restoreId: 'rs-vol-2',
        snapshotId: 'snap-0bbbbbbbbbbbbbbbb',
        written: true,
      }),
    );
    await expect(restores.cancel('rs-vol-2')).rejects.toThrow(
      'restore rs-vol-2 already wrote snapshot snap-0bbbbbbbbbbbbbbbb: it can no longer be cancelled and finishes on its own',
    );
    expect((await jobs.get('rs-vol-2')).status).toBe('RUNNING');
    expect(deleted).toEqual(['snap-0aaaaaaaaaaaaaaaa']);
  });
});

describe('restore jobs from before the listing key', () => {
  it('are listed: the first listing backfills their key once, with a marker', async () => {
    const table = 'rbp-old-jobs';
    const docs = await createCatalogTable(local.clientConfig(), table);
    // A job as the store wrote it before the listing key: no gsi2pk/gsi2sk.
    const old = VOLUME_RESTORE_JOB.toRecord({
      restoreId: 'rs-20261101t080000000z-00000000000000a1',
      volumeId: VOLUME,
      imageId: 'img-bk-1',
      status: 'succeeded',
      snapshotId: 'snap-0ccccccccccccccccc',
      createdAt: '2026-11-01T08:00:00.000Z',
      updatedAt: '2026-11-01T08:05:00.000Z',
    });
    await docs.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: `RESTORE#${old.jobId}`,
          sk: 'JOB',
          entity: 'job',
          kind: old.kind,
          status: old.status,
          version: 1,
          job: JSON.stringify(old),
          ttl: old.expiresAtEpochSeconds,
        },
      }),
    );
    const store = new DynamoDbJobStore(docs, table);
    await store.create(
      VOLUME_RESTORE_JOB.toRecord({
        restoreId: 'rs-20261203t090000000z-00000000000000b2',
        volumeId: VOLUME,
        imageId: 'img-bk-1',
        status: 'pending',
        createdAt: NOW.toISOString(),
        updatedAt: NOW.toISOString(),
      }),
    );
    const listed = await store.list({ limit: 10 });
    expect(listed.items.map((j) => j.jobId)).toEqual([
      'rs-20261203t090000000z-00000000000000b2',
      'rs-20261101t080000000z-00000000000000a1',
    ]);
    const marker = await docs.send(
      new GetCommand({ TableName: table, Key: { pk: 'RESTORE#~listing-backfill', sk: 'MARKER' } }),
    );
    expect(marker.Item).toMatchObject({ backfilled: 1 });
    // A new container reads the marker and does not scan again; the old job stays listed.
    expect(await new DynamoDbJobStore(docs, table).backfillListing()).toBe(0);
    expect((await store.list({ limit: 10, status: 'SUCCEEDED' })).items.map((j) => j.jobId)).toEqual([
      'rs-20261101t080000000z-00000000000000a1',
    ]);
  });
});
