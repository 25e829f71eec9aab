/**
 * The catalog of real images through the DynamoDB adapter on moto gives exactly the answers of the
 * in-memory store: a first image and an incremental (changes and a removed subtree made with
 * debugfs), every directory listed as of both images, the writes counted alike.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import { debugfs, generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { imageAt } from './catalog-fixtures.ts';
import { copyFileSparse, listAll, walkStats } from './catalog-images.ts';
import { createCatalogTable } from './local-catalog-table.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const local = useLocalStack();
let client: DynamoDBDocumentClient;
let work: string;
let images: string[];

beforeAll(async () => {
  client = await createCatalogTable(local.clientConfig(), 'catalog-images');
  work = await scratchDir('catalog-ddb');
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 61, files: 500, deepChain: 15, maxFileBytes: 4000 });
  await mkdir(path.join(src, 'drop', 'inner'), { recursive: true });
  await writeFile(path.join(src, 'drop', 'inner', 'f'), 'f\n');
  const first = path.join(work, 'a.img');
  await makeExtImage(first, { type: 'ext4', sizeBytes: 24 * 1024 * 1024, blockSize: 4096, sourceDir: src });
  const second = path.join(work, 'b.img');
  await copyFileSparse(first, second);
  const payload = path.join(work, 'payload');
  await writeFile(payload, 'new\n');
  await debugfs(second, [
    'unlink /drop',
    `write ${payload} /fresh`,
    'mkdir /fresh-dir',
    'sif /tiny-dir/only-file mtime 20200101000000',
  ]);
  images = [first, second];
}, 120_000);

afterAll(async () => {
  client.destroy();
  await removeDir(work);
});

async function catalogBoth(store: CatalogStore): Promise<number[]> {
  const written: number[] = [];
  for (const [i, file] of images.entries()) {
    const reader = await FileByteRangeReader.open(file);
    const record = await buildCatalog({ store }, { image: imageAt('vol-ddb', i + 1), disk: reader });
    await reader.close();
    expect(record.status).toBe('complete');
    written.push(record.changes.itemsWritten);
  }
  return written;
}

describe('the DynamoDB catalog on real images', () => {
  it('answers every listing as of each image exactly like the in-memory store', async () => {
    const memory = new MemoryCatalogStore();
    const dynamo = new DynamoDbCatalogStore(client, 'catalog-images');
    const memoryWrites = await catalogBoth(memory);
    expect(await catalogBoth(dynamo)).toEqual(memoryWrites);
    const walked = await walkStats(await FileByteRangeReader.open(images[0]!));
    expect(memoryWrites[0]).toBe(walked.size);
    // The incremental: /drop, /drop/inner, /drop/inner/f removed; /fresh, /fresh-dir added; /tiny-dir/only-file changed.
    expect(memoryWrites[1]).toBe(6);
    const dirs = [
      '/',
      ...[...walked.entries()].filter(([, s]) => s.startsWith('["directory"')).map(([p]) => p),
    ];
    let compared = 0;
    for (const n of [1, 2]) {
      for (const dir of dirs) {
        const want = await listAll(memory, imageAt('vol-ddb', n), 0, dir);
        expect(await listAll(dynamo, imageAt('vol-ddb', n), 0, dir), `${dir} as of image ${n}`).toEqual(want);
        compared += want.length;
      }
    }
    expect(compared).toBeGreaterThan(2 * walked.size - 20);
  }, 240_000);
});
