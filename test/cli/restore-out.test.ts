/**
 * `rbp restore ... --out` is checked before the restore starts: into a directory that does not
 * exist (exit 3) or onto an existing file without --force (exit 2), nothing is sent to the API;
 * nor when an `--out` directory already holds a file of the name the download will have
 * (restoreDownloadName: `hosts`, `<dir>.tar`, `<app>.tar`).
 * A small HTTP server stands in for the API and counts what it is sent.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { noRoute, useApiStandIn } from '../support/cli.ts';

const BODY = 'restored bytes\n';
const seen: string[] = [];
const api = useApiStandIn((request) => {
  seen.push(`${request.method} ${request.url}`);
  if (request.method === 'POST' && request.url === '/api/restores') {
    return { status: 202, json: { restoreId: 'rs-1', status: 'PENDING' } };
  }
  if (request.url === '/api/restores/rs-1') {
    return {
      status: 200,
      json: {
        restoreId: 'rs-1',
        imageId: 'img-1',
        kind: 'file',
        path: '/etc/hosts',
        status: 'SUCCEEDED',
        createdAt: '2026-11-20T12:00:00.000Z',
        downloadUrl: `${api.base.replace('/api', '')}/download/hosts`,
        sizeBytes: BODY.length,
      },
    };
  }
  if (request.url === '/download/hosts') {
    return { status: 200, text: BODY, headers: { 'content-length': String(BODY.length) } };
  }
  return noRoute(request);
});
beforeEach(() => {
  seen.length = 0;
});
const rbp = (args: string[]) => api.rbp(args);

const restoreFile = [
  'restore',
  'file',
  '--image',
  'img-1',
  '--path',
  '/etc/hosts',
  '--poll-interval',
  '0.05',
];

describe('restore --out', () => {
  it('refuses a directory that does not exist before the restore starts (exit 3)', async () => {
    const out = join(tmpdir(), 'rbp-no-such-dir', 'hosts');
    const result = await rbp([...restoreFile, '--out', out]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `cannot write ${out}: the directory ${join(tmpdir(), 'rbp-no-such-dir')} does not exist`,
    );
    expect(seen).toEqual([]);
  }, 60_000);

  it('refuses an existing file unless --force (exit 2), then overwrites it with --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbp-out-'));
    const out = join(dir, 'hosts');
    writeFileSync(out, 'keep me\n');
    const refused = await rbp([...restoreFile, '--out', out]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${out} already exists; pass --force to overwrite it`);
    expect(seen).toEqual([]);
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    const forced = await rbp([...restoreFile, '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(BODY);
    expect(seen[0]).toBe('POST /api/restores');
  }, 60_000);

  it('downloads into an existing directory, and refuses a file of that name there without --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbp-out-'));
    expect((await rbp([...restoreFile, '--out', dir])).code).toBe(0);
    expect(readFileSync(join(dir, 'hosts'), 'utf8')).toBe(BODY);
    seen.length = 0;
    const again = await rbp([...restoreFile, '--out', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`rbp: ${join(dir, 'hosts')} already exists; pass --force to overwrite it\n`);
    expect(seen).toEqual([]);
  }, 60_000);

  it.each([
    [['restore', 'dir', '--image', 'img-1', '--path', '/srv/web/'], 'web.tar'],
    [['restore', 'dir', '--image', 'img-1', '--path', '/'], 'root.tar'],
    [['restore', 'app', '--image', 'img-1', '--name', 'pg main'], 'pg_main.tar'],
  ])(
    'refuses %j into a directory holding %s before any request (exit 2)',
    async (args, name) => {
      const dir = mkdtempSync(join(tmpdir(), 'rbp-out-'));
      writeFileSync(join(dir, name), 'keep me\n');
      const refused = await rbp([...args, '--out', dir]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(`rbp: ${join(dir, name)} already exists; pass --force to overwrite it\n`);
      expect(seen).toEqual([]);
      expect(readFileSync(join(dir, name), 'utf8')).toBe('keep me\n');
    },
    60_000,
  );
});
