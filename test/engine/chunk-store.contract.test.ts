/**
 * One contract for the chunk store (ImageStore over an ObjectStore), run against the in-memory
 * fake, a fault-injecting wrapper around it, and the S3 adapter on moto through the gateway
 * (restic's backend test suite / kopia's VerifyStorage).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConflictError,
  CorruptObjectError,
  NotFoundError,
  ValidationError,
} from '../../lambdas/core/errors.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ZERO_HASH_HEX, sha256, sha256Base64 } from '../../lambdas/core/image/hashing.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { EMPTY_IMAGE_STATS, chunkKey } from '../../lambdas/core/image/image-types.ts';
import type { ObjectStore } from '../../lambdas/core/store/object-store.ts';
import { withRetry } from '../../lambdas/core/util/retry.ts';
import { FaultyObjectStore } from '../fakes/faulty-object-store.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { chunkOf, fastRetry } from './engine-fixture.ts';
import { localEngine, type LocalEngine } from './local-engine.ts';

function manifest(imageId: string, segments: string[]): ImageManifest {
  return {
    formatVersion: 1,
    volumeId: 'vol-contract',
    imageId,
    createdAt: '2026-02-03T04:05:06.007Z',
    kind: 'full',
    snapshotId: 'snap-contract',
    volumeSizeBytes: 1_073_741_824,
    blockSizeBytes: EBS_BLOCK_SIZE_BYTES,
    chunkSizeBytes: CHUNK_SIZE_BYTES,
    segmentChunks: 1024,
    segments,
    stats: EMPTY_IMAGE_STATS,
  };
}

/** `lostAnswers`: the store may write and then fail the answer, so a writer can never learn it created. */
function chunkStoreContract(name: string, makeStore: () => ObjectStore, lostAnswers = false): void {
  describe(`chunk store contract: ${name}`, () => {
    let objects: ObjectStore;
    let store: ImageStore;
    beforeAll(() => {
      objects = makeStore();
      store = new ImageStore(objects, { retry: fastRetry(9, 20) });
    });

    it('stores a chunk once and reads it back verified, byte for byte', async () => {
      const chunk = chunkOf(
        Buffer.concat([randomBytes(EBS_BLOCK_SIZE_BYTES), Buffer.alloc(EBS_BLOCK_SIZE_BYTES, 'a')]),
      );
      const first = await store.putChunk(chunk.name, chunk.data);
      const second = await store.putChunk(chunk.name, chunk.data);
      expect(first.result).toBe('created');
      expect(second).toEqual({ result: 'exists', bytes: first.bytes });
      const read = await store.getChunk(chunk.name);
      expect(read.data.equals(chunk.data)).toBe(true);
      expect(read.halfDigests[1].equals(sha256(Buffer.alloc(EBS_BLOCK_SIZE_BYTES, 'a')))).toBe(true);
      expect(await withRetry(fastRetry(), () => objects.list(`chunks/${chunk.name.slice(0, 10)}`))).toEqual([
        chunkKey(chunk.name),
      ]);
    });

    it('lets exactly one of many concurrent writers of the same chunk create it', async () => {
      const chunk = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
      const results = await Promise.all(
        Array.from({ length: 6 }, () => store.putChunk(chunk.name, chunk.data)),
      );
      const created = results.filter((r) => r.result === 'created').length;
      if (lostAnswers) expect(created).toBeLessThanOrEqual(1);
      else expect(created).toBe(1);
      expect(results.filter((r) => r.result === 'exists')).toHaveLength(6 - created);
      expect((await store.getChunk(chunk.name)).data.equals(chunk.data)).toBe(true);
    });

    it('refuses a chunk whose content does not match its name', async () => {
      const real = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
      const impostor = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
      await store.putChunk(real.name, impostor.data);
      const error = await store.getChunk(real.name).catch((e: unknown) => e);
      // Corrupt at rest (every re-read fails the same way): not retryable, naming the chunk.
      expect(error).toBeInstanceOf(CorruptObjectError);
      expect((error as CorruptObjectError).retryable).toBe(false);
      expect((error as Error).message).toBe(`chunk ${real.name} holds data named ${impostor.name}`);
    });

    it('refuses an object that is not a chunk at all', async () => {
      const name = chunkOf(randomBytes(CHUNK_SIZE_BYTES)).name;
      const body = Buffer.from('not a chunk');
      await withRetry(fastRetry(), () =>
        objects.putIfAbsent({ key: chunkKey(name), body, sha256Base64: sha256Base64(body) }),
      );
      await expect(store.getChunk(name)).rejects.toThrow(
        `chunk ${name} is 11 bytes, shorter than its header`,
      );
    });

    it('reports a missing chunk as NotFoundError without retrying it', async () => {
      const name = chunkOf(randomBytes(CHUNK_SIZE_BYTES)).name;
      await expect(store.getChunk(name)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('names segments by content, stores each once, never stores an all-zero table', async () => {
      const entries = Buffer.alloc(1024 * 32);
      randomBytes(32).copy(entries, 5 * 32);
      const first = await store.putSegment(entries);
      const again = await store.putSegment(Buffer.from(entries));
      expect(first.stored?.result).toBe('created');
      expect(again).toEqual({ hash: first.hash, stored: { result: 'exists', bytes: first.stored!.bytes } });
      expect((await store.getSegment(first.hash, 1024)).equals(entries)).toBe(true);
      expect(await store.putSegment(Buffer.alloc(1024 * 32))).toEqual({ hash: ZERO_HASH_HEX });
      expect((await store.getSegment(ZERO_HASH_HEX, 1024)).equals(Buffer.alloc(1024 * 32))).toBe(true);
    });

    it('writes a manifest once: the same bytes again succeed, different bytes conflict', async () => {
      const imageId = `img-${randomBytes(4).toString('hex')}`;
      const written = await store.putManifest(manifest(imageId, [ZERO_HASH_HEX]));
      expect(written.result).toBe('created');
      expect((await store.putManifest(manifest(imageId, [ZERO_HASH_HEX]))).result).toBe('exists');
      const conflict = await store.putManifest(manifest(imageId, ['ab'.repeat(32)])).catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(ConflictError);
      const read = await store.getManifest('vol-contract', imageId, written.sha256);
      expect(read.segments).toEqual([ZERO_HASH_HEX]);
      expect(read.formatVersion).toBe(1);
      await expect(store.getManifest('vol-contract', imageId, '00'.repeat(32))).rejects.toThrow(
        `manifest images/vol-contract/${imageId}.json does not match the digest in its image record`,
      );
    });

    it('lists keys under a prefix in order', async () => {
      const names = Array.from({ length: 3 }, () => chunkOf(randomBytes(CHUNK_SIZE_BYTES)));
      for (const chunk of names) await store.putChunk(chunk.name, chunk.data);
      const listed = await withRetry(fastRetry(), () => objects.list('chunks/'));
      for (const chunk of names) expect(listed).toContain(chunkKey(chunk.name));
      expect([...listed].sort()).toEqual(listed);
    });

    // Last: the wrapper's seeded faults fall on the cases above as they did before it was added.
    it('repairs a chunk stored with other bytes: a replace, then a verified read-back', async () => {
      const real = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
      const impostor = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
      await store.putChunk(real.name, impostor.data);
      // A conditional create cannot: the key exists.
      expect((await store.putChunk(real.name, real.data)).result).toBe('exists');
      await expect(store.getChunk(real.name)).rejects.toBeInstanceOf(CorruptObjectError);
      const repaired = await store.repairChunk(real.name, real.data);
      expect(repaired.result).toBe('created');
      expect((await store.getChunk(real.name)).data.equals(real.data)).toBe(true);
      // A missing chunk is written the same way; repairing twice is harmless.
      const missing = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
      await store.repairChunk(missing.name, missing.data);
      await store.repairChunk(missing.name, missing.data);
      expect((await store.getChunk(missing.name)).data.equals(missing.data)).toBe(true);
    });
  });
}

chunkStoreContract('in-memory fake', () => new MemoryObjectStore());

const faulty: { store?: FaultyObjectStore } = {};
chunkStoreContract(
  'fault-injecting wrapper (20% throttles, 10% 5xx, 10% lost answers)',
  () => {
    faulty.store = new FaultyObjectStore(
      new MemoryObjectStore(),
      { throttleRate: 0.2, serverErrorRate: 0.1, lostAnswerRate: 0.1 },
      42,
    );
    return faulty.store;
  },
  true,
);
describe('the fault-injecting wrapper', () => {
  it('really injected faults during its contract run', () => {
    expect(faulty.store!.injected.throttles).toBeGreaterThan(0);
    expect(faulty.store!.injected.serverErrors).toBeGreaterThan(0);
    expect(faulty.store!.injected.lostAnswers).toBeGreaterThan(0);
  });
});

const local = useLocalStack();
const s3: { engine?: LocalEngine } = {};
beforeAll(async () => {
  s3.engine = await localEngine(
    local.clientConfig(),
    { bucket: 'rbp-contract', table: 'rbp-contract' },
    fastRetry(),
  );
});
afterAll(() => s3.engine?.destroy());
chunkStoreContract('S3 adapter on moto', () => s3.engine!.objects);

describe('the in-memory fake', () => {
  it('rejects a body that does not match its SHA-256, as S3 answers BadDigest', async () => {
    const store = new MemoryObjectStore();
    const put = store.putIfAbsent({
      key: 'chunks/x',
      body: Buffer.from('abc'),
      sha256Base64: sha256Base64(Buffer.from('abd')),
    });
    await expect(put).rejects.toBeInstanceOf(ValidationError);
    await expect(put).rejects.toThrow(
      /^PutObject failed: BadDigest: The sha256 you specified did not match the calculated checksum\.$/,
    );
  });
});
