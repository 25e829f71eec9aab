/**
 * `rbp files find` (issue 14, search) run as a process against the real API handler (routes,
 * schemas, cursors, the search in lambdas/core/catalog/file-search.ts) over an in-memory catalog,
 * served on a local HTTP port: the query it sends, the table and JSON it prints, paging through
 * every cursor, escaped names, and its usage errors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseInstant, parseSize } from '../../cli/commands/files.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { imageAt, meta, version } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { useHandlerStandIn } from '../support/handler-stand-in.ts';

const WEB = 'vol-0aaaaaaaaaaaaaaa1';
const DB = 'vol-0bbbbbbbbbbbbbbb2';
const OTHER = 'vol-0ccccccccccccccc3';
const at = (seconds: number) => ({ seconds, nanoseconds: 0 });
const w = [imageAt(WEB, 10), imageAt(WEB, 20)] as const;
const d = [imageAt(DB, 30)] as const;
/** More matches than one API page of the CLI (it asks for the default page size). */
const MANY = 1_100;

const seen: string[] = [];
const api = useHandlerStandIn(
  () => handler,
  (request, url) => seen.push(`${request.method} ${url.pathname}?${url.searchParams.toString()}`),
);
let handler: ReturnType<typeof createApiHandler>;

beforeAll(async () => {
  const ports = memoryApi();
  ports.world.addVolume({ volumeId: WEB, serverId: 'web01', device: '/dev/xvda', sizeGib: 1 });
  ports.world.addVolume({ volumeId: DB, serverId: 'db01', device: '/dev/xvdb', sizeGib: 1 });
  ports.world.addVolume({ volumeId: OTHER, serverId: 'web01', device: '/dev/xvdc', sizeGib: 1 });
  const store = new MemoryCatalogStore();
  await store.putItems([
    version(w[0], 0, '/data', 'report-2026-01.bin', meta({ size: 100, mtime: at(1_767_225_600) })),
    version(
      w[1],
      0,
      '/data',
      'report-2026-01.bin',
      meta({ size: 20 * 1024 * 1024, mtime: at(1_769_904_000) }),
    ),
    version(w[0], 0, '/data', 'report-2025.bin', meta({ size: 50 })),
    version(w[1], 0, '/data', 'report-2025.bin', 'removed'),
    version(w[1], 0, '/data', 'caf\u0000e9.bin', meta({ size: 3 })),
    version(d[0], 0, '/x', 'report-2026-02.bin', meta({ size: 5_000 })),
    ...Array.from({ length: MANY }, (_, i) =>
      version(d[0], 0, '/many', `log-${String(i).padStart(3, '0')}.txt`, meta({ size: i })),
    ),
  ]);
  handler = createApiHandler({ ...ports.deps, fileSearch: { store } }, () => undefined);
});

const rbp = (args: string[]) => api.rbp(args);

describe('rbp files find', () => {
  it('prints a glob’s matches across every server, newest first, as a table', async () => {
    seen.length = 0;
    const result = await rbp(['files', 'find', 'report-2026*']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(seen).toEqual(['GET /api/files/search?glob=report-2026*&limit=1000']);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^SERVER\s+PARTITION\s+PATH\s+TYPE\s+SIZE\s+MODIFIED\s+FIRST IMAGE\s+UNTIL IMAGE$/,
    );
    expect(lines.slice(1).map((line) => line.split(/\s{2,}/).filter((c) => c !== ''))).toEqual([
      [
        'db01',
        '0',
        '/x/report-2026-02.bin',
        'file',
        '4.9 KiB',
        '2023-11-14T22:13:20.000Z',
        'img-0030',
        'current',
      ],
      [
        'web01',
        '0',
        '/data/report-2026-01.bin',
        'file',
        '20.0 MiB',
        '2026-02-01T00:00:00.000Z',
        'img-0020',
        'current',
      ],
      [
        'web01',
        '0',
        '/data/report-2026-01.bin',
        'file',
        '100 B',
        '2026-01-01T00:00:00.000Z',
        'img-0010',
        'img-0020',
      ],
    ]);
  });

  it('sends the filters and prints JSON with the server, volume and escaped names', async () => {
    seen.length = 0;
    const result = await rbp([
      'files',
      'find',
      '--server',
      'web01',
      '--min-size',
      '1M',
      '--modified-after',
      '2026-01-15',
      '--present',
      '*.bin',
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(seen).toEqual([
      'GET /api/files/search?glob=*.bin&server=web01&minSize=1048576&modifiedAfter=2026-01-15T00%3A00%3A00.000Z&state=present&limit=1000',
    ]);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        volumeId: WEB,
        serverId: 'web01',
        name: 'report-2026-01.bin',
        path: '/data/report-2026-01.bin',
        partition: 0,
        type: 'file',
        sizeBytes: 20 * 1024 * 1024,
        modifiedAt: '2026-02-01T00:00:00.000Z',
        firstImageId: 'img-0020',
        firstImageAt: w[1].createdAt,
      },
    ]);
    const deleted = await rbp(['files', 'find', '--volume', WEB, '--deleted', '*', '--json']);
    expect((JSON.parse(deleted.stdout) as { path: string }[]).map((f) => f.path)).toEqual([
      '/data/report-2025.bin',
    ]);
    const latin1 = await rbp(['files', 'find', 'caf\\xe9*', '--json']);
    expect((JSON.parse(latin1.stdout) as { path: string }[]).map((f) => f.path)).toEqual([
      '/data/caf\\xe9.bin',
    ]);
  });

  it('follows the cursor through every page', async () => {
    seen.length = 0;
    const result = await rbp(['files', 'find', '--server', 'db01', 'log-*.txt', '--json']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as unknown[]).length).toBe(MANY);
    // Two pages of 1,000 (the largest); each page runs the search again (docs/api.md).
    expect(seen).toHaveLength(2);
    expect(seen[1]).toMatch(/^GET \/api\/files\/search\?glob=log-\*\.txt&server=db01&limit=1000&cursor=/);
  });

  it('refuses contradictory or malformed options, and names an unknown server (exit 3)', async () => {
    const both = await rbp(['files', 'find', '--deleted', '--present', '*']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give at most one of --deleted and --present');
    const size = await rbp(['files', 'find', '--min-size', 'ten', '*']);
    expect(size.code).not.toBe(0);
    expect(size.stderr).toContain('not a size (bytes, or 10K, 10M, 1.5G, 2T)');
    const unknown = await rbp(['files', 'find', '--server', 'nobody', '*']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('server nobody has no protected volumes');
  });

  it('parses sizes and instants', () => {
    expect(parseSize('10M')).toBe(10 * 2 ** 20);
    expect(parseSize('1.5G')).toBe(1.5 * 2 ** 30);
    expect(parseSize('512')).toBe(512);
    expect(parseSize('2KiB')).toBe(2048);
    expect(() => parseSize('-1')).toThrow('not a size');
    expect(parseInstant('2026-01-31')).toBe('2026-01-31T00:00:00.000Z');
    expect(() => parseInstant('yesterday')).toThrow('not an ISO 8601 date or time');
  });
});
