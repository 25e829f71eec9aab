/**
 * The contract of the ObjectStore port (lambdas/core/store/object-store.ts) as the work bucket and
 * the image bucket use it: a conditional create that keeps the first bytes and answers `exists`,
 * the one overwrite (`replace`) where the store has it, reads of whole objects (NotFoundError for
 * a key that was never written), listings in lexicographic order under a prefix through every
 * page, and a body whose checksum does not match refused. The range-failure records of Copy Range
 * (core/backup/range-failures.ts) are the work bucket's one overwrite: each attempt's record
 * replaces the last, and Explain Copy Failure reads them back through the same store.
 *
 * Run against MemoryObjectStore and MemoryBucket (test/fakes) and S3ObjectStore on moto, with and
 * without a key prefix (test/contracts/object-store-ports.contract.test.ts). Each `make` gives a
 * store never written before.
 */
import { describe, expect, it } from 'vitest';
import { explainCopyFailure, workAreaRangeFailures } from '../../lambdas/core/backup/range-failures.ts';
import { putJsonOnce, rangeFailureKey, rangeSummaryKey } from '../../lambdas/core/backup/work-area.ts';
import { AccessDeniedError, NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import { crc32Base64, sha256Base64 } from '../../lambdas/core/image/hashing.ts';
import { RangeCopyFailedError } from '../../lambdas/core/orchestration/orchestration-errors.ts';
import type { BackupPlan } from '../../lambdas/core/orchestration/step-state.ts';
import type { ObjectStore, PutObjectRequest } from '../../lambdas/core/store/object-store.ts';
import { mapWithConcurrency } from '../../lambdas/core/util/concurrency.ts';
import { BAD_DIGEST_MESSAGE } from '../fakes/memory-object-store.ts';

export interface ObjectStoreUnderTest {
  readonly store: ObjectStore;
  /** Whether the store has `replace` (the work bucket's S3 adapter does; MemoryBucket does not). */
  readonly replaces: boolean;
}

/**
 * Keys listed beyond one page: S3 ListObjectsV2 returns at most 1,000 keys per request
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html), so 1,003 keys need two.
 */
const KEYS_BEYOND_ONE_PAGE = 1_003;
/** Concurrent PUTs while writing those keys: quick on moto, far below any throttle. */
const WRITE_CONCURRENCY = 16;

const text = (s: string) => new TextEncoder().encode(s);
const decoded = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function sha256Put(key: string, body: string): PutObjectRequest {
  const bytes = text(body);
  return { key, body: bytes, sha256Base64: sha256Base64(bytes), contentType: 'application/json' };
}

function crc32Put(key: string, body: string): PutObjectRequest {
  const bytes = text(body);
  return { key, body: bytes, crc32Base64: crc32Base64(bytes) };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error)) throw new Error('expected a rejection');
  return outcome;
}

const BACKUP = 'bk-contract';
const VOLUME = 'vol-0contract';
const PLAN: BackupPlan = {
  volumeId: VOLUME,
  imageId: `img-${BACKUP}`,
  snapshotId: 'snap-0contract',
  kind: 'full',
  createdAt: '2026-12-04T20:00:00.000Z',
  workItems: { bucket: 'work-bucket', key: `work/${BACKUP}/${VOLUME}/items.json` },
  rangeCount: 3,
  maxConcurrency: 2,
  job: { backupId: BACKUP, readRequestsPerSecond: 10 },
};
const MAP_RUN_FAILED = {
  Error: 'States.ExceedToleratedFailureThreshold',
  Cause: 'The specified tolerated failure threshold was exceeded',
};

async function explained(store: ObjectStore): Promise<Error> {
  return rejection(
    explainCopyFailure(store, { action: 'explain-failure', plan: PLAN, error: MAP_RUN_FAILED }),
  );
}

/**
 * `verifiesChecksums`: whether the store checks a body against its checksum as S3 does (BadDigest,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html). moto
 * stores the body without checking it, and MemoryBucket writes what it is given; that case runs on
 * MemoryObjectStore only; object-store-ports.contract.test.ts shows S3ObjectStore's answer to S3's
 * BadDigest on a stub client.
 */
export function objectStoreContract(
  name: string,
  make: () => Promise<ObjectStoreUnderTest>,
  verifiesChecksums: boolean,
): void {
  describe(`object store contract: ${name}`, () => {
    it('creates a key once: a second create answers `exists` and the first bytes stay', async () => {
      const { store } = await make();
      expect(await store.putIfAbsent(sha256Put('chunks/ab/one', 'first'))).toBe('created');
      expect(await store.putIfAbsent(sha256Put('chunks/ab/one', 'second, longer'))).toBe('exists');
      expect(await store.putIfAbsent(crc32Put('chunks/ab/one', 'third'))).toBe('exists');
      expect(decoded(await store.get('chunks/ab/one'))).toBe('first');
    });

    it('takes a body with either checksum and reads it back byte for byte, an empty one too', async () => {
      const { store } = await make();
      const binary = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31 + 7) % 256);
      expect(
        await store.putIfAbsent({ key: 'segments/s1', body: binary, crc32Base64: crc32Base64(binary) }),
      ).toBe('created');
      expect(await store.putIfAbsent(sha256Put('manifests/m1.json', '{"a":1}'))).toBe('created');
      expect(await store.putIfAbsent(crc32Put('empty', ''))).toBe('created');
      expect(Buffer.from(await store.get('segments/s1')).equals(Buffer.from(binary))).toBe(true);
      expect(decoded(await store.get('manifests/m1.json'))).toBe('{"a":1}');
      expect((await store.get('empty')).length).toBe(0);
    });

    it.runIf(verifiesChecksums)(
      'refuses a body that does not match its checksum and stores nothing under the key',
      async () => {
        const { store } = await make();
        const error = await rejection(
          store.putIfAbsent({
            key: 'chunks/bad',
            body: text('abc'),
            sha256Base64: sha256Base64(text('abd')),
          }),
        );
        // S3 answers 400 BadDigest: the checksum was computed over other bytes; no retry helps.
        expect(error).toBeInstanceOf(ValidationError);
        expect(error.message).toBe(`PutObject failed: BadDigest: ${BAD_DIGEST_MESSAGE}`);
        expect(await store.list('chunks/')).toEqual([]);
        expect(await rejection(store.get('chunks/bad'))).toBeInstanceOf(NotFoundError);
      },
    );

    it('a key never written is a NotFoundError; so is one that only shares a prefix with a written key', async () => {
      const { store } = await make();
      await store.putIfAbsent(sha256Put('work/a/items.json', '[]'));
      for (const key of ['work/a/items', 'work/a/items.json.bak', 'never'])
        expect(await rejection(store.get(key))).toBeInstanceOf(NotFoundError);
    });

    it('lists the keys under a prefix in lexicographic order, and no other key', async () => {
      const { store } = await make();
      expect(await store.list('work/')).toEqual([]);
      for (const key of ['work/b/2', 'work/a/10', 'work/a/9', 'work/ab', 'workx/a', 'other/work/a'])
        await store.putIfAbsent(crc32Put(key, key));
      expect(await store.list('work/a')).toEqual(['work/a/10', 'work/a/9', 'work/ab']);
      expect(await store.list('work/a/')).toEqual(['work/a/10', 'work/a/9']);
      expect(await store.list('work/')).toEqual(['work/a/10', 'work/a/9', 'work/ab', 'work/b/2']);
      expect(await store.list('')).toEqual([
        'other/work/a',
        'work/a/10',
        'work/a/9',
        'work/ab',
        'work/b/2',
        'workx/a',
      ]);
      expect(await store.list('nothing/')).toEqual([]);
    });

    it(`lists every key through every page (${KEYS_BEYOND_ONE_PAGE} keys)`, async () => {
      const { store } = await make();
      const keys = Array.from(
        { length: KEYS_BEYOND_ONE_PAGE },
        (_, i) => `ranges/${String(i).padStart(6, '0')}`,
      );
      await mapWithConcurrency([...keys].reverse(), WRITE_CONCURRENCY, (key) =>
        store.putIfAbsent(crc32Put(key, key)),
      );
      await store.putIfAbsent(crc32Put('ranges-after', 'x'));
      expect(await store.list('ranges/')).toEqual(keys);
    }, 120_000);

    it('replaces a key where the store can (the last bytes win, an absent key is created); else has no replace', async () => {
      const { store, replaces } = await make();
      if (!replaces) {
        expect(store.replace).toBeUndefined();
        return;
      }
      await store.putIfAbsent(sha256Put('chunks/cd/two', 'corrupt at rest'));
      await store.replace!(sha256Put('chunks/cd/two', 'repaired'));
      expect(decoded(await store.get('chunks/cd/two'))).toBe('repaired');
      await store.replace!(crc32Put('chunks/cd/three', 'new'));
      expect(decoded(await store.get('chunks/cd/three'))).toBe('new');
      expect(await store.list('chunks/cd/')).toEqual(['chunks/cd/three', 'chunks/cd/two']);
    });

    it('keeps one failure record per range, the last attempt’s, and Explain Copy Failure reads it back', async () => {
      const { store, replaces } = await make();
      const recorder = workAreaRangeFailures(store);
      const throttled = {
        firstBlock: 0,
        endBlock: 2048,
        errorName: 'ThrottledError',
        message: 'GetSnapshotBlock throttled',
        permanent: false,
      };
      if (!replaces) {
        const error = await rejection(recorder.record(BACKUP, VOLUME, throttled));
        expect(error.message).toBe('the work store cannot overwrite a failure record');
        return;
      }
      await recorder.record(BACKUP, VOLUME, throttled);
      await recorder.record(BACKUP, VOLUME, { ...throttled, message: 'second attempt throttled too' });
      await recorder.record(BACKUP, VOLUME, {
        firstBlock: 2048,
        endBlock: 4096,
        errorName: 'ThrottledError',
        message: 'slow down',
        permanent: false,
      });
      // Another backup's and another volume's records are not this copy's.
      const denied = {
        firstBlock: 4096,
        endBlock: 5000,
        errorName: 'AccessDeniedError',
        message: 'AccessDenied on kms:GenerateDataKey',
        permanent: true,
      };
      await recorder.record('bk-other', VOLUME, denied);
      await recorder.record(BACKUP, 'vol-0other', denied);
      expect(JSON.parse(decoded(await store.get(rangeFailureKey(BACKUP, VOLUME, 0))))).toEqual({
        ...throttled,
        message: 'second attempt throttled too',
      });

      const retryable = await explained(store);
      expect(retryable).toBeInstanceOf(RangeCopyFailedError);
      expect(retryable.message).toBe(
        `range 0-2048 of ${VOLUME}: ThrottledError: second attempt throttled too (2 of 3 ranges failed)`,
      );

      // The first range was copied after all (its summary is there); a permanent record wins.
      await putJsonOnce(store, rangeSummaryKey(BACKUP, VOLUME, 0), { firstBlock: 0, endBlock: 2048 });
      await recorder.record(BACKUP, VOLUME, denied);
      const permanent = await explained(store);
      expect(permanent).toBeInstanceOf(AccessDeniedError);
      expect(permanent.message).toBe(
        `range 4096-5000 of ${VOLUME}: AccessDenied on kms:GenerateDataKey (2 of 3 ranges failed)`,
      );
    });
  });
}
