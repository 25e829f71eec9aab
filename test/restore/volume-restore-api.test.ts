/**
 * POST /restores for volumes: a malformed kmsKeyArn or parentRestoreId is a 400 with its message
 * before any job exists; RestoreService gives the job the stack's key unless the caller names one,
 * launches it, and refuses a delta onto a restore of another volume or one that has not succeeded.
 */
import { describe, expect, it } from 'vitest';
import { RestoreService, type RestoreWorkerEvent } from '../../lambdas/core/api/restore-service.ts';
import type { Image } from '../../lambdas/core/api/schemas.ts';
import { volumeRestoreJobs } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { FixedClock, seededMemoryApi } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { answerOf, proxyEvent } from '../api/api-events.ts';

const STACK_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const CALLER_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/99999999-8888-7777-6666-555555555555';

function service() {
  const store = new MemoryJobStore();
  const launched: RestoreWorkerEvent[] = [];
  const restores = new RestoreService({
    jobs: store,
    objects: {
      upload: () => Promise.reject(new Error('unused')),
      presignDownload: () => Promise.reject(new Error('unused')),
    },
    launcher: {
      launch: (event) => {
        launched.push(event);
        return Promise.resolve();
      },
    },
    clock: new FixedClock(),
    keyToken: () => 'token',
    restoreKmsKeyArn: STACK_KEY,
  });
  return { restores, launched, jobs: volumeRestoreJobs(store) };
}

function image(volumeId: string, imageId: string): Image {
  return { volumeId, imageId } as Image;
}

describe('POST /restores for volumes', () => {
  it('refuses a malformed kmsKeyArn or parentRestoreId with 400 and the field', async () => {
    const api = seededMemoryApi();
    const handler = createApiHandler(api.deps, () => undefined);
    const bad = await handler(
      proxyEvent({
        method: 'POST',
        path: '/restores',
        body: { imageId: 'img-3', kind: 'volume', kmsKeyArn: 'alias/mine' },
      }),
    );
    const answer = answerOf(bad);
    expect(answer.status).toBe(400);
    expect(String(answer.body['message'])).toContain(
      'body.kmsKeyArn: must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)',
    );
    const badParent = answerOf(
      await handler(
        proxyEvent({
          method: 'POST',
          path: '/restores',
          body: { imageId: 'img-3', kind: 'volume', parentRestoreId: '../x' },
        }),
      ),
    );
    expect(badParent.status).toBe(400);
    expect(String(badParent.body['message'])).toContain('body.parentRestoreId');
  });

  it("gives the job the stack's key unless the caller names one, and launches it", async () => {
    const { restores, launched, jobs } = service();
    await restores.start('rs-a', image('vol-0123456789abcdef0', 'img-1'), {
      imageId: 'img-1',
      kind: 'volume',
    });
    await restores.start('rs-b', image('vol-0123456789abcdef0', 'img-1'), {
      imageId: 'img-1',
      kind: 'volume',
      kmsKeyArn: CALLER_KEY,
    });
    expect((await jobs.get('rs-a')).kmsKeyArn).toBe(STACK_KEY);
    expect((await jobs.get('rs-b')).kmsKeyArn).toBe(CALLER_KEY);
    expect(launched).toEqual([
      { restoreId: 'rs-a', kind: 'volume' },
      { restoreId: 'rs-b', kind: 'volume' },
    ]);
  });

  it('refuses a delta onto a restore of another volume, or one that has not succeeded, creating no job', async () => {
    const { restores, launched, jobs } = service();
    await restores.start('rs-a', image('vol-0123456789abcdef0', 'img-1'), {
      imageId: 'img-1',
      kind: 'volume',
    });
    await expect(
      restores.start('rs-b', image('vol-0fedcba9876543210', 'img-9'), {
        imageId: 'img-9',
        kind: 'volume',
        parentRestoreId: 'rs-a',
      }),
    ).rejects.toThrow(
      'parentRestoreId rs-a restored vol-0123456789abcdef0, not vol-0fedcba9876543210: a delta needs a restore of the same volume',
    );
    await expect(
      restores.start('rs-c', image('vol-0123456789abcdef0', 'img-2'), {
        imageId: 'img-2',
        kind: 'volume',
        parentRestoreId: 'rs-a',
      }),
    ).rejects.toThrow('parentRestoreId rs-a is pending: a delta needs a succeeded volume restore');
    await expect(jobs.get('rs-b')).rejects.toThrow();
    await expect(jobs.get('rs-c')).rejects.toThrow();
    expect(launched).toHaveLength(1);
  });
});
