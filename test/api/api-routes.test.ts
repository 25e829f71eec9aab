/** Every route as a direct handler call (API Gateway proxy events) over the in-memory ports. */
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { seededMemoryApi, VOLUME_A, VOLUME_B, type MemoryApi } from '../fakes/memory-api-ports.ts';
import { answerOf, notProtectedVolume, proxyEvent, type Answer, type EventSpec } from './api-events.ts';

let api: MemoryApi;
let handler: ApiProxyHandler;
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));

beforeEach(() => {
  api = seededMemoryApi();
  handler = createApiHandler(api.deps, () => undefined);
});

describe('GET /volumes', () => {
  it('lists the protected volumes with their image counts', async () => {
    const answer = await call({ method: 'GET', path: '/volumes' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      items: [
        {
          volumeId: VOLUME_A,
          serverId: 's-0123456789abcdef0',
          device: '/dev/xvda',
          sizeGib: 1,
          imageCount: 3,
          latestImageId: 'img-3',
          latestImageAt: '2026-11-03T00:00:00.000Z',
        },
        { volumeId: VOLUME_B, sizeGib: 2, imageCount: 0 },
      ],
    });
    expect(answer.headers['content-type']).toBe('application/json');
  });

  it('pages with a cursor that leads to the rest and nothing else', async () => {
    const first = await call({ method: 'GET', path: '/volumes', query: { limit: '1' } });
    expect((first.body.items as { volumeId: string }[]).map((v) => v.volumeId)).toEqual([VOLUME_A]);
    expect(typeof first.body.nextCursor).toBe('string');
    const second = await call({
      method: 'GET',
      path: '/volumes',
      query: { limit: '1', cursor: first.body.nextCursor as string },
    });
    expect((second.body.items as { volumeId: string }[]).map((v) => v.volumeId)).toEqual([VOLUME_B]);
    expect(second.body.nextCursor).toBeUndefined();
  });
});

describe('GET /volumes/{volumeId}/images', () => {
  it('lists images newest first', async () => {
    const answer = await call({ method: 'GET', path: `/volumes/${VOLUME_A}/images` });
    expect(answer.status).toBe(200);
    expect((answer.body.items as { imageId: string }[]).map((i) => i.imageId)).toEqual([
      'img-3',
      'img-2',
      'img-1',
    ]);
  });

  it('filters by time range and kind', async () => {
    const answer = await call({
      method: 'GET',
      path: `/volumes/${VOLUME_A}/images`,
      query: { from: '2026-11-01T12:00:00Z', to: '2026-11-03T00:00:00.000Z', kind: 'incremental' },
    });
    expect((answer.body.items as { imageId: string }[]).map((i) => i.imageId)).toEqual(['img-3', 'img-2']);
    const none = await call({
      method: 'GET',
      path: `/volumes/${VOLUME_A}/images`,
      query: { status: 'committed' },
    });
    expect(none.body.items).toEqual([]);
  });

  it('pages through a filtered list; the cursor is bound to the filter', async () => {
    const first = await call({
      method: 'GET',
      path: `/volumes/${VOLUME_A}/images`,
      query: { limit: '2', kind: 'incremental' },
    });
    expect((first.body.items as { imageId: string }[]).map((i) => i.imageId)).toEqual(['img-3', 'img-2']);
    expect(first.body.nextCursor).toBeUndefined();
    const all = await call({ method: 'GET', path: `/volumes/${VOLUME_A}/images`, query: { limit: '2' } });
    const cursor = all.body.nextCursor as string;
    const rest = await call({
      method: 'GET',
      path: `/volumes/${VOLUME_A}/images`,
      query: { limit: '2', cursor },
    });
    expect((rest.body.items as { imageId: string }[]).map((i) => i.imageId)).toEqual(['img-1']);
    const otherFilter = await call({
      method: 'GET',
      path: `/volumes/${VOLUME_A}/images`,
      query: { kind: 'full', cursor },
    });
    expect(otherFilter.status).toBe(400);
    expect(otherFilter.body).toEqual({
      code: 'InvalidRequest',
      message: 'invalid cursor: it belongs to a different query',
      details: { field: 'cursor' },
    });
  });

  it('answers 404 for a volume that is not protected', async () => {
    const answer = await call({ method: 'GET', path: '/volumes/vol-0aaaaaaaaaaaaaaaa/images' });
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual(notProtectedVolume('vol-0aaaaaaaaaaaaaaaa'));
  });
});

describe('GET /images/{imageId}', () => {
  it('answers one image', async () => {
    const answer = await call({ method: 'GET', path: '/images/img-2' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      imageId: 'img-2',
      volumeId: VOLUME_A,
      kind: 'incremental',
      status: 'cataloged',
    });
  });
});

describe('GET /images/{imageId}/files', () => {
  it('lists the root by default and a normalised path', async () => {
    const root = await call({ method: 'GET', path: '/images/img-3/files' });
    expect((root.body.items as { name: string }[]).map((e) => e.name)).toEqual(['etc', 'home', 'srv']);
    const etc = await call({
      method: 'GET',
      path: '/images/img-3/files',
      query: { path: '//home/./ann/../ann/' },
    });
    expect(etc.body.items).toEqual([
      { name: 'notes.txt', path: '/home/ann/notes.txt', type: 'file', sizeBytes: 20 },
    ]);
  });

  it('pages a directory with store tokens behind signed cursors', async () => {
    const first = await call({
      method: 'GET',
      path: '/images/img-1/files',
      query: { path: '/etc', limit: '1' },
    });
    expect((first.body.items as { name: string }[]).map((e) => e.name)).toEqual(['hosts']);
    const cursor = first.body.nextCursor as string;
    expect(cursor).not.toContain('at:1');
    const second = await call({
      method: 'GET',
      path: '/images/img-1/files',
      query: { path: '/etc', limit: '1', cursor },
    });
    expect((second.body.items as { name: string }[]).map((e) => e.name)).toEqual(['passwd']);
    const elsewhere = await call({
      method: 'GET',
      path: '/images/img-2/files',
      query: { path: '/etc', cursor },
    });
    expect(elsewhere.status).toBe(400);
  });

  it('answers 404 for a path that is not a directory in that image', async () => {
    const answer = await call({ method: 'GET', path: '/images/img-1/files', query: { path: '/srv' } });
    expect(answer.status).toBe(404);
    expect(answer.body.message).toBe('/srv is not a directory in image img-1');
  });
});

describe('GET /volumes/{volumeId}/files/versions and /search', () => {
  it('lists the versions of a path', async () => {
    const answer = await call({
      method: 'GET',
      path: `/volumes/${VOLUME_A}/files/versions`,
      query: { path: '/home/ann/notes.txt' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.items).toEqual([
      {
        path: '/home/ann/notes.txt',
        type: 'file',
        sizeBytes: 10,
        firstImageId: 'img-1',
        firstImageAt: '2026-11-01T00:00:00.000Z',
        untilImageId: 'img-2',
        untilImageAt: '2026-11-02T00:00:00.000Z',
        removedAtUntil: false,
      },
      {
        path: '/home/ann/notes.txt',
        type: 'file',
        sizeBytes: 20,
        firstImageId: 'img-2',
        firstImageAt: '2026-11-02T00:00:00.000Z',
      },
    ]);
  });

  it('finds files by name', async () => {
    const answer = await call({
      method: 'GET',
      path: `/volumes/${VOLUME_A}/files/search`,
      query: { name: 'hosts' },
    });
    expect((answer.body.items as { path: string }[]).map((f) => f.path)).toEqual([
      '/etc/hosts',
      '/srv/hosts',
    ]);
  });
});

describe('GET /images/{imageId}/applications', () => {
  it('lists the applications recorded in the image', async () => {
    const answer = await call({ method: 'GET', path: '/images/img-3/applications' });
    expect(answer.body).toEqual({
      items: [
        {
          name: 'pg-main',
          type: 'postgresql',
          version: '16',
          databases: [{ name: 'app', paths: ['/var/lib/postgresql/16/main/base'] }],
          paths: ['/var/lib/postgresql/16/main'],
        },
      ],
    });
    const none = await call({ method: 'GET', path: '/images/img-1/applications' });
    expect(none.body).toEqual({ items: [] });
  });
});

describe('POST /backups and GET /backups/{backupId}', () => {
  it('starts one execution named by the backup id and describes it', async () => {
    const answer = await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_A, full: true } });
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ backupId: 'bk-0001', status: 'RUNNING' });
    expect(answer.headers.location).toBe('/backups/bk-0001');
    expect(JSON.parse(api.executions.executions.get('bk-0001')!.input!)).toEqual({
      volumeIds: [VOLUME_A],
      full: true,
      trigger: 'api:arn:aws:iam::123456789012:user/operator',
    });
    const status = await call({ method: 'GET', path: '/backups/bk-0001' });
    expect(status.body).toEqual({
      backupId: 'bk-0001',
      volumeId: VOLUME_A,
      full: true,
      status: 'RUNNING',
      startedAt: '2026-11-20T12:00:00.000Z',
      step: 'Acquire Lock',
    });
    api.executions.finish('bk-0001', {
      status: 'SUCCEEDED',
      stoppedAt: '2026-11-20T12:05:00.000Z',
      output: '{"image":{"result":{"imageId":"img-9"}}}',
      currentStep: 'Publish Outcome',
    });
    const done = await call({ method: 'GET', path: '/backups/bk-0001' });
    expect(done.body).toMatchObject({
      status: 'SUCCEEDED',
      imageId: 'img-9',
      stoppedAt: '2026-11-20T12:05:00.000Z',
    });
  });

  it('refuses a second backup of a volume while one runs (409 with the reason), and allows another volume', async () => {
    await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_A } });
    const second = await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_A } });
    expect(second.status).toBe(409);
    expect(second.body).toEqual({
      code: 'Conflict',
      message: `a backup of ${VOLUME_A} is already running (bk-0001); wait for it to finish`,
      details: {
        reason: 'BackupAlreadyRunning',
        volumeId: VOLUME_A,
        runningBackupId: 'bk-0001',
        lockExpiresAt: '2026-11-20T12:15:00.000Z',
      },
    });
    expect(api.executions.startCalls).toBe(1);
    const other = await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_B } });
    expect(other.status).toBe(202);
  });

  it('refuses while the volume lock is held and not expired; an expired lock does not block', async () => {
    /** Another run's lock on volume A. */
    const holdA = (backupId: string, expiresAt: string) =>
      api.locks.locks.set(VOLUME_A, {
        volumeId: VOLUME_A,
        ownerId: `arn:execution:${backupId}`,
        backupId,
        acquiredAt: '2026-11-20T00:00:00.000Z',
        expiresAt,
      });
    holdA('scheduled-1', '2026-11-21T00:00:00.000Z');
    const held = await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_A } });
    expect(held.status).toBe(409);
    expect(held.body.details).toEqual({
      reason: 'BackupAlreadyRunning',
      volumeId: VOLUME_A,
      runningBackupId: 'scheduled-1',
      lockExpiresAt: '2026-11-21T00:00:00.000Z',
    });
    holdA('crashed', '2026-11-20T11:59:59.999Z');
    const expired = await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_A } });
    expect(expired.status).toBe(202);
  });
});

describe('POST /restores and GET /restores/{restoreId}', () => {
  it.each([
    [
      { imageId: 'img-3', kind: 'file', path: '/etc/../etc/hosts' },
      { kind: 'file', path: '/etc/hosts' },
    ],
    [
      { imageId: 'img-3', kind: 'directory', path: '/home/ann/' },
      { kind: 'directory', path: '/home/ann' },
    ],
    [
      { imageId: 'img-3', kind: 'application', application: 'pg-main' },
      { kind: 'application', application: 'pg-main' },
    ],
    [
      { imageId: 'img-3', kind: 'application', application: 'pg-main', partition: 1 },
      { kind: 'application', application: 'pg-main' },
    ],
    [{ imageId: 'img-3', kind: 'volume' }, { kind: 'volume' }],
  ])('accepts %j (202) and reports it', async (body, expected) => {
    const answer = await call({ method: 'POST', path: '/restores', body });
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ restoreId: 'rs-0001', status: 'PENDING' });
    const status = await call({ method: 'GET', path: '/restores/rs-0001' });
    expect(status.body).toEqual({
      restoreId: 'rs-0001',
      imageId: 'img-3',
      volumeId: VOLUME_A,
      status: 'PENDING',
      createdAt: '2026-11-20T12:00:00.000Z',
      ...expected,
    });
  });

  it('reports the download URL or the snapshot id once done', async () => {
    await call({
      method: 'POST',
      path: '/restores',
      body: { imageId: 'img-3', kind: 'file', path: '/etc/hosts' },
    });
    api.restores.finish('rs-0001', {
      status: 'SUCCEEDED',
      downloadUrl: 'https://example.invalid/x?sig=1',
      sizeBytes: 120,
    });
    const status = await call({ method: 'GET', path: '/restores/rs-0001' });
    expect(status.body).toMatchObject({
      status: 'SUCCEEDED',
      downloadUrl: 'https://example.invalid/x?sig=1',
      sizeBytes: 120,
    });
  });

  it('answers 404 for a restore of an unknown image, without creating a job', async () => {
    const answer = await call({
      method: 'POST',
      path: '/restores',
      body: { imageId: 'img-404', kind: 'volume' },
    });
    expect(answer.status).toBe(404);
    expect(api.restores.startCalls).toBe(0);
  });
});

describe('bodies', () => {
  it('reads base64-encoded bodies as API Gateway passes binary media', async () => {
    const answer = await call({
      method: 'POST',
      path: '/backups',
      body: { volumeId: VOLUME_A },
      base64: true,
    });
    expect(answer.status).toBe(202);
  });
});
