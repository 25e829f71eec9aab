/**
 * What every NamedRecordStore must do (plans, workflows): run against the in-memory fake and the
 * DynamoDB adapter on moto. `recordOf(name, revision, variant)` makes records of the kind; two
 * variants of the same name and revision must differ.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import type { NamedRecord, NamedRecordStore } from '../../lambdas/core/store/named-records.ts';

/** The error `promise` rejects with; fails the test when it resolves or rejects with a non-Error. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

export function namedRecordStoreContract<R extends NamedRecord>(
  label: string,
  kind: string,
  makeStore: () => Promise<NamedRecordStore<R>>,
  recordOf: (name: string, revision: number, variant: 0 | 1) => R,
): void {
  describe(`NamedRecordStore contract (${kind}): ${label}`, () => {
    it('creates once (a duplicate name is a ConflictError) and reads back exactly what was written', async () => {
      const store = await makeStore();
      await store.create(recordOf('nightly', 1, 0));
      const duplicate = await rejection(store.create(recordOf('nightly', 1, 1)));
      expect(duplicate).toBeInstanceOf(ConflictError);
      expect(duplicate.message).toBe(`${kind} nightly already exists`);
      expect(await store.get('nightly')).toEqual(recordOf('nightly', 1, 0));
      expect(await store.get('absent')).toBeUndefined();
    });

    it('lists every record ordered by the bytes of the name, and nothing when empty', async () => {
      const store = await makeStore();
      expect(await store.list()).toEqual([]);
      for (const n of ['weekly', 'Afirst', 'nightly', 'nightly2', 'b2'])
        await store.create(recordOf(n, 1, 0));
      expect((await store.list()).map((r) => r.name)).toEqual([
        'Afirst',
        'b2',
        'nightly',
        'nightly2',
        'weekly',
      ]);
      expect((await store.list())[2]).toEqual(recordOf('nightly', 1, 0));
    });

    it('replaces only from the expected revision; an absent record is NotFound', async () => {
      const store = await makeStore();
      await store.create(recordOf('nightly', 1, 0));
      await store.replace(recordOf('nightly', 2, 1), 1);
      expect(await store.get('nightly')).toEqual(recordOf('nightly', 2, 1));
      const stale = await rejection(store.replace(recordOf('nightly', 2, 0), 1));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.message).toBe(`${kind} nightly changed meanwhile (revision 2)`);
      expect(await store.get('nightly')).toEqual(recordOf('nightly', 2, 1));
      const absent = await rejection(store.replace(recordOf('absent', 2, 0), 1));
      expect(absent).toBeInstanceOf(NotFoundError);
      expect(absent.message).toBe(`${kind} absent does not exist`);
      expect(await store.get('absent')).toBeUndefined();
    });

    it('deletes only at the expected revision; deleting an absent record succeeds', async () => {
      const store = await makeStore();
      await store.create(recordOf('nightly', 1, 0));
      await store.replace(recordOf('nightly', 2, 0), 1);
      const stale = await rejection(store.delete('nightly', 1));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.message).toBe(`${kind} nightly changed meanwhile (revision 2)`);
      expect(await store.get('nightly')).toEqual(recordOf('nightly', 2, 0));
      await store.delete('nightly', 2);
      expect(await store.get('nightly')).toBeUndefined();
      await store.delete('nightly', 2);
      expect(await store.list()).toEqual([]);
      await store.create(recordOf('nightly', 1, 0));
      expect(await store.get('nightly')).toEqual(recordOf('nightly', 1, 0));
    });
  });
}
