/**
 * The operator CLI end to end: `rbp` (cli/main.ts under tsx, in the test process's one `rbp` host)
 * against the local stack (the same API fixture as test/api/api-local.test.ts), its `--json`
 * output parsed back, its tables and exit codes checked, and restored files compared with their
 * source byte for byte.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { CHANGED_FILE, REPORT_V1 } from '../api/local-api-fixture.ts';
import { readSourceTree } from '../support/fs-images.ts';
import { useLocalApiProduct } from '../support/local-product.ts';

const product = useLocalApiProduct('cli-e2e');
const { rbp } = product;
const json = rbp.json;

describe('rbp against the local stack', () => {
  it('volumes ls: a table by default, JSON with --json', async () => {
    const table = await rbp('volumes', 'ls');
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^VOLUME\s+SERVER\s+DEVICE\s+SIZE GIB\s+IMAGES\s+LATEST IMAGE\s+LATEST AT$/);
    expect(row).toContain(product.api.volumeId);
    expect(row).toMatch(/\s2\s+img-b\s+2026-03-02T00:00:00\.000Z$/);
    const volumes = await json<{ volumeId: string; imageCount: number }[]>('volumes', 'ls');
    expect(volumes.map((v) => [v.volumeId, v.imageCount])).toEqual([[product.api.volumeId, 2]]);
  });

  it('images ls and show', async () => {
    const images = await json<{ imageId: string; kind: string }[]>(
      'images',
      'ls',
      '--volume',
      product.api.volumeId,
    );
    expect(images.map((i) => `${i.imageId}:${i.kind}`)).toEqual(['img-b:incremental', 'img-a:full']);
    const shown = await json<{ imageId: string; parentImageId: string }>('images', 'show', 'img-b');
    expect(shown).toMatchObject({ imageId: 'img-b', parentImageId: 'img-a' });
  });

  it('files ls --recursive walks the whole tree: the paths of the source', async () => {
    const entries = await json<{ path: string; type: string; sizeBytes: number }[]>(
      'files',
      'ls',
      '--image',
      'img-b',
      '--recursive',
      '/',
    );
    const source = await readSourceTree(product.api.source);
    const expected = [...source.keys()].filter((p) => p !== '/');
    const listed = entries
      .map((e) => e.path)
      .filter((p) => p !== '/lost+found' && !p.startsWith('/lost+found/'));
    expect(listed.sort()).toEqual(expected.sort());
    for (const entry of entries.filter((e) => e.type === 'file')) {
      expect(entry.sizeBytes, entry.path).toBe(Number(source.get(entry.path)!.stat.size));
    }
  });

  it('files versions, files find and apps ls', async () => {
    const versions = await json<{ firstImageId: string; untilImageId?: string }[]>(
      'files',
      'versions',
      '--volume',
      product.api.volumeId,
      CHANGED_FILE,
    );
    expect(versions.map((v) => [v.firstImageId, v.untilImageId])).toEqual([
      ['img-a', 'img-b'],
      ['img-b', undefined],
    ]);
    const found = await json<{ path: string }[]>(
      'files',
      'find',
      '--volume',
      product.api.volumeId,
      'postgresql.conf',
    );
    expect(found.map((f) => f.path)).toEqual(['/srv/pg/conf/postgresql.conf']);
    const apps = await json<{ name: string; type: string }[]>('apps', 'ls', '--image', 'img-a');
    expect(apps.map((a) => `${a.name}:${a.type}`)).toEqual(['orders-db:postgresql']);
  });

  it('restore file --out downloads the file as of each image, byte for byte', async () => {
    const outA = path.join(product.work, 'report-a.txt');
    const a = await json<{ status: string; savedTo: string }>(
      'restore',
      'file',
      '--image',
      'img-a',
      '--path',
      CHANGED_FILE,
      '--out',
      outA,
      '--poll-interval',
      '0.2',
    );
    expect(a).toMatchObject({ status: 'SUCCEEDED', savedTo: outA });
    expect(await readFile(outA, 'utf8')).toBe(REPORT_V1);
    // --out naming a directory: the file keeps its name.
    const b = await json<{ savedTo: string; sizeBytes: number }>(
      'restore',
      'file',
      '--image',
      'img-b',
      '--path',
      CHANGED_FILE,
      '--out',
      product.work,
      '--poll-interval',
      '0.2',
    );
    expect(b.savedTo).toBe(path.join(product.work, 'report.txt'));
    const restored = await readFile(b.savedTo);
    expect(restored.equals(await readFile(path.join(product.api.source, CHANGED_FILE)))).toBe(true);
    expect((await stat(b.savedTo)).size).toBe(b.sizeBytes);
  });

  it('restore dir and restore volume --wait', async () => {
    const tar = path.join(product.work, 'srv.tar');
    const dir = await json<{ status: string; kind: string }>(
      'restore',
      'dir',
      '--image',
      'img-b',
      '--path',
      '/srv',
      '--out',
      tar,
      '--poll-interval',
      '0.2',
    );
    expect(dir).toMatchObject({ status: 'SUCCEEDED', kind: 'directory' });
    expect((await readFile(tar)).includes(Buffer.from('shared_buffers = 128MB\n'))).toBe(true);
    const volume = await json<{ status: string; snapshotId: string }>(
      'restore',
      'volume',
      '--image',
      'img-a',
      '--wait',
      '--poll-interval',
      '0.2',
    );
    expect(volume.status).toBe('SUCCEEDED');
    expect(volume.snapshotId).toMatch(/^snap-/);
  });

  it('backup start, a refused second start (exit 4), backup status --wait', async () => {
    const started = await json<{ backupId: string; status: string }>(
      'backup',
      'start',
      '--volume',
      product.api.volumeId,
    );
    expect(started.status).toBe('RUNNING');
    const again = await rbp('backup', 'start', '--volume', product.api.volumeId);
    expect(again.code).toBe(EXIT.CONFLICT);
    expect(again.stderr).toBe(
      `rbp: a backup of ${product.api.volumeId} is already running (${started.backupId}); wait for it to finish (HTTP 409 Conflict)\n`,
    );
    const done = await json<{ status: string; imageId: string }>(
      'backup',
      'status',
      started.backupId,
      '--wait',
      '--poll-interval',
      '0.5',
    );
    expect(done).toMatchObject({ status: 'SUCCEEDED', imageId: 'img-standin' });
  });

  it('--partition N chooses the filesystem: files ls|versions|find and restore file', async () => {
    const listed = await json<{ name: string; partition?: number }[]>(
      'files',
      'ls',
      '--image',
      'img-a',
      '--partition',
      '0',
      '/srv/pg/conf',
    );
    expect(listed.map((e) => e.name)).toContain('postgresql.conf');
    const versions = await json<{ firstImageId: string }[]>(
      'files',
      'versions',
      '--volume',
      product.api.volumeId,
      '--partition',
      '0',
      CHANGED_FILE,
    );
    expect(versions.map((v) => v.firstImageId)).toEqual(['img-a', 'img-b']);
    const table = await rbp(
      'files',
      'find',
      '--volume',
      product.api.volumeId,
      '--partition',
      '0',
      'postgresql.conf',
    );
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(
      /^SERVER\s+PARTITION\s+PATH\s+TYPE\s+SIZE\s+MODIFIED\s+FIRST IMAGE\s+UNTIL IMAGE$/,
    );
    expect(row).toMatch(/^\S+\s+0\s+\/srv\/pg\/conf\/postgresql\.conf\s/);
    const out = path.join(product.work, 'report-partition-0.txt');
    const restored = await json<{ status: string }>(
      'restore',
      'file',
      '--image',
      'img-b',
      '--partition',
      '0',
      '--path',
      CHANGED_FILE,
      '--out',
      out,
      '--poll-interval',
      '0.2',
    );
    expect(restored).toMatchObject({ status: 'SUCCEEDED' });
    const wrong = await rbp(
      'restore',
      'file',
      '--image',
      'img-b',
      '--partition',
      'x1',
      '--path',
      CHANGED_FILE,
    );
    expect(wrong.code).toBe(EXIT.USAGE);
    expect(wrong.stderr).toContain('not a partition number');
  }, 180_000);

  it('meaningful exit codes: not found 3, invalid request 5, usage 2, help 0', async () => {
    const missing = await rbp('images', 'show', 'img-zz');
    expect(missing).toMatchObject({
      code: EXIT.NOT_FOUND,
      stderr: 'rbp: image img-zz does not exist (HTTP 404 NotFound)\n',
    });
    const traversal = await rbp('files', 'ls', '--image', 'img-a', '/../etc');
    expect(traversal.code).toBe(EXIT.INVALID_REQUEST);
    expect(traversal.stderr).toContain('query.path: path must not climb above the root');
    const usage = await rbp('images', 'ls');
    expect(usage.code).toBe(EXIT.USAGE);
    expect(usage.stderr).toContain("error: required option '--volume <volumeId>' not specified");
    const help = await rbp('restore', 'file', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(
      '$ rbp restore file --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --path /etc/hosts --out ./hosts',
    );
    expect(help.stdout).toMatch(/--image <imageId>\s+the image to restore from \(required\)/);
  });

  it('exit 7 when the API cannot be reached', async () => {
    const run = await rbp('volumes', 'ls', '--endpoint', 'http://127.0.0.1:9/_api');
    expect(run.code).toBe(EXIT.UNAVAILABLE);
    expect(run.stderr).toMatch(/^rbp: cannot reach the API at http:\/\/127\.0\.0\.1:9: fetch failed/);
  });
});
