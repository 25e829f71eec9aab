/**
 * `rbp restore ... --out` is checked before the restore starts: into a directory that does not
 * exist (exit 3) or onto an existing file without --force (exit 2), nothing is sent to the API.
 * A small HTTP server stands in for the API and counts what it is sent.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const BODY = 'restored bytes\n';
const seen: string[] = [];
let base = '';
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    seen.push(`${req.method} ${req.url}`);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'POST' && req.url === '/api/restores') {
      json(202, { restoreId: 'rs-1', status: 'PENDING' });
    } else if (req.url === '/api/restores/rs-1') {
      json(200, {
        restoreId: 'rs-1',
        imageId: 'img-1',
        kind: 'file',
        path: '/etc/hosts',
        status: 'SUCCEEDED',
        createdAt: '2026-11-20T12:00:00.000Z',
        downloadUrl: `${base.replace('/api', '')}/download/hosts`,
        sizeBytes: BODY.length,
      });
    } else if (req.url === '/download/hosts') {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    } else {
      json(404, { code: 'NotFound', message: `no route ${req.method} ${req.url}`, details: {} });
    }
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen.length = 0;
});

function rbp(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', ...args, '--endpoint', base, '--region', 'eu-west-1'],
      { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

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
    const again = await rbp([...restoreFile, '--out', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${join(dir, 'hosts')} already exists; pass --force to overwrite it`);
  }, 60_000);
});
