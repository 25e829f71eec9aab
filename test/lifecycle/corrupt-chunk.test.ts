/**
 * A chunk whose header is valid but whose data does not match its name (corrupt at rest): reading
 * it re-reads a fixed number of times, then fails with a CorruptObjectError that names the chunk
 * and is not retryable, so a volume restore fails at once: no step of the volume-restore state
 * machine retries it, and a restore to a sink stops after exactly those reads.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CorruptObjectError, isRetryable } from '../../lambdas/core/errors.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore, OBJECT_INTEGRITY_ATTEMPTS } from '../../lambdas/core/image/image-store.ts';
import { chunkKey } from '../../lambdas/core/image/image-types.ts';
import { chunkOf, fastRetry } from '../engine/engine-fixture.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';

/** Every Retry's ErrorEquals of a state machine definition, at any depth. */
function retriedErrors(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const item of node) retriedErrors(item, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'Retry' && Array.isArray(value)) {
        for (const retrier of value as { ErrorEquals: string[] }[]) {
          for (const name of retrier.ErrorEquals) out.add(name);
        }
      } else retriedErrors(value, out);
    }
  }
  return out;
}

describe('a chunk with a valid header and a wrong digest', () => {
  it('fails with a non-retryable CorruptObjectError naming the chunk after exactly the re-reads', async () => {
    const objects = new MemoryObjectStore();
    const images = new ImageStore(objects, { retry: fastRetry() });
    const real = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
    const impostor = chunkOf(randomBytes(CHUNK_SIZE_BYTES));
    // A valid object (header, codec, length) under the real chunk's key, holding other data.
    await images.putChunk(real.name, impostor.data);
    const before = objects.counters.gets;
    const error = await images.getChunk(real.name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect(isRetryable(error)).toBe(false);
    expect((error as CorruptObjectError).name).toBe('CorruptObjectError');
    expect((error as Error).message).toBe(`chunk ${real.name} holds data named ${impostor.name}`);
    expect((error as CorruptObjectError).context).toMatchObject({
      key: chunkKey(real.name),
      reads: OBJECT_INTEGRITY_ATTEMPTS,
    });
    expect(objects.counters.gets - before).toBe(OBJECT_INTEGRITY_ATTEMPTS);
  });

  it('is retried by no step of the volume-restore or backup state machines', () => {
    for (const file of ['statemachines/volume-restore.asl.json', 'statemachines/backup.asl.json']) {
      const definition: unknown = JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'));
      const retried = retriedErrors(definition);
      expect(retried.has('IntegrityError'), file).toBe(true);
      expect(retried.has('CorruptObjectError'), file).toBe(false);
      expect(retried.has('States.ALL'), file).toBe(false);
    }
  });
});
