/**
 * One contract for the LifecycleObjectStore port (lambdas/core/lifecycle/ports.ts): the image
 * bucket as the collector, scrub and image deletion see it (ListObjectsV2 pages resumed with
 * StartAfter, whole and ranged GETs, conditional creates, DeleteObjects batches). Run against the
 * in-memory bucket and the S3 adapter on moto (test/lifecycle/lifecycle-ports.contract.test.ts).
 * Object Lock retention is not part of it: it needs a bucket created with Object Lock, and the
 * fake's lock model is tested with the collector in test/lifecycle.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import {
  DELETE_OBJECTS_MAX_KEYS,
  LIST_MAX_KEYS,
  type LifecycleObjectStore,
} from '../../lambdas/core/lifecycle/ports.ts';

/** An object of `key` whose body names it, so a read shows which object answered. */
export async function putNamed(objects: LifecycleObjectStore, key: string, body = `body of ${key}`) {
  const bytes = Buffer.from(body);
  return objects.putIfAbsent({
    key,
    body: bytes,
    sha256Base64: createHash('sha256').update(bytes).digest('base64'),
  });
}

/** Every key under `prefix`, read in pages of `pageKeys`; also how many pages that took. */
async function listAll(objects: LifecycleObjectStore, prefix: string, pageKeys: number) {
  const keys: string[] = [];
  let pages = 0;
  let startAfter: string | undefined;
  for (;;) {
    const page = await objects.listPage(prefix, startAfter, pageKeys);
    pages += 1;
    keys.push(...page.objects.map((o) => o.key));
    if (!page.isTruncated) return { keys, pages };
    startAfter = page.objects.at(-1)?.key;
  }
}

/** Rejects whether the store throws at once or answers with a rejected promise. */
function attempt<T>(call: () => Promise<T>): Promise<T> {
  return Promise.resolve().then(call);
}

export function lifecycleObjectStoreContract(
  name: string,
  make: () => Promise<LifecycleObjectStore>,
  propertyRuns: number,
): void {
  describe(`lifecycle object store contract: ${name}`, () => {
    it('creates once: a second put of the key is `exists` and the first body stays', async () => {
      const objects = await make();
      expect(await putNamed(objects, 'chunks/aa')).toBe('created');
      expect(await putNamed(objects, 'chunks/aa', 'another body')).toBe('exists');
      expect(Buffer.from(await objects.get('chunks/aa')).toString()).toBe('body of chunks/aa');
    });

    it('reads byte ranges [start, end); an empty range is empty; a missing key is a NotFoundError', async () => {
      const objects = await make();
      await putNamed(objects, 'chunks/03');
      expect(Buffer.from(await objects.getRange('chunks/03', 8, 14)).toString()).toBe('chunks');
      expect(Buffer.from(await objects.getRange('chunks/03', 0, 4)).toString()).toBe('body');
      expect(await objects.getRange('chunks/03', 5, 5)).toEqual(new Uint8Array(0));
      await expect(objects.get('chunks/never')).rejects.toBeInstanceOf(NotFoundError);
      await expect(objects.getRange('chunks/never', 0, 4)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('lists a prefix in key order, in pages resumed after the last key, with sizes and times', async () => {
      const objects = await make();
      const keys = Array.from({ length: 7 }, (_, i) => `chunks/${String(i).padStart(2, '0')}`);
      for (const key of [...keys].reverse()) await putNamed(objects, key);
      await putNamed(objects, 'chunksx/other');
      await putNamed(objects, 'segments/x');
      expect(await listAll(objects, 'chunks/', 3)).toEqual({ keys, pages: 3 });
      const first = await objects.listPage('chunks/', undefined, 2);
      expect(first.isTruncated).toBe(true);
      expect(first.objects.map(({ key, size }) => ({ key, size }))).toEqual([
        { key: 'chunks/00', size: 'body of chunks/00'.length },
        { key: 'chunks/01', size: 'body of chunks/01'.length },
      ]);
      expect(
        first.objects.every((o) => o.lastModified instanceof Date && !Number.isNaN(o.lastModified.getTime())),
      ).toBe(true);
      expect(await objects.listPage('chunks/', 'chunks/06', 10)).toEqual({ objects: [], isTruncated: false });
      expect(await objects.listPage('nothing/', undefined, 10)).toEqual({ objects: [], isTruncated: false });
      const outside = attempt(() => objects.listPage('chunks/', undefined, LIST_MAX_KEYS + 1));
      await expect(outside).rejects.toBeInstanceOf(ValidationError);
    });

    it('deletes in batches, reporting absent keys deleted; an empty batch deletes nothing; over 1,000 keys is refused', async () => {
      const objects = await make();
      for (const key of ['chunks/00', 'chunks/01', 'chunks/02']) await putNamed(objects, key);
      const outcome = await objects.deleteObjects(['chunks/00', 'chunks/01', 'chunks/never-written']);
      expect({ deleted: [...outcome.deleted].sort(), failed: outcome.failed }).toEqual({
        deleted: ['chunks/00', 'chunks/01', 'chunks/never-written'],
        failed: [],
      });
      expect((await listAll(objects, 'chunks/', LIST_MAX_KEYS)).keys).toEqual(['chunks/02']);
      await expect(objects.get('chunks/00')).rejects.toBeInstanceOf(NotFoundError);
      expect(await objects.deleteObjects([])).toEqual({ deleted: [], failed: [] });
      const tooMany = Array.from({ length: DELETE_OBJECTS_MAX_KEYS + 1 }, (_, i) => `k${i}`);
      const refused = attempt(() => objects.deleteObjects(tooMany));
      await expect(refused).rejects.toBeInstanceOf(ValidationError);
      await expect(refused).rejects.toThrow('DeleteObjects takes at most 1000 keys, not 1001');
      expect((await listAll(objects, 'chunks/', LIST_MAX_KEYS)).keys).toEqual(['chunks/02']);
    });

    it('after any puts and deletes, every page size lists exactly the keys that remain, in order', async () => {
      const key = fc.integer({ min: 0, max: 9 }).map((i) => `chunks/${i}`);
      const step = fc.oneof(
        fc.record({ put: key }),
        fc.record({ remove: fc.uniqueArray(key, { minLength: 1, maxLength: 4 }) }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { maxLength: 8 }),
          fc.integer({ min: 1, max: 4 }),
          async (steps, pageKeys) => {
            const objects = await make();
            const model = new Set<string>();
            for (const s of steps) {
              if ('put' in s) {
                expect(await putNamed(objects, s.put)).toBe(model.has(s.put) ? 'exists' : 'created');
                model.add(s.put);
              } else {
                expect([...(await objects.deleteObjects(s.remove)).deleted].sort()).toEqual(
                  [...s.remove].sort(),
                );
                for (const k of s.remove) model.delete(k);
              }
            }
            const { keys, pages } = await listAll(objects, 'chunks/', pageKeys);
            expect(keys).toEqual([...model].sort());
            expect(pages).toBe(Math.max(1, Math.ceil(model.size / pageKeys)));
          },
        ),
        { numRuns: propertyRuns },
      );
    });
  });
}
