/**
 * The bad-input suite: malformed requests of every kind (wrong types, missing fields, huge bodies,
 * traversal, unknown ids, tampered cursors, wrong methods). Each must be answered with the exact
 * 4xx and a message in the one error shape, never a 5xx, and must change nothing: no execution
 * started, no restore job created, the world as before.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CursorCodec, queryScope } from '../../lambdas/core/api/cursor.ts';
import { MAX_REQUEST_BODY_BYTES } from '../../lambdas/core/api/api-router.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { seededMemoryApi, VOLUME_A } from '../fakes/memory-api-ports.ts';
import { answerOf, proxyEvent, type EventSpec } from './api-events.ts';

interface BadCase extends EventSpec {
  readonly name: string;
  readonly status: number;
  readonly message: RegExp;
}

const api = seededMemoryApi();
const handler = createApiHandler(api.deps, () => undefined);
const worldBefore = JSON.stringify({
  world: api.world,
  volumes: api.world.volumes,
  images: api.world.images,
});

let volumesCursor = '';
beforeAll(async () => {
  const answer = answerOf(
    await handler(proxyEvent({ method: 'GET', path: '/volumes', query: { limit: '1' } })),
  );
  volumesCursor = answer.body.nextCursor as string;
});

/** Flips one character of the MAC (or the payload) of a cursor. */
function tamper(cursor: string, part: 'payload' | 'mac'): string {
  const [payload, mac] = cursor.split('.') as [string, string];
  const flip = (text: string, index: number) =>
    text.slice(0, index) + (text[index] === 'A' ? 'B' : 'A') + text.slice(index + 1);
  return part === 'mac' ? `${payload}.${flip(mac, 3)}` : `${flip(payload, 5)}.${mac}`;
}

const restore = (body: unknown): EventSpec => ({ method: 'POST', path: '/restores', body });
const backup = (body: unknown): EventSpec => ({ method: 'POST', path: '/backups', body });
/** A restore of `path` from img-3. */
const restorePath = (kind: string, path: unknown): EventSpec => restore({ imageId: 'img-3', kind, path });
const get = (path: string, query?: EventSpec['query']): EventSpec => ({ method: 'GET', path, query });
const images = (query: Record<string, string | string[]>): EventSpec =>
  get(`/volumes/${VOLUME_A}/images`, query);

/** A case: the request (built when the case runs, for those that need the cursor), its status and message. */
function bad(
  name: string,
  spec: EventSpec | (() => EventSpec),
  status: number,
  message: RegExp,
): () => BadCase {
  return () => ({ name, ...(typeof spec === 'function' ? spec() : spec), status, message });
}

const cases: (() => BadCase)[] = [
  // POST /backups: missing fields, wrong types, unknown fields, unknown volumes
  bad(
    'backup without volumeId or serverId',
    backup({}),
    400,
    /^invalid request: body: give exactly one of volumeId and serverId$/,
  ),
  bad(
    'backup with both volumeId and serverId',
    backup({ volumeId: 'vol-0123456789abcdef0', serverId: 'web-01' }),
    400,
    /^invalid request: body: give exactly one of volumeId and serverId$/,
  ),
  bad(
    'backup with numeric volumeId',
    backup({ volumeId: 123 }),
    400,
    /body\.volumeId: Invalid input: expected string, received number/,
  ),
  bad(
    'backup with malformed volumeId',
    backup({ volumeId: 'vol-xyz' }),
    400,
    /body\.volumeId: must be an EBS volume id/,
  ),
  bad(
    'backup volumeId with a newline',
    backup({ volumeId: `${VOLUME_A}\n` }),
    400,
    /body\.volumeId: must be an EBS volume id/,
  ),
  bad(
    'backup volumeId as an array',
    backup({ volumeId: [VOLUME_A] }),
    400,
    /expected string, received array/,
  ),
  bad(
    'backup full as a string',
    backup({ volumeId: VOLUME_A, full: 'yes' }),
    400,
    /body\.full: Invalid input: expected boolean, received string/,
  ),
  bad(
    'backup with an unknown field',
    backup({ volumeId: VOLUME_A, volumeIds: [VOLUME_A] }),
    400,
    /body: unknown field\(s\): volumeIds/,
  ),
  bad('backup body is an array', backup([]), 400, /body: Invalid input: expected object, received array/),
  bad('backup body is null', backup('null'), 400, /body: Invalid input: expected object, received null/),
  bad('backup body is not JSON', backup('{"volumeId":'), 400, /^invalid request: body: not valid JSON$/),
  bad('backup without a body', { method: 'POST', path: '/backups' }, 400, /body: a JSON object is required/),
  bad(
    'backup body as text/plain',
    { ...backup({ volumeId: VOLUME_A }), headers: { 'content-type': 'text/plain' } },
    415,
    /must be application\/json, not text\/plain/,
  ),
  bad(
    'backup body of 1 MiB',
    backup({ volumeId: VOLUME_A, pad: 'x'.repeat(1_048_576) }),
    413,
    /at most 16384 are accepted/,
  ),
  bad(
    'backup body one byte over the limit',
    backup(' '.repeat(MAX_REQUEST_BODY_BYTES + 1)),
    413,
    /has 16385 bytes/,
  ),
  bad(
    'backup body not UTF-8',
    {
      method: 'POST',
      path: '/backups',
      body: Buffer.from([0xff, 0xfe, 0x7b]).toString('latin1'),
      base64: true,
    },
    400,
    /^invalid request: body: not UTF-8$/,
  ),
  bad(
    'backup of an unknown volume',
    backup({ volumeId: 'vol-0aaaaaaaaaaaaaaaa' }),
    404,
    /^volume vol-0aaaaaaaaaaaaaaaa is not a protected replica volume$/,
  ),
  // POST /restores
  bad(
    'restore with an empty body',
    restore({}),
    400,
    /body\.kind: Invalid discriminator value. Expected 'file' \| 'directory' \| 'application' \| 'volume'/,
  ),
  bad('restore without kind', restore({ imageId: 'img-3', path: '/etc/hosts' }), 400, /body\.kind/),
  bad('restore of an unknown kind', restore({ imageId: 'img-3', kind: 'disk' }), 400, /body\.kind/),
  bad(
    'file restore without path',
    restore({ imageId: 'img-3', kind: 'file' }),
    400,
    /body\.path: Invalid input: expected string, received undefined/,
  ),
  bad(
    'file restore with a numeric path',
    restorePath('file', 42),
    400,
    /body\.path: Invalid input: expected string, received number/,
  ),
  bad(
    'file restore of a relative path',
    restorePath('file', '../etc/passwd'),
    400,
    /body\.path: path must be absolute/,
  ),
  bad(
    'file restore climbing above the root',
    restorePath('file', '/../etc/passwd'),
    400,
    /path must not climb above the root/,
  ),
  bad(
    'file restore climbing twice',
    restorePath('file', '/etc/../../etc/shadow'),
    400,
    /path must not climb above the root/,
  ),
  bad(
    'directory restore climbing from deep',
    restorePath('directory', '/a/b/../../../..'),
    400,
    /path must not climb above the root/,
  ),
  bad(
    'file restore with NUL',
    restorePath('file', '/etc/passwd\u0000.txt'),
    400,
    /path must not contain NUL/,
  ),
  bad(
    'file restore with a lone surrogate',
    restorePath('file', '/etc/\ud800'),
    400,
    /path must be valid Unicode/,
  ),
  bad(
    'file restore of a 5,000-byte path',
    restore({ imageId: 'img-3', kind: 'file', path: `/${'a/'.repeat(2500)}` }),
    400,
    /path must be at most 4096 bytes/,
  ),
  bad(
    'file restore with a 300-byte name',
    restore({ imageId: 'img-3', kind: 'file', path: `/etc/${'n'.repeat(300)}` }),
    400,
    /each name must be at most 255 bytes/,
  ),
  bad(
    'application restore without application',
    restore({ imageId: 'img-3', kind: 'application' }),
    400,
    /body\.application/,
  ),
  bad(
    'application name with a slash',
    restore({ imageId: 'img-3', kind: 'application', application: '../pg' }),
    400,
    /body\.application: must not contain \/ or NUL/,
  ),
  bad(
    'volume restore with a path',
    restore({ imageId: 'img-3', kind: 'volume', path: '/' }),
    400,
    /unknown field\(s\): path/,
  ),
  bad(
    'restore of a traversal image id',
    restore({ imageId: '../img-3', kind: 'volume' }),
    400,
    /body\.imageId: must be an image id/,
  ),
  bad(
    'restore of an 129-character image id',
    restore({ imageId: 'i'.repeat(129), kind: 'volume' }),
    400,
    /body\.imageId: must be an image id/,
  ),
  bad(
    'restore of an unknown image',
    restore({ imageId: 'img-404', kind: 'file', path: '/etc/hosts' }),
    404,
    /^image img-404 does not exist$/,
  ),
  // pagination and query strings
  bad('limit 0', get('/volumes', { limit: '0' }), 400, /query\.limit: Too small/),
  bad(
    'limit not a number',
    get('/volumes', { limit: 'abc' }),
    400,
    /query\.limit: Invalid input: expected number, received NaN/,
  ),
  bad('limit fractional', get('/volumes', { limit: '1.5' }), 400, /query\.limit: must be an integer/),
  bad('limit too large', get('/volumes', { limit: '100000' }), 400, /query\.limit: Too big/),
  bad('limit given twice', get('/volumes', { limit: ['1', '2'] }), 400, /query\.limit: given more than once/),
  bad('unknown query parameter', get('/volumes', { owner: 'me' }), 400, /query: unknown field\(s\): owner/),
  bad(
    'cursor with a tampered MAC',
    () => get('/volumes', { cursor: tamper(volumesCursor, 'mac') }),
    400,
    /^invalid cursor: it was altered or was not issued by this API$/,
  ),
  bad(
    'cursor with a tampered payload',
    () => get('/volumes', { cursor: tamper(volumesCursor, 'payload') }),
    400,
    /^invalid cursor: it was altered or was not issued by this API$/,
  ),
  bad(
    'cursor that is garbage',
    get('/volumes', { cursor: 'abc' }),
    400,
    /^invalid cursor: not a cursor issued by this API$/,
  ),
  bad(
    'cursor of another query',
    () => images({ cursor: volumesCursor }),
    400,
    /^invalid cursor: it belongs to a different query$/,
  ),
  bad('cursor too long', get('/volumes', { cursor: 'a'.repeat(3000) }), 400, /query\.cursor: Too big/),
  bad(
    'cursor signed with another key',
    get('/volumes', {
      cursor: new CursorCodec(new Uint8Array(32).fill(9)).encode(queryScope('listVolumes', {}), {
        offset: 1,
      }),
    }),
    400,
    /^invalid cursor: it was altered or was not issued by this API$/,
  ),
  bad(
    'cursor with an offset position where a store token is expected',
    get('/images/img-1/files', {
      cursor: api.deps.cursors.encode(queryScope('listFiles', { imageId: 'img-1', path: '/' }), {
        offset: 1,
      }),
    }),
    400,
    /^invalid cursor: it belongs to a different query$/,
  ),
  bad(
    'images of a malformed volume id',
    get('/volumes/vol-bad/images'),
    400,
    /path\.volumeId: must be an EBS volume id/,
  ),
  bad('images from a non-date', images({ from: 'yesterday' }), 400, /query\.from: Invalid ISO datetime/),
  bad(
    'images from after to',
    images({ from: '2026-11-03T00:00:00Z', to: '2026-11-01T00:00:00Z' }),
    400,
    /query\.from: from must not be after to/,
  ),
  bad('images of an unknown status', images({ status: 'deleted' }), 400, /query\.status: Invalid option/),
  // ids and paths in the URL
  bad(
    'image id with an encoded traversal',
    get('/images/..%2F..%2Fetc'),
    400,
    /path\.imageId: must be an image id/,
  ),
  bad('image id with broken percent-encoding', get('/images/%E0%A4%A'), 400, /not valid percent-encoding/),
  bad('unknown image', get('/images/img-404'), 404, /^image img-404 does not exist$/),
  bad('files of an unknown image', get('/images/img-404/files'), 404, /^image img-404 does not exist$/),
  bad(
    'listing above the root',
    get('/images/img-3/files', { path: '/../..' }),
    400,
    /query\.path: path must not climb above the root/,
  ),
  bad(
    'listing a relative path',
    get('/images/img-3/files', { path: '../..' }),
    400,
    /query\.path: path must be absolute/,
  ),
  bad(
    'listing a path with NUL',
    get('/images/img-3/files', { path: '/etc\u0000' }),
    400,
    /query\.path: path must not contain NUL/,
  ),
  bad(
    'listing an empty path',
    get('/images/img-3/files', { path: '' }),
    400,
    /query\.path: path must not be empty/,
  ),
  bad(
    'versions without path',
    get(`/volumes/${VOLUME_A}/files/versions`),
    400,
    /query\.path: Invalid input: expected string, received undefined/,
  ),
  bad(
    'versions of an unknown volume',
    get('/volumes/vol-bad/files/versions', { path: '/' }),
    400,
    /path\.volumeId/,
  ),
  bad('search without name', get(`/volumes/${VOLUME_A}/files/search`), 400, /query\.name: Invalid input/),
  bad(
    'search for a path, not a name',
    get(`/volumes/${VOLUME_A}/files/search`, { name: '../etc/passwd' }),
    400,
    /name must be a file name/,
  ),
  bad(
    'search for a 300-character name',
    get(`/volumes/${VOLUME_A}/files/search`, { name: 'n'.repeat(300) }),
    400,
    /query\.name: Too big/,
  ),
  bad(
    'applications of an unknown image',
    get('/images/img-404/applications'),
    404,
    /^image img-404 does not exist$/,
  ),
  bad('unknown backup', get('/backups/bk-404'), 404, /^backup bk-404 does not exist$/),
  bad(
    'backup id with a traversal',
    get('/backups/..%2F..%2Fetc'),
    400,
    /path\.backupId: must be a backup id/,
  ),
  bad('unknown restore', get('/restores/rs-404'), 404, /^restore rs-404 does not exist$/),
  bad(
    'restore id too long',
    get(`/restores/${'r'.repeat(100)}`),
    400,
    /path\.restoreId: must be a restore id/,
  ),
  bad(
    'an overlong URL path',
    get(`/images/${'x'.repeat(2000)}`),
    400,
    /request path is longer than 1024 characters/,
  ),
  // wrong methods and unknown routes
  bad(
    'DELETE /volumes',
    { method: 'DELETE', path: '/volumes' },
    405,
    /^method DELETE is not allowed here; allowed: GET$/,
  ),
  bad('POST /volumes', { method: 'POST', path: '/volumes', body: {} }, 405, /allowed: GET$/),
  bad(
    'PUT /backups',
    { method: 'PUT', path: '/backups', body: { volumeId: VOLUME_A } },
    405,
    /allowed: GET, POST$/,
  ),
  bad('DELETE /backups', { method: 'DELETE', path: '/backups' }, 405, /allowed: GET, POST$/),
  bad(
    'PATCH /restores/{id}',
    { method: 'PATCH', path: '/restores/rs-1', body: { status: 'SUCCEEDED' } },
    405,
    /allowed: GET$/,
  ),
  bad('DELETE /images/{id}/files', { method: 'DELETE', path: '/images/img-3/files' }, 405, /allowed: GET$/),
  bad('an unknown route', get('/nothing'), 404, /^no such resource: \/nothing$/),
  bad('an unknown sub-resource', get(`/volumes/${VOLUME_A}/snapshots`), 404, /^no such resource/),
];

describe('bad input', () => {
  it('has at least 50 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases.map((make, index) => [index, make] as const))(
    'case %i is refused with its exact status and message',
    async (_index, make) => {
      const badCase = make();
      const answer = answerOf(await handler(proxyEvent(badCase)));
      expect({ name: badCase.name, status: answer.status }).toEqual({
        name: badCase.name,
        status: badCase.status,
      });
      expect(answer.body.message).toMatch(badCase.message);
      expect(Object.keys(answer.body).sort()).toEqual(['code', 'details', 'message']);
      expect(typeof answer.body.code).toBe('string');
    },
  );

  it('changed nothing: no execution started, no restore job created, the world as before', () => {
    expect(api.executions.startCalls).toBe(0);
    expect(api.executions.executions.size).toBe(0);
    expect(api.restores.startCalls).toBe(0);
    expect(api.restores.jobs.size).toBe(0);
    expect(JSON.stringify({ world: api.world, volumes: api.world.volumes, images: api.world.images })).toBe(
      worldBefore,
    );
  });
});
