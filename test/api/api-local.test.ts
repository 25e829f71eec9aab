/**
 * Every route of the REST API through the local gateway (HTTP, the API Gateway proxy adapter) and
 * as a direct handler call, over the real adapters on the local stack (local-api-fixture.ts):
 * answers checked against the source tree, restores downloaded and compared byte for byte.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, scratchDir } from '../support/fs-images.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { answerOf, proxyEvent } from './api-events.ts';
import {
  CHANGED_FILE,
  REPORT_V1,
  REPORT_V2,
  STANDIN_RUN_SECONDS,
  setUpLocalApi,
  type LocalApi,
} from './local-api-fixture.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
let work: string;
let api: LocalApi;

beforeAll(async () => {
  work = await scratchDir('api-local');
  api = await setUpLocalApi(local.stack, local.clientConfig(), work);
}, 300_000);

afterAll(async () => {
  api?.close();
  await removeDir(work);
});

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
}

type Query = Record<string, string>;

async function viaGateway(method: string, route: string, query: Query = {}, body?: unknown): Promise<Answer> {
  const url = new URL(`${api.apiUrl}${route}`);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  const response = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : {
          body: typeof body === 'string' ? body : JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        }),
  });
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function viaHandler(method: string, route: string, query: Query = {}, body?: unknown): Promise<Answer> {
  return answerOf(
    await api.handler(proxyEvent({ method, path: route, query, ...(body === undefined ? {} : { body }) })),
  );
}

/** Both ways for a read-only route: the same status and body. */
async function get(route: string, query: Query = {}): Promise<Answer> {
  const [gateway, direct] = [await viaGateway('GET', route, query), await viaHandler('GET', route, query)];
  expect(direct).toMatchObject({ status: gateway.status, body: gateway.body });
  return gateway;
}

const names = (answer: Answer) => (answer.body.items as { name: string }[]).map((item) => item.name);

async function sourceNames(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(path.join(api.source, dir))).sort();
}

async function poll(
  route: string,
  done: (body: Record<string, unknown>) => boolean,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await viaGateway('GET', route);
    expect(answer.status).toBe(200);
    if (done(answer.body)) return answer.body;
    if (Date.now() > deadline) throw new Error(`${route} did not finish: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('catalog routes on the local stack', () => {
  it('GET /volumes lists the replica with its two images', async () => {
    const answer = await get('/volumes');
    expect(answer.status).toBe(200);
    expect(answer.body.items).toEqual([
      expect.objectContaining({
        volumeId: api.volumeId,
        imageCount: 2,
        latestImageId: 'img-b',
        latestImageAt: '2026-03-02T00:00:00.000Z',
      }),
    ]);
  });

  it('GET /volumes/{volumeId}/images: newest first, time range, kind', async () => {
    const all = await get(`/volumes/${api.volumeId}/images`);
    expect(
      (all.body.items as { imageId: string; kind: string; status: string }[]).map((i) => [
        i.imageId,
        i.kind,
        i.status,
      ]),
    ).toEqual([
      ['img-b', 'incremental', 'cataloged'],
      ['img-a', 'full', 'cataloged'],
    ]);
    const firstDay = await get(`/volumes/${api.volumeId}/images`, { to: '2026-03-01T12:00:00Z' });
    expect((firstDay.body.items as { imageId: string }[]).map((i) => i.imageId)).toEqual(['img-a']);
  });

  it('GET /images/{imageId} answers the image record', async () => {
    const answer = await get('/images/img-b');
    expect(answer.body).toMatchObject({
      imageId: 'img-b',
      volumeId: api.volumeId,
      kind: 'incremental',
      parentImageId: 'img-a',
      formatVersion: 1,
    });
  });

  it('GET /images/{imageId}/files lists directories as the source has them, page by page', async () => {
    const root = await get('/images/img-b/files', { path: '/' });
    expect(names(root)).toEqual([...(await sourceNames('.')), 'lost+found'].sort(compareCodePoints));
    const docs = await get('/images/img-a/files', { path: '/docs/' });
    expect(docs.body.items).toEqual([
      expect.objectContaining({
        name: 'report.txt',
        path: CHANGED_FILE,
        type: 'file',
        sizeBytes: REPORT_V1.length,
      }),
    ]);
    const pages: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await get('/images/img-b/files', { path: '/', limit: '3', ...(cursor ? { cursor } : {}) });
      pages.push(...names(page));
      cursor = page.body.nextCursor as string | undefined;
    } while (cursor !== undefined);
    expect(pages).toEqual(names(root));
  });

  it('GET /volumes/{volumeId}/files/versions shows the change between the images', async () => {
    const answer = await get(`/volumes/${api.volumeId}/files/versions`, { path: CHANGED_FILE });
    expect(answer.body.items).toEqual([
      expect.objectContaining({
        firstImageId: 'img-a',
        untilImageId: 'img-b',
        removedAtUntil: false,
        sizeBytes: REPORT_V1.length,
      }),
      expect.objectContaining({ firstImageId: 'img-b', sizeBytes: REPORT_V2.length }),
    ]);
    expect((answer.body.items as object[])[1]).not.toHaveProperty('untilImageId');
  });

  it('GET /volumes/{volumeId}/files/search finds a file by name', async () => {
    const answer = await get(`/volumes/${api.volumeId}/files/search`, { name: 'postgresql.conf' });
    expect(
      (answer.body.items as { path: string; firstImageId: string }[]).map(
        (f) => `${f.path}@${f.firstImageId}`,
      ),
    ).toEqual(['/srv/pg/conf/postgresql.conf@img-a']);
  });

  it('GET /images/{imageId}/applications lists the agent’s applications', async () => {
    const answer = await get('/images/img-a/applications');
    expect(answer.body.items).toEqual([
      {
        name: 'orders-db',
        type: 'postgresql',
        version: '16.2',
        partition: 0,
        databases: [{ name: 'orders', paths: ['/srv/pg/data'] }],
        paths: ['/srv/pg/conf'],
      },
    ]);
  });

  it('answers 404 and 400 through the gateway as through the handler', async () => {
    expect((await get('/images/img-zz')).status).toBe(404);
    expect((await get('/images/img-a/files', { path: '/nope' })).body.message).toBe(
      '/nope does not exist in image img-a',
    );
    expect((await get('/images/img-a/files', { path: CHANGED_FILE })).body.message).toBe(
      `${CHANGED_FILE} is not a directory in image img-a`,
    );
    const huge = await viaGateway(
      'POST',
      '/restores',
      {},
      { imageId: 'img-a', kind: 'file', path: `/${'x'.repeat(20_000)}` },
    );
    expect(huge.status).toBe(413);
    const traversal = await viaGateway(
      'POST',
      '/restores',
      {},
      { imageId: 'img-a', kind: 'file', path: '/../etc/shadow' },
    );
    expect(traversal).toMatchObject({ status: 400, body: { code: 'InvalidRequest' } });
    const wrongMethod = await viaGateway('DELETE', '/volumes');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET');
  });
});

describe('bad input on the local stack', () => {
  async function stateCounts(): Promise<{ executions: number; restoreJobs: number }> {
    const executions = await api.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: api.stateMachineArn }),
    );
    const jobs = await api.engine.ddbClient.send(
      new ScanCommand({
        TableName: 'rbp-table',
        FilterExpression: 'begins_with(pk, :p)',
        ExpressionAttributeValues: { ':p': 'RESTORE#' },
      }),
    );
    return { executions: executions.executions?.length ?? 0, restoreJobs: jobs.Items?.length ?? 0 };
  }

  it('refuses malformed POSTs through the gateway with a 4xx and starts or creates nothing', async () => {
    const before = await stateCounts();
    const bad: [string, unknown, number, Record<string, string>?][] = [
      ['/backups', {}, 400],
      ['/backups', { volumeId: 42 }, 400],
      ['/backups', { volumeId: api.volumeId, full: 'yes' }, 400],
      ['/backups', { volumeId: 'vol-0aaaaaaaaaaaaaaaa' }, 404],
      ['/backups', { volumeId: api.volumeId, extra: true }, 400],
      ['/backups', '{"volumeId":', 400],
      ['/backups', { volumeId: api.volumeId }, 415, { 'content-type': 'text/plain' }],
      ['/backups', { volumeId: api.volumeId, pad: 'x'.repeat(100_000) }, 413],
      ['/restores', { imageId: 'img-a', kind: 'file', path: '/../../etc/shadow' }, 400],
      ['/restores', { imageId: 'img-a', kind: 'file', path: '/etc/\u0000' }, 400],
      ['/restores', { imageId: 'img-a', kind: 'disk' }, 400],
      ['/restores', { imageId: 'img-zz', kind: 'volume' }, 404],
      ['/restores', { imageId: '../img-a', kind: 'volume' }, 400],
      ['/restores', { imageId: 'img-a', kind: 'application' }, 400],
      ['/restores', { imageId: 'img-a', kind: 'volume', path: '/' }, 400],
    ];
    for (const [route, body, status, headers] of bad) {
      const response = await fetch(`${api.apiUrl}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const answer = (await response.json()) as { code: string; message: string };
      expect({ route, body, status: response.status }).toEqual({ route, body, status });
      expect(answer.message.length).toBeGreaterThan(0);
    }
    expect(await stateCounts()).toEqual(before);
  });
});

describe('backups on the local stack (Step Functions in moto)', () => {
  it('POST /backups starts one execution; a second start is refused with 409 while it runs; GET follows it to the end', async () => {
    const started = await viaGateway('POST', '/backups', {}, { volumeId: api.volumeId });
    expect(started.status).toBe(202);
    const backupId = started.body.backupId as string;
    expect(started.headers.location).toBe(`/backups/${backupId}`);
    const refused = await viaHandler('POST', '/backups', {}, { volumeId: api.volumeId, full: true });
    expect(refused.status).toBe(409);
    expect(refused.body.details).toEqual({
      reason: 'BackupAlreadyRunning',
      volumeId: api.volumeId,
      runningBackupId: backupId,
      // The lock is decided from the lock alone: its expiry tells the caller when it frees at the latest.
      lockExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
    });
    const executions = await api.sfn.send(
      new ListExecutionsCommand({ stateMachineArn: api.stateMachineArn }),
    );
    expect(executions.executions?.map((e) => e.name)).toEqual([backupId]);

    const running = await viaGateway('GET', `/backups/${backupId}`);
    expect(running.body).toMatchObject({ backupId, volumeId: api.volumeId, full: false, status: 'RUNNING' });
    const done = await poll(
      `/backups/${backupId}`,
      (body) => body.status !== 'RUNNING',
      (STANDIN_RUN_SECONDS + 20) * 1000,
    );
    expect(done).toMatchObject({ status: 'SUCCEEDED', imageId: 'img-standin' });
    expect(typeof done.stoppedAt).toBe('string');
    expect((await get('/backups/bk-unknown')).status).toBe(404);
  });
});

describe('restores on the local stack', () => {
  async function restoreFile(imageId: string, file: string): Promise<Buffer> {
    const started = await viaGateway('POST', '/restores', {}, { imageId, kind: 'file', path: file });
    expect(started.status).toBe(202);
    const restoreId = started.body.restoreId as string;
    const done = await poll(
      `/restores/${restoreId}`,
      (body) => body.status === 'SUCCEEDED' || body.status === 'FAILED',
    );
    expect(done).toMatchObject({ status: 'SUCCEEDED', kind: 'file', path: file, imageId });
    const response = await fetch(done.downloadUrl as string);
    expect(response.status).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  }

  it('restores a file as of each image, byte for byte', async () => {
    expect((await restoreFile('img-a', CHANGED_FILE)).toString()).toBe(REPORT_V1);
    expect(
      (await restoreFile('img-b', CHANGED_FILE)).equals(await readFile(path.join(api.source, CHANGED_FILE))),
    ).toBe(true);
    expect((await restoreFile('img-b', '/srv/pg/data/base/16384')).equals(Buffer.alloc(70_000, 3))).toBe(
      true,
    );
  });

  it('restores a directory to a tar archive', async () => {
    const started = await viaGateway(
      'POST',
      '/restores',
      {},
      { imageId: 'img-b', kind: 'directory', path: '/srv' },
    );
    const done = await poll(
      `/restores/${started.body.restoreId as string}`,
      (body) => body.status !== 'PENDING' && body.status !== 'RUNNING',
    );
    expect(done).toMatchObject({ status: 'SUCCEEDED', kind: 'directory' });
    const tar = Buffer.from(await (await fetch(done.downloadUrl as string)).arrayBuffer());
    expect(tar.length).toBe(done.sizeBytes);
    expect(tar.includes(Buffer.from('shared_buffers = 128MB\n'))).toBe(true);
  });

  it('restores the whole volume to a new completed EBS snapshot', async () => {
    const started = await viaGateway('POST', '/restores', {}, { imageId: 'img-b', kind: 'volume' });
    expect(started.status).toBe(202);
    const done = await poll(
      `/restores/${started.body.restoreId as string}`,
      (body) => body.status !== 'PENDING' && body.status !== 'RUNNING',
      120_000,
    );
    expect(done).toMatchObject({
      status: 'SUCCEEDED',
      kind: 'volume',
      imageId: 'img-b',
      volumeId: api.volumeId,
    });
    const snapshotId = done.snapshotId as string;
    expect(snapshotId).toMatch(/^snap-/);
    const described = await api.engine.ec2Client.send(
      new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }),
    );
    expect(described.Snapshots?.[0]?.State).toBe('completed');
  });

  it('answers 404 for an unknown restore', async () => {
    expect((await get('/restores/rs-unknown')).body).toEqual({
      code: 'NotFound',
      message: 'restore rs-unknown does not exist',
      details: { restoreId: 'rs-unknown' },
    });
  });
});

/** Code-point order (the catalog's listing order). */
function compareCodePoints(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
