/**
 * `files find` in the catalog (lambdas/core/catalog/file-search.ts): globs with filters across
 * volumes, newest first, on the in-memory store and on the DynamoDB adapter over moto (GSI3 as
 * local/product-table.ts creates it), with the same answers and the same number of Query requests:
 * a glob with a literal start is one key-range Query per volume, a leading `*` reads the volume's
 * whole name index (one Query per 1,000 index items).
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createProductTable, productTableDefinition } from '../../local/product-table.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import { searchFiles, type SearchFilters } from '../../lambdas/core/catalog/file-search.ts';
import { compileGlob } from '../../lambdas/core/catalog/glob.ts';
import { countedQueries } from '../support/counted-queries.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { imageAt, meta, version } from './catalog-fixtures.ts';
import { createCatalogTable } from './local-catalog-table.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => {
  for (const client of clients) client.destroy();
});

const A = 'vol-0aaaaaaaaaaaaaaaa';
const B = 'vol-0bbbbbbbbbbbbbbbb';
const a = [imageAt(A, 10), imageAt(A, 20), imageAt(A, 30)] as const;
const b = [imageAt(B, 15), imageAt(B, 25)] as const;
const at = (seconds: number) => ({ seconds, nanoseconds: 0 });
const VOLUMES = [
  { volumeId: A, serverId: 'web01' },
  { volumeId: B, serverId: 'db01' },
];
/** Files in many directories, so that a leading-wildcard search reads more than one index page. */
const BULK = 1_100;

function items() {
  return [
    version(a[0], 0, '/data', 'report-2026-01.bin', meta({ size: 100, mtime: at(1_767_225_600) })),
    version(a[1], 0, '/data', 'report-2026-01.bin', meta({ size: 200, mtime: at(1_769_904_000) })),
    version(a[0], 0, '/data', 'report-2025.bin', meta({ size: 50, mtime: at(1_735_689_600) })),
    version(a[1], 0, '/data', 'report-2025.bin', 'removed'),
    version(a[0], 0, '/logs', 'app.log', meta({ size: 7 })),
    version(a[2], 0, '/data', 'Report-2026-x.txt', meta({ size: 9 })),
    version(a[0], 1, '/boot', 'report-2026-efi.bin', meta({ size: 1 })),
    version(b[0], 0, '/x', 'report-2026-02.bin', meta({ size: 5_000, mtime: at(1_768_000_000) })),
    version(b[1], 0, '/x', 'notes.bin', meta({ size: 10 })),
    version(b[1], 0, '/x', 'caf\u0000e9.bin', meta({ size: 11 })),
    version(b[1], 2, '/Users/Ann', 'Report-2026.DOCX', meta({ size: 12 })),
    ...Array.from({ length: BULK }, (_, i) =>
      version(a[0], 0, `/bulk/d${i % 40}`, `f${String(i).padStart(5, '0')}.dat`, meta({ size: i })),
    ),
  ];
}

type Summary = string;
/** One line per version: volume, partition, path, since → until, size. */
function summary(v: {
  volumeId: string;
  partition: number;
  path: string;
  since: { imageId: string };
  until?: { imageId: string };
  removedAtUntil: boolean;
  size: number;
}): Summary {
  const end = v.until === undefined ? 'current' : `${v.until.imageId}${v.removedAtUntil ? ' (removed)' : ''}`;
  return `${v.volumeId === A ? 'A' : 'B'} ${v.partition}:${v.path} ${v.since.imageId}→${end} ${v.size}`;
}

function searchContract(name: string, make: () => Promise<{ store: CatalogStore; queries: () => number }>) {
  describe(`file search: ${name}`, () => {
    let store: CatalogStore;
    let queries: () => number;
    const find = async (glob: string, filters: SearchFilters = {}, volumes = VOLUMES) => {
      const before = queries();
      const outcome = await searchFiles(store, volumes, glob, filters);
      return {
        found: outcome.versions.map(summary),
        requests: queries() - before,
        outcome,
      };
    };

    it('loads', async () => {
      ({ store, queries } = await make());
      await store.putItems(items());
    }, 120_000);

    it('finds a glob with a literal start across two volumes, newest first, in one Query per volume', async () => {
      const { found, requests, outcome } = await find('report-2026*');
      expect(found).toEqual([
        'A 0:/data/report-2026-01.bin img-0020→current 200',
        'B 0:/x/report-2026-02.bin img-0015→current 5000',
        'A 1:/boot/report-2026-efi.bin img-0010→current 1',
        'A 0:/data/report-2026-01.bin img-0010→img-0020 100',
      ]);
      expect(requests).toBe(2);
      expect(outcome).toMatchObject({ truncated: false, queries: 2, indexItemsRead: 4 });
      expect(outcome.versions[1]).toMatchObject({ serverId: 'db01', name: 'report-2026-02.bin' });
    });

    it('narrows by partition, size, modification time and state', async () => {
      expect((await find('report-2026*', { partition: 0, minSize: 150 })).found).toEqual([
        'A 0:/data/report-2026-01.bin img-0020→current 200',
        'B 0:/x/report-2026-02.bin img-0015→current 5000',
      ]);
      expect((await find('report-*', { maxSize: 100, partition: 0 })).found).toEqual([
        'A 0:/data/report-2025.bin img-0010→img-0020 (removed) 50',
        'A 0:/data/report-2026-01.bin img-0010→img-0020 100',
      ]);
      const january = {
        modifiedAfter: Date.parse('2026-01-01T00:00:00Z'),
        modifiedBefore: Date.parse('2026-01-31T23:59:59Z'),
      };
      expect((await find('report-*', january)).found).toEqual([
        'B 0:/x/report-2026-02.bin img-0015→current 5000',
        'A 0:/data/report-2026-01.bin img-0010→img-0020 100',
      ]);
      expect((await find('report-*', { state: 'deleted' })).found).toEqual([
        'A 0:/data/report-2025.bin img-0010→img-0020 (removed) 50',
      ]);
      expect((await find('report-2026-0?.bin', { state: 'present' })).found).toEqual([
        'A 0:/data/report-2026-01.bin img-0020→current 200',
        'B 0:/x/report-2026-02.bin img-0015→current 5000',
      ]);
    });

    it(
      'matches ?, [..], [!..] and escaped bytes, case-sensitively unless asked',
      { timeout: 300_000 },
      async () => {
        expect((await find('?otes.[a-c]in')).found).toEqual(['B 0:/x/notes.bin img-0025→current 10']);
        expect((await find('[!r]eport-*')).found).toEqual([
          'A 0:/data/Report-2026-x.txt img-0030→current 9',
          'B 2:/Users/Ann/Report-2026.DOCX img-0025→current 12',
        ]);
        expect((await find('caf\\xe9.*')).found).toEqual(['B 0:/x/caf\u0000e9.bin img-0025→current 11']);
        expect((await find('report-2026-x*', { caseInsensitive: true })).found).toEqual([
          'A 0:/data/Report-2026-x.txt img-0030→current 9',
        ]);
      },
    );

    it(
      'compares names case-insensitively on the filesystems Windows reads so (NTFS, FAT, exFAT)',
      { timeout: 300_000 },
      async () => {
        const windows = [
          { volumeId: A, serverId: 'web01' },
          { volumeId: B, serverId: 'db01', caseInsensitivePartitions: [2] },
        ];
        // B's partition 2 is NTFS: report-2026.docx finds Report-2026.DOCX there; A's ext4 stays case-sensitive.
        expect((await find('report-2026.docx', {}, windows)).found).toEqual([
          'B 2:/Users/Ann/Report-2026.DOCX img-0025→current 12',
        ]);
        expect((await find('REPORT-2026-X.TXT', {}, windows)).found).toEqual([]);
        // The key prefix stops at the first letter on B ('' here: B's whole index is read), A keeps 'REPORT-'.
        const { found, requests } = await find('REPORT-*.docx', {}, windows);
        expect(found).toEqual(['B 2:/Users/Ann/Report-2026.DOCX img-0025→current 12']);
        expect(requests).toBe(2);
      },
    );

    it(
      'reads the whole name index of each volume for a leading wildcard, one Query per 1,000 items',
      { timeout: 300_000 },
      async () => {
        const { found, requests, outcome } = await find('*.log');
        expect(found).toEqual(['A 0:/logs/app.log img-0010→current 7']);
        // Volume A holds BULK + 7 version items (2 pages of at most 1,000), B 4 (1 page).
        expect(outcome.indexItemsRead).toBe(BULK + 7 + 4);
        expect(requests).toBe(3);
        // The same files with a literal start: one Query per volume, only the matching items read.
        const narrow = await find('f0039*.dat');
        expect(narrow.found).toHaveLength(10);
        expect(narrow.found[0]).toBe('A 0:/bulk/d30/f00390.dat img-0010→current 390');
        expect(narrow.requests).toBe(2);
        expect(narrow.outcome.indexItemsRead).toBe(10);
      },
    );

    it('refuses what is not a glob of one name', async () => {
      await expect(find('a/b*')).rejects.toThrow(
        'glob matches one file name: it must not contain "/" or NUL',
      );
      await expect(find('[abc')).resolves.toMatchObject({ found: [] });
      await expect(find('*', { minSize: 5, maxSize: 4 })).rejects.toThrow(
        'minSize must not be above maxSize',
      );
    });
  });
}

searchContract('memory', () => {
  const store = new MemoryCatalogStore();
  return Promise.resolve({ store, queries: () => store.queries });
});

let tables = 0;
searchContract('DynamoDB (moto)', async () => {
  tables += 1;
  const table = `file-search-${tables}`;
  const client = await createCatalogTable(local.clientConfig(), table);
  clients.push(client);
  return { store: new DynamoDbCatalogStore(client, table), queries: countedQueries(client).queries };
});

describe('the local table', () => {
  it('gets the name-search index when a state directory holds a table from before it', async () => {
    const table = 'file-search-older-table';
    const raw = new DynamoDBClient({ ...local.clientConfig(), maxAttempts: 3 });
    const older = productTableDefinition(table);
    await raw.send(
      new CreateTableCommand({
        ...older,
        AttributeDefinitions: older.AttributeDefinitions?.filter(
          (a) => a.AttributeName!.startsWith('gsi') || a.AttributeName!.length === 2,
        ),
        GlobalSecondaryIndexes: older.GlobalSecondaryIndexes?.filter((i) => i.IndexName !== 'GSI3'),
      }),
    );
    const client = DynamoDBDocumentClient.from(raw);
    clients.push(client);
    const store = new DynamoDbCatalogStore(client, table);
    await store.putItems(items().slice(0, 10));
    await createProductTable(raw, table);
    const described = await raw.send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual([
      'GSI1',
      'GSI2',
      'GSI3',
    ]);
    const outcome = await searchFiles(store, VOLUMES, 'report-2026*');
    expect(outcome.versions.map(summary)).toEqual([
      'A 0:/data/report-2026-01.bin img-0020→current 200',
      'B 0:/x/report-2026-02.bin img-0015→current 5000',
      'A 1:/boot/report-2026-efi.bin img-0010→current 1',
      'A 0:/data/report-2026-01.bin img-0010→img-0020 100',
    ]);
  });
});

describe('compileGlob', () => {
  it('takes the literal start as the key prefix', () => {
    expect(compileGlob('report-2026*').keyPrefix).toBe('report-2026');
    expect(compileGlob('*.bin').keyPrefix).toBe('');
    expect(compileGlob('caf\\xe9*').keyPrefix).toBe('caf\u0000e9');
    expect(compileGlob('a\\*b').exact).toBe(true);
    expect(compileGlob('a\\*b').matches('a*b')).toBe(true);
    expect(compileGlob('Rep*', { caseInsensitive: true }).keyPrefix).toBe('');
    expect(compileGlob('2026-Rep*', { caseInsensitive: true }).keyPrefix).toBe('2026-');
  });
});
