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
const images = (query: Record<string, string | string[]>): EventSpec => ({
  method: 'GET',
  path: `/volumes/${VOLUME_A}/images`,
  query,
});

const cases: (() => BadCase)[] = [
  // POST /backups: missing fields, wrong types, unknown fields, unknown volumes
  () => ({
    name: 'backup without volumeId or serverId',
    ...backup({}),
    status: 400,
    message: /^invalid request: body: give exactly one of volumeId and serverId$/,
  }),
  () => ({
    name: 'backup with both volumeId and serverId',
    ...backup({ volumeId: 'vol-0123456789abcdef0', serverId: 'web-01' }),
    status: 400,
    message: /^invalid request: body: give exactly one of volumeId and serverId$/,
  }),
  () => ({
    name: 'backup with numeric volumeId',
    ...backup({ volumeId: 123 }),
    status: 400,
    message: /body\.volumeId: Invalid input: expected string, received number/,
  }),
  () => ({
    name: 'backup with malformed volumeId',
    ...backup({ volumeId: 'vol-xyz' }),
    status: 400,
    message: /body\.volumeId: must be an EBS volume id/,
  }),
  () => ({
    name: 'backup volumeId with a newline',
    ...backup({ volumeId: `${VOLUME_A}\n` }),
    status: 400,
    message: /body\.volumeId: must be an EBS volume id/,
  }),
  () => ({
    name: 'backup volumeId as an array',
    ...backup({ volumeId: [VOLUME_A] }),
    status: 400,
    message: /expected string, received array/,
  }),
  () => ({
    name: 'backup full as a string',
    ...backup({ volumeId: VOLUME_A, full: 'yes' }),
    status: 400,
    message: /body\.full: Invalid input: expected boolean, received string/,
  }),
  () => ({
    name: 'backup with an unknown field',
    ...backup({ volumeId: VOLUME_A, volumeIds: [VOLUME_A] }),
    status: 400,
    message: /body: unknown field\(s\): volumeIds/,
  }),
  () => ({
    name: 'backup body is an array',
    ...backup([]),
    status: 400,
    message: /body: Invalid input: expected object, received array/,
  }),
  () => ({
    name: 'backup body is null',
    ...backup('null'),
    status: 400,
    message: /body: Invalid input: expected object, received null/,
  }),
  () => ({
    name: 'backup body is not JSON',
    ...backup('{"volumeId":'),
    status: 400,
    message: /^invalid request: body: not valid JSON$/,
  }),
  () => ({
    name: 'backup without a body',
    method: 'POST',
    path: '/backups',
    status: 400,
    message: /body: a JSON object is required/,
  }),
  () => ({
    name: 'backup body as text/plain',
    ...backup({ volumeId: VOLUME_A }),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    message: /must be application\/json, not text\/plain/,
  }),
  () => ({
    name: 'backup body of 1 MiB',
    ...backup({ volumeId: VOLUME_A, pad: 'x'.repeat(1_048_576) }),
    status: 413,
    message: /at most 16384 are accepted/,
  }),
  () => ({
    name: 'backup body one byte over the limit',
    ...backup(' '.repeat(MAX_REQUEST_BODY_BYTES + 1)),
    status: 413,
    message: /has 16385 bytes/,
  }),
  () => ({
    name: 'backup body not UTF-8',
    method: 'POST',
    path: '/backups',
    body: Buffer.from([0xff, 0xfe, 0x7b]).toString('latin1'),
    base64: true,
    status: 400,
    message: /^invalid request: body: not UTF-8$/,
  }),
  () => ({
    name: 'backup of an unknown volume',
    ...backup({ volumeId: 'vol-0aaaaaaaaaaaaaaaa' }),
    status: 404,
    message: /^volume vol-0aaaaaaaaaaaaaaaa is not a protected replica volume$/,
  }),
  // POST /restores
  () => ({
    name: 'restore with an empty body',
    ...restore({}),
    status: 400,
    message:
      /body\.kind: Invalid discriminator value. Expected 'file' \| 'directory' \| 'application' \| 'volume'/,
  }),
  () => ({
    name: 'restore without kind',
    ...restore({ imageId: 'img-3', path: '/etc/hosts' }),
    status: 400,
    message: /body\.kind/,
  }),
  () => ({
    name: 'restore of an unknown kind',
    ...restore({ imageId: 'img-3', kind: 'disk' }),
    status: 400,
    message: /body\.kind/,
  }),
  () => ({
    name: 'file restore without path',
    ...restore({ imageId: 'img-3', kind: 'file' }),
    status: 400,
    message: /body\.path: Invalid input: expected string, received undefined/,
  }),
  () => ({
    name: 'file restore with a numeric path',
    ...restore({ imageId: 'img-3', kind: 'file', path: 42 }),
    status: 400,
    message: /body\.path: Invalid input: expected string, received number/,
  }),
  () => ({
    name: 'file restore of a relative path',
    ...restore({ imageId: 'img-3', kind: 'file', path: '../etc/passwd' }),
    status: 400,
    message: /body\.path: path must be absolute/,
  }),
  () => ({
    name: 'file restore climbing above the root',
    ...restore({ imageId: 'img-3', kind: 'file', path: '/../etc/passwd' }),
    status: 400,
    message: /path must not climb above the root/,
  }),
  () => ({
    name: 'file restore climbing twice',
    ...restore({ imageId: 'img-3', kind: 'file', path: '/etc/../../etc/shadow' }),
    status: 400,
    message: /path must not climb above the root/,
  }),
  () => ({
    name: 'directory restore climbing from deep',
    ...restore({ imageId: 'img-3', kind: 'directory', path: '/a/b/../../../..' }),
    status: 400,
    message: /path must not climb above the root/,
  }),
  () => ({
    name: 'file restore with NUL',
    ...restore({ imageId: 'img-3', kind: 'file', path: '/etc/passwd\u0000.txt' }),
    status: 400,
    message: /path must not contain NUL/,
  }),
  () => ({
    name: 'file restore with a lone surrogate',
    ...restore({ imageId: 'img-3', kind: 'file', path: '/etc/\ud800' }),
    status: 400,
    message: /path must be valid Unicode/,
  }),
  () => ({
    name: 'file restore of a 5,000-byte path',
    ...restore({ imageId: 'img-3', kind: 'file', path: `/${'a/'.repeat(2500)}` }),
    status: 400,
    message: /path must be at most 4096 bytes/,
  }),
  () => ({
    name: 'file restore with a 300-byte name',
    ...restore({ imageId: 'img-3', kind: 'file', path: `/etc/${'n'.repeat(300)}` }),
    status: 400,
    message: /each name must be at most 255 bytes/,
  }),
  () => ({
    name: 'application restore without application',
    ...restore({ imageId: 'img-3', kind: 'application' }),
    status: 400,
    message: /body\.application/,
  }),
  () => ({
    name: 'application name with a slash',
    ...restore({ imageId: 'img-3', kind: 'application', application: '../pg' }),
    status: 400,
    message: /body\.application: must not contain \/ or NUL/,
  }),
  () => ({
    name: 'volume restore with a path',
    ...restore({ imageId: 'img-3', kind: 'volume', path: '/' }),
    status: 400,
    message: /unknown field\(s\): path/,
  }),
  () => ({
    name: 'restore of a traversal image id',
    ...restore({ imageId: '../img-3', kind: 'volume' }),
    status: 400,
    message: /body\.imageId: must be an image id/,
  }),
  () => ({
    name: 'restore of an 129-character image id',
    ...restore({ imageId: 'i'.repeat(129), kind: 'volume' }),
    status: 400,
    message: /body\.imageId: must be an image id/,
  }),
  () => ({
    name: 'restore of an unknown image',
    ...restore({ imageId: 'img-404', kind: 'file', path: '/etc/hosts' }),
    status: 404,
    message: /^image img-404 does not exist$/,
  }),
  // pagination and query strings
  () => ({
    name: 'limit 0',
    method: 'GET',
    path: '/volumes',
    query: { limit: '0' },
    status: 400,
    message: /query\.limit: Too small/,
  }),
  () => ({
    name: 'limit not a number',
    method: 'GET',
    path: '/volumes',
    query: { limit: 'abc' },
    status: 400,
    message: /query\.limit: Invalid input: expected number, received NaN/,
  }),
  () => ({
    name: 'limit fractional',
    method: 'GET',
    path: '/volumes',
    query: { limit: '1.5' },
    status: 400,
    message: /query\.limit: must be an integer/,
  }),
  () => ({
    name: 'limit too large',
    method: 'GET',
    path: '/volumes',
    query: { limit: '100000' },
    status: 400,
    message: /query\.limit: Too big/,
  }),
  () => ({
    name: 'limit given twice',
    method: 'GET',
    path: '/volumes',
    query: { limit: ['1', '2'] },
    status: 400,
    message: /query\.limit: given more than once/,
  }),
  () => ({
    name: 'unknown query parameter',
    method: 'GET',
    path: '/volumes',
    query: { owner: 'me' },
    status: 400,
    message: /query: unknown field\(s\): owner/,
  }),
  () => ({
    name: 'cursor with a tampered MAC',
    method: 'GET',
    path: '/volumes',
    query: { cursor: tamper(volumesCursor, 'mac') },
    status: 400,
    message: /^invalid cursor: it was altered or was not issued by this API$/,
  }),
  () => ({
    name: 'cursor with a tampered payload',
    method: 'GET',
    path: '/volumes',
    query: { cursor: tamper(volumesCursor, 'payload') },
    status: 400,
    message: /^invalid cursor: it was altered or was not issued by this API$/,
  }),
  () => ({
    name: 'cursor that is garbage',
    method: 'GET',
    path: '/volumes',
    query: { cursor: 'abc' },
    status: 400,
    message: /^invalid cursor: not a cursor issued by this API$/,
  }),
  () => ({
    name: 'cursor of another query',
    ...images({ cursor: volumesCursor }),
    status: 400,
    message: /^invalid cursor: it belongs to a different query$/,
  }),
  () => ({
    name: 'cursor too long',
    method: 'GET',
    path: '/volumes',
    query: { cursor: 'a'.repeat(3000) },
    status: 400,
    message: /query\.cursor: Too big/,
  }),
  () => ({
    name: 'cursor signed with another key',
    method: 'GET',
    path: '/volumes',
    query: {
      cursor: new CursorCodec(new Uint8Array(32).fill(9)).encode(queryScope('listVolumes', {}), {
        offset: 1,
      }),
    },
    status: 400,
    message: /^invalid cursor: it was altered or was not issued by this API$/,
  }),
  () => ({
    name: 'cursor with an offset position where a store token is expected',
    method: 'GET',
    path: '/images/img-1/files',
    query: {
      cursor: api.deps.cursors.encode(queryScope('listFiles', { imageId: 'img-1', path: '/' }), {
        offset: 1,
      }),
    },
    status: 400,
    message: /^invalid cursor: it belongs to a different query$/,
  }),
  () => ({
    name: 'images of a malformed volume id',
    method: 'GET',
    path: '/volumes/vol-bad/images',
    status: 400,
    message: /path\.volumeId: must be an EBS volume id/,
  }),
  () => ({
    name: 'images from a non-date',
    ...images({ from: 'yesterday' }),
    status: 400,
    message: /query\.from: Invalid ISO datetime/,
  }),
  () => ({
    name: 'images from after to',
    ...images({ from: '2026-11-03T00:00:00Z', to: '2026-11-01T00:00:00Z' }),
    status: 400,
    message: /query\.from: from must not be after to/,
  }),
  () => ({
    name: 'images of an unknown status',
    ...images({ status: 'deleted' }),
    status: 400,
    message: /query\.status: Invalid option/,
  }),
  // ids and paths in the URL
  () => ({
    name: 'image id with an encoded traversal',
    method: 'GET',
    path: '/images/..%2F..%2Fetc',
    status: 400,
    message: /path\.imageId: must be an image id/,
  }),
  () => ({
    name: 'image id with broken percent-encoding',
    method: 'GET',
    path: '/images/%E0%A4%A',
    status: 400,
    message: /not valid percent-encoding/,
  }),
  () => ({
    name: 'unknown image',
    method: 'GET',
    path: '/images/img-404',
    status: 404,
    message: /^image img-404 does not exist$/,
  }),
  () => ({
    name: 'files of an unknown image',
    method: 'GET',
    path: '/images/img-404/files',
    status: 404,
    message: /^image img-404 does not exist$/,
  }),
  () => ({
    name: 'listing above the root',
    method: 'GET',
    path: '/images/img-3/files',
    query: { path: '/../..' },
    status: 400,
    message: /query\.path: path must not climb above the root/,
  }),
  () => ({
    name: 'listing a relative path',
    method: 'GET',
    path: '/images/img-3/files',
    query: { path: '../..' },
    status: 400,
    message: /query\.path: path must be absolute/,
  }),
  () => ({
    name: 'listing a path with NUL',
    method: 'GET',
    path: '/images/img-3/files',
    query: { path: '/etc\u0000' },
    status: 400,
    message: /query\.path: path must not contain NUL/,
  }),
  () => ({
    name: 'listing an empty path',
    method: 'GET',
    path: '/images/img-3/files',
    query: { path: '' },
    status: 400,
    message: /query\.path: path must not be empty/,
  }),
  () => ({
    name: 'versions without path',
    method: 'GET',
    path: `/volumes/${VOLUME_A}/files/versions`,
    status: 400,
    message: /query\.path: Invalid input: expected string, received undefined/,
  }),
  () => ({
    name: 'versions of an unknown volume',
    method: 'GET',
    path: '/volumes/vol-bad/files/versions',
    query: { path: '/' },
    status: 400,
    message: /path\.volumeId/,
  }),
  () => ({
    name: 'search without name',
    method: 'GET',
    path: `/volumes/${VOLUME_A}/files/search`,
    status: 400,
    message: /query\.name: Invalid input/,
  }),
  () => ({
    name: 'search for a path, not a name',
    method: 'GET',
    path: `/volumes/${VOLUME_A}/files/search`,
    query: { name: '../etc/passwd' },
    status: 400,
    message: /name must be a file name/,
  }),
  () => ({
    name: 'search for a 300-character name',
    method: 'GET',
    path: `/volumes/${VOLUME_A}/files/search`,
    query: { name: 'n'.repeat(300) },
    status: 400,
    message: /query\.name: Too big/,
  }),
  () => ({
    name: 'applications of an unknown image',
    method: 'GET',
    path: '/images/img-404/applications',
    status: 404,
    message: /^image img-404 does not exist$/,
  }),
  () => ({
    name: 'unknown backup',
    method: 'GET',
    path: '/backups/bk-404',
    status: 404,
    message: /^backup bk-404 does not exist$/,
  }),
  () => ({
    name: 'backup id with a traversal',
    method: 'GET',
    path: '/backups/..%2F..%2Fetc',
    status: 400,
    message: /path\.backupId: must be a backup id/,
  }),
  () => ({
    name: 'unknown restore',
    method: 'GET',
    path: '/restores/rs-404',
    status: 404,
    message: /^restore rs-404 does not exist$/,
  }),
  () => ({
    name: 'restore id too long',
    method: 'GET',
    path: `/restores/${'r'.repeat(100)}`,
    status: 400,
    message: /path\.restoreId: must be a restore id/,
  }),
  () => ({
    name: 'an overlong URL path',
    method: 'GET',
    path: `/images/${'x'.repeat(2000)}`,
    status: 400,
    message: /request path is longer than 1024 characters/,
  }),
  // wrong methods and unknown routes
  () => ({
    name: 'DELETE /volumes',
    method: 'DELETE',
    path: '/volumes',
    status: 405,
    message: /^method DELETE is not allowed here; allowed: GET$/,
  }),
  () => ({
    name: 'POST /volumes',
    method: 'POST',
    path: '/volumes',
    body: {},
    status: 405,
    message: /allowed: GET$/,
  }),
  () => ({
    name: 'PUT /backups',
    method: 'PUT',
    path: '/backups',
    body: { volumeId: VOLUME_A },
    status: 405,
    message: /allowed: GET, POST$/,
  }),
  () => ({
    name: 'DELETE /backups',
    method: 'DELETE',
    path: '/backups',
    status: 405,
    message: /allowed: GET, POST$/,
  }),
  () => ({
    name: 'PATCH /restores/{id}',
    method: 'PATCH',
    path: '/restores/rs-1',
    body: { status: 'SUCCEEDED' },
    status: 405,
    message: /allowed: GET$/,
  }),
  () => ({
    name: 'DELETE /images/{id}/files',
    method: 'DELETE',
    path: '/images/img-3/files',
    status: 405,
    message: /allowed: GET$/,
  }),
  () => ({
    name: 'an unknown route',
    method: 'GET',
    path: '/nothing',
    status: 404,
    message: /^no such resource: \/nothing$/,
  }),
  () => ({
    name: 'an unknown sub-resource',
    method: 'GET',
    path: `/volumes/${VOLUME_A}/snapshots`,
    status: 404,
    message: /^no such resource/,
  }),
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
