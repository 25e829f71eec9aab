/**
 * Retention and image deletion wired end to end on the local stack: four real backups of an ext4
 * replica (the API fixture's two, then two more after debugfs changes), `rbp retention apply
 * --keep-last 2` first as a dry run (nothing changes, every image listed with its reasons), then for
 * real: two images remain, both still read back byte for byte and restore a file through the CLI,
 * and the deleted ones answer 404. `rbp images delete` is refused under a legal hold set with `rbp
 * images hold` (shown by `rbp images show`) until `rbp images release` lifts it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import type { RetentionResult } from '../../lambdas/core/api/lifecycle-api.ts';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { LOCAL_API_NAMES } from '../api/local-api-fixture.ts';
import { useLocalApiProduct } from '../support/local-product.ts';
import {
  KEEP_LAST_TWO_OUTCOMES,
  keepLastTwo,
  NEW_FILE,
  NEW_FILE_VERSIONS,
} from './lifecycle-local-fixture.ts';

const product = useLocalApiProduct('retention-local');
const { rbp } = product;
const json = rbp.json;
/** The disk as of img-c and img-d. */
let disks: Map<string, string>;

beforeAll(async () => {
  product.serveLifecycleApi();
  disks = await product.backUpVersions(NEW_FILE, NEW_FILE_VERSIONS);
}, 300_000);

describe('retention and image deletion on the local stack', () => {
  it('--dry-run lists every image with its reasons and changes nothing', async () => {
    const result = await json<RetentionResult>(...keepLastTwo(product, '--dry-run'));
    expect(result.dryRun).toBe(true);
    expect(result.images.map((i) => [i.imageId, i.outcome, i.reasons])).toEqual([
      ['img-d', 'kept', ['last 2']],
      ['img-c', 'kept', ['last 2']],
      ['img-b', 'would-delete', []],
      ['img-a', 'would-delete', []],
    ]);
    const table = await rbp(...keepLastTwo(product, '--dry-run'));
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^IMAGE\s+VOLUME\s+CREATED\s+ACTION\s+REASONS$/);
    expect(table.stdout).toMatch(/img-a\s.*delete \(dry run\)\s+-/);
    const images = await json<{ imageId: string }[]>('images', 'ls', '--volume', product.api.volumeId);
    expect(images.map((i) => i.imageId)).toEqual(['img-d', 'img-c', 'img-b', 'img-a']);
  });

  it('a missing scope is a usage error', async () => {
    const run = await rbp('retention', 'apply', '--keep-last', '2');
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toContain('give exactly one of --server, --volume or --plan');
  });

  it('images delete is refused under legal hold, with the reason; released, the image stays', async () => {
    const hold = await rbp('images', 'hold', 'img-c', '--reason', 'case 4711');
    expect(hold.code, hold.stderr).toBe(0);
    expect(hold.stdout).toMatch(
      new RegExp(
        `^image img-c of ${product.api.volumeId} is under legal hold \\(case 4711\\): changed by \\S+ at \\S+\n$`,
      ),
    );
    try {
      const shown = await json<{ legalHold?: boolean; legalHoldReason?: string }>('images', 'show', 'img-c');
      expect({ legalHold: shown.legalHold, legalHoldReason: shown.legalHoldReason }).toEqual({
        legalHold: true,
        legalHoldReason: 'case 4711',
      });
      const run = await rbp('images', 'delete', 'img-c');
      expect(run.code).toBe(EXIT.CONFLICT);
      expect(run.stderr).toContain(`image img-c of ${product.api.volumeId} is under legal hold; not deleted`);
    } finally {
      const release = await json<{ legalHold: boolean }>('images', 'release', 'img-c');
      expect(release.legalHold).toBe(false);
    }
    const shown = await json<{ imageId: string; legalHold?: boolean }>('images', 'show', 'img-c');
    expect(shown.imageId).toBe('img-c');
    expect(shown.legalHold).toBeUndefined();
  });

  it('--keep-last 2 deletes the two oldest; the two left restore byte for byte; the deleted answer 404', async () => {
    const result = await json<RetentionResult>(...keepLastTwo(product));
    expect(result.images.map((i) => [i.imageId, i.outcome])).toEqual(KEEP_LAST_TWO_OUTCOMES);
    const images = await json<{ imageId: string }[]>('images', 'ls', '--volume', product.api.volumeId);
    expect(images.map((i) => i.imageId)).toEqual(['img-d', 'img-c']);
    for (const gone of ['img-a', 'img-b']) {
      const shown = await rbp('images', 'show', gone);
      expect(shown.code, shown.stderr).toBe(EXIT.NOT_FOUND);
      await expect(
        product.api.engine.s3Client.send(
          new HeadObjectCommand({
            Bucket: LOCAL_API_NAMES.imageBucket,
            Key: manifestKey(product.api.volumeId, gone),
          }),
        ),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    }
    const again = await rbp('images', 'delete', 'img-a');
    expect(again.code).toBe(EXIT.NOT_FOUND);
    for (const kept of ['img-c', 'img-d']) {
      expect((await product.imageBytes(kept)).equals(await readFile(disks.get(kept)!)), kept).toBe(true);
      const out = path.join(product.work, `restored-${kept}.txt`);
      const restored = await json<{ status: string }>(
        'restore',
        'file',
        '--image',
        kept,
        '--path',
        NEW_FILE,
        '--out',
        out,
        '--poll-interval',
        '0.2',
      );
      expect(restored.status).toBe('SUCCEEDED');
      expect((await readFile(out)).equals(await readFile(path.join(product.work, `${kept}.txt`)))).toBe(true);
    }
    // Eight CLI runs, the deletions with their catalog pruning and two file restores: minutes on a
    // loaded 2-core machine.
  }, 240_000);
});
