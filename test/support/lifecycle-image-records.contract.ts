/**
 * One contract for the LifecycleImageRecords port (lambdas/core/lifecycle/ports.ts): the image
 * records as expiry, retention and deletion see them, deleting ones included. Run against the
 * in-memory fake and the DynamoDB adapter on moto (test/lifecycle/lifecycle-ports.contract.test.ts).
 * Records enter the way a backup commits them (`commit`), so the real adapter reads the items the
 * image record store wrote.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import type { LifecycleImage, LifecycleImageRecords } from '../../lambdas/core/lifecycle/ports.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';

export interface LifecycleRecordsUnderTest {
  readonly records: LifecycleImageRecords;
  /** Commits the record as a backup does; `serverId` is the server the volume is tagged with. */
  commit(record: ImageRecord, serverId?: string): Promise<void>;
}

/**
 * What a listing gives for a committed record: its own fields, `live`, the figures of the backup,
 * and the server grouping (server and source, a record without a source being a replica image)
 * when the volume is tagged with a server.
 */
export function listedImage(record: ImageRecord, serverId?: string): LifecycleImage {
  return {
    ...ownFields(record),
    status: 'live',
    ...(serverId === undefined ? {} : { serverId, source: record.source ?? 'replica' }),
    stats: { ...record.stats },
  };
}

/** The record's own fields, which getImage gives (the server grouping belongs to listings). */
function ownFields(image: ImageRecord | LifecycleImage) {
  const { volumeId, imageId, createdAt, manifestKey, manifestSha256, volumeSizeBytes } = image;
  return { volumeId, imageId, createdAt, manifestKey, manifestSha256, volumeSizeBytes };
}

const DAY_MS = 86_400_000;
/** The caller a legal hold names. */
const OPERATOR = 'arn:aws:iam::123456789012:user/legal';
const T0 = Date.parse('2026-04-01T00:00:00.000Z');

/** Three volumes, two tagged with servers: images created a day apart, listed out of commit order. */
function fleet(): { record: ImageRecord; serverId?: string }[] {
  const at = (day: number) => new Date(T0 + day * DAY_MS).toISOString();
  return [
    { record: fullImageRecord('vol-b', 'img-b2', at(3)), serverId: 'srv-1' },
    { record: fullImageRecord('vol-a', 'img-a2', at(2)), serverId: 'srv-1' },
    { record: fullImageRecord('vol-a', 'img-a1', at(1)), serverId: 'srv-1' },
    { record: { ...fullImageRecord('vol-c', 'img-c1', at(4)), source: 'primary' }, serverId: 'srv-2' },
    { record: fullImageRecord('vol-d', 'img-d1', at(5)) },
  ];
}

async function commitFleet(under: LifecycleRecordsUnderTest): Promise<void> {
  for (const { record, serverId } of fleet()) await under.commit(record, serverId);
}

function expectedListing(deleting: ReadonlySet<string> = new Set()): LifecycleImage[] {
  return fleet()
    .map(({ record, serverId }) => ({
      ...listedImage(record, serverId),
      ...(deleting.has(record.imageId) ? { status: 'deleting' as const } : {}),
    }))
    .sort((x, y) =>
      x.volumeId === y.volumeId ? (x.imageId < y.imageId ? -1 : 1) : x.volumeId < y.volumeId ? -1 : 1,
    );
}

export function lifecycleImageRecordsContract(
  name: string,
  make: () => Promise<LifecycleRecordsUnderTest>,
  propertyRuns: number,
): void {
  describe(`lifecycle image records contract: ${name}`, () => {
    it('lists every record of every volume by volume then image id, live, with server and source', async () => {
      const under = await make();
      expect(await under.records.listImages()).toEqual([]);
      await commitFleet(under);
      expect(await under.records.listImages()).toEqual(expectedListing());
    });

    it('lists one volume, and one server’s volumes, exactly as the whole listing has them', async () => {
      const under = await make();
      await commitFleet(under);
      await under.records.markDeleting('vol-a', 'img-a1');
      const listing = expectedListing(new Set(['img-a1']));
      for (const volumeId of ['vol-a', 'vol-b', 'vol-c', 'vol-d', 'vol-none']) {
        expect(await under.records.listVolume(volumeId)).toEqual(
          listing.filter((i) => i.volumeId === volumeId),
        );
      }
      for (const serverId of ['srv-1', 'srv-2', 'srv-none']) {
        expect(await under.records.listServer(serverId)).toEqual(
          listing.filter((i) => i.serverId === serverId),
        );
      }
      expect((await under.records.listServer('srv-1')).map((i) => i.imageId)).toEqual([
        'img-a1',
        'img-a2',
        'img-b2',
      ]);
    });

    it("reads one record's own fields; an unknown image or volume is a NotFoundError naming both", async () => {
      const under = await make();
      await commitFleet(under);
      const image = await under.records.getImage('vol-a', 'img-a2');
      expect({ ...ownFields(image), status: image.status }).toEqual({
        ...ownFields(fullImageRecord('vol-a', 'img-a2', new Date(T0 + 2 * DAY_MS).toISOString())),
        status: 'live',
      });
      for (const [volumeId, imageId] of [
        ['vol-a', 'img-zz'],
        ['vol-zz', 'img-a2'],
      ] as const) {
        const missing = under.records.getImage(volumeId, imageId);
        await expect(missing).rejects.toBeInstanceOf(NotFoundError);
        await expect(missing).rejects.toThrow(`image ${imageId} of ${volumeId} does not exist`);
      }
    });

    it('marks an image deleting (idempotent), which listings and reads then show; a missing one is `missing`', async () => {
      const under = await make();
      await commitFleet(under);
      expect(await under.records.markDeleting('vol-a', 'img-a1')).toBe('marked');
      expect(await under.records.markDeleting('vol-a', 'img-a1')).toBe('marked');
      expect(await under.records.markDeleting('vol-a', 'img-never')).toBe('missing');
      expect((await under.records.getImage('vol-a', 'img-a1')).status).toBe('deleting');
      expect((await under.records.getImage('vol-a', 'img-a2')).status).toBe('live');
      expect(await under.records.listImages()).toEqual(expectedListing(new Set(['img-a1'])));
    });

    it('sets and lifts a legal hold on a live record (idempotent); reads and listings show it', async () => {
      const under = await make();
      await commitFleet(under);
      const hold = {
        legalHold: true,
        reason: 'case 4711',
        changedAt: '2026-05-01T00:00:00.000Z',
        changedBy: OPERATOR,
      };
      expect(await under.records.setLegalHold('vol-a', 'img-a2', hold)).toBe('changed');
      expect(await under.records.setLegalHold('vol-a', 'img-a2', hold)).toBe('changed');
      const held = await under.records.getImage('vol-a', 'img-a2');
      expect({ legalHold: held.legalHold, status: held.status }).toEqual({ legalHold: true, status: 'live' });
      const listing = expectedListing().map((i) => (i.imageId === 'img-a2' ? { ...i, legalHold: true } : i));
      expect(await under.records.listImages()).toEqual(listing);
      const lift = { legalHold: false, changedAt: '2026-05-02T00:00:00.000Z', changedBy: OPERATOR };
      expect(await under.records.setLegalHold('vol-a', 'img-a2', lift)).toBe('changed');
      expect(await under.records.setLegalHold('vol-a', 'img-a2', lift)).toBe('changed');
      expect(await under.records.setLegalHold('vol-a', 'img-a1', lift)).toBe('changed'); // never held
      expect((await under.records.getImage('vol-a', 'img-a2')).legalHold).toBeUndefined();
      expect(await under.records.listImages()).toEqual(expectedListing());
    });

    it('refuses a legal hold on a deleting record and on a missing one, changing nothing', async () => {
      const under = await make();
      await commitFleet(under);
      await under.records.markDeleting('vol-b', 'img-b2');
      const hold = { legalHold: true, changedAt: '2026-05-01T00:00:00.000Z', changedBy: OPERATOR };
      expect(await under.records.setLegalHold('vol-b', 'img-b2', hold)).toBe('deleting');
      expect(await under.records.setLegalHold('vol-b', 'img-b2', { ...hold, legalHold: false })).toBe(
        'deleting',
      );
      expect(await under.records.setLegalHold('vol-a', 'img-never', hold)).toBe('missing');
      expect(await under.records.setLegalHold('vol-never', 'img-a1', hold)).toBe('missing');
      expect(await under.records.listImages()).toEqual(expectedListing(new Set(['img-b2'])));
    });

    it('refuses to mark a record under legal hold deleting (`held`, nothing changed); lifted, it marks', async () => {
      const under = await make();
      await commitFleet(under);
      const hold = { legalHold: true, changedAt: '2026-05-01T00:00:00.000Z', changedBy: OPERATOR };
      await under.records.setLegalHold('vol-c', 'img-c1', hold);
      expect(await under.records.markDeleting('vol-c', 'img-c1')).toBe('held');
      expect(await under.records.markDeleting('vol-c', 'img-c1')).toBe('held');
      const image = await under.records.getImage('vol-c', 'img-c1');
      expect({ legalHold: image.legalHold, status: image.status }).toEqual({
        legalHold: true,
        status: 'live',
      });
      await under.records.setLegalHold('vol-c', 'img-c1', { ...hold, legalHold: false });
      expect(await under.records.markDeleting('vol-c', 'img-c1')).toBe('marked');
      expect(await under.records.listImages()).toEqual(expectedListing(new Set(['img-c1'])));
    });

    it('deletes a record (idempotent, absent ones too): gone from reads and listings, its mark `missing`', async () => {
      const under = await make();
      await commitFleet(under);
      await under.records.markDeleting('vol-b', 'img-b2');
      await under.records.deleteImage('vol-b', 'img-b2');
      await under.records.deleteImage('vol-b', 'img-b2');
      await under.records.deleteImage('vol-d', 'img-never');
      await under.records.deleteImage('vol-a', 'img-a2'); // a live record goes too
      await expect(under.records.getImage('vol-b', 'img-b2')).rejects.toBeInstanceOf(NotFoundError);
      expect(await under.records.markDeleting('vol-b', 'img-b2')).toBe('missing');
      expect((await under.records.listImages()).map((i) => i.imageId)).toEqual([
        'img-a1',
        'img-c1',
        'img-d1',
      ]);
    });

    it('after any sequence of marks, holds, lifts and deletes, answers and listing match a model of the records', async () => {
      const ids = fleet().map(({ record }) => [record.volumeId, record.imageId] as const);
      const target = fc.oneof(fc.constantFrom(...ids), fc.constant(['vol-a', 'img-absent'] as const));
      const step = fc.record({ op: fc.constantFrom('mark', 'delete', 'hold', 'lift'), target });
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 8 }), async (steps) => {
          const under = await make();
          await commitFleet(under);
          const model = new Map<string, LifecycleImage>(expectedListing().map((i) => [i.imageId, i]));
          for (const {
            op,
            target: [volumeId, imageId],
          } of steps) {
            const known = model.get(imageId);
            if (op === 'mark') {
              const held = known?.status === 'live' && known.legalHold === true;
              const expected = known === undefined ? 'missing' : held ? 'held' : 'marked';
              expect(await under.records.markDeleting(volumeId, imageId)).toBe(expected);
              if (expected === 'marked') model.set(imageId, { ...known!, status: 'deleting' });
            } else if (op === 'hold' || op === 'lift') {
              const change = {
                legalHold: op === 'hold',
                changedAt: '2026-05-01T00:00:00.000Z',
                changedBy: OPERATOR,
              };
              const expected =
                known === undefined ? 'missing' : known.status === 'deleting' ? 'deleting' : 'changed';
              expect(await under.records.setLegalHold(volumeId, imageId, change)).toBe(expected);
              if (expected === 'changed') {
                const { legalHold: _before, ...rest } = known!;
                model.set(imageId, op === 'hold' ? { ...rest, legalHold: true } : rest);
              }
            } else {
              await under.records.deleteImage(volumeId, imageId);
              model.delete(imageId);
            }
          }
          expect(await under.records.listImages()).toEqual([...model.values()]);
        }),
        { numRuns: propertyRuns },
      );
    });
  });
}
