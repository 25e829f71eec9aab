/**
 * The contract of ImageLiveness (lambdas/core/recovery-points/recovery-points.ts): which of the
 * images a recovery point names are live, so that a point is shown narrowed to them. Live is a
 * committed image record that is not being deleted; an image never committed, one marked
 * `deleting` and one whose record is gone are not. The answer is a set of `volumeId/imageId` keys;
 * a repeated image counts once, and more images than one batched read takes (DynamoDB
 * BatchGetItem reads at most 100 keys,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html) are all
 * answered.
 *
 * Run against lifecycleRecordsLiveness (test/fakes/memory-image-liveness.ts), recordsLiveness (the
 * recovery-point tests' fake, which knows no `deleting` record: that case is left out for it) and
 * DynamoDbImageRecordStore on moto (test/lifecycle/lifecycle-ports.contract.test.ts). Each `make`
 * gives a store never written.
 */
import { describe, expect, it } from 'vitest';
import type {
  ImageLiveness,
  RecoveryPointImageRef,
} from '../../lambdas/core/recovery-points/recovery-points.ts';

export interface ImageLivenessUnderTest {
  readonly liveness: ImageLiveness;
  /** Commit Image's write of the image's record. */
  commit(image: RecoveryPointImageRef): Promise<void>;
  /** An image deletion's first step (a no-op where the store has no `deleting` record). */
  markDeleting(image: RecoveryPointImageRef): Promise<void>;
  /** An image deletion's last step: the record is gone. */
  deleteRecord(image: RecoveryPointImageRef): Promise<void>;
}

/** More images than one BatchGetItem reads, committed and not. */
const IMAGES_BEYOND_ONE_READ = 130;
const COMMITTED = 110;

const key = (image: RecoveryPointImageRef) => `${image.volumeId}/${image.imageId}`;

/** `marksDeleting`: whether the store has `deleting` records (recordsLiveness's has none). */
export function imageLivenessContract(
  name: string,
  make: () => Promise<ImageLivenessUnderTest>,
  marksDeleting: boolean,
): void {
  describe(`image liveness contract: ${name}`, () => {
    it('names exactly the committed images, each once, through more than one batched read', async () => {
      const under = await make();
      const images = Array.from({ length: IMAGES_BEYOND_ONE_READ }, (_, n) => ({
        volumeId: `vol-0live${n % 3}`,
        imageId: `img-live-${String(n).padStart(3, '0')}`,
      }));
      for (const image of images.slice(0, COMMITTED)) await under.commit(image);
      const live = await under.liveness.liveImages([...images, images[0]!, images[COMMITTED]!]);
      expect([...live].sort()).toEqual(images.slice(0, COMMITTED).map(key).sort());
      expect(await under.liveness.liveImages([])).toEqual(new Set());
      expect(await under.liveness.liveImages([{ volumeId: 'vol-0live0', imageId: 'img-never' }])).toEqual(
        new Set(),
      );
    });

    it('an image whose record is deleted is no longer live; the others stay live', async () => {
      const under = await make();
      const [a, b] = [
        { volumeId: 'vol-0gone', imageId: 'img-a' },
        { volumeId: 'vol-0gone', imageId: 'img-b' },
      ];
      await under.commit(a);
      await under.commit(b);
      await under.deleteRecord(a);
      expect(await under.liveness.liveImages([a, b])).toEqual(new Set([key(b)]));
    });

    it.runIf(marksDeleting)('an image being deleted is not live', async () => {
      const under = await make();
      const [a, b] = [
        { volumeId: 'vol-0del', imageId: 'img-a' },
        { volumeId: 'vol-0del', imageId: 'img-b' },
      ];
      await under.commit(a);
      await under.commit(b);
      await under.markDeleting(b);
      expect(await under.liveness.liveImages([a, b])).toEqual(new Set([key(a)]));
    });
  });
}
