/**
 * What garbage collection treats as live never depends on EC2 (lambdas/core/lifecycle/
 * protected-volumes.ts). Property: random volumes with images sharing chunks, some records deleted
 * (their objects become garbage), and each volume's replica then kept, deleted from EC2, or left
 * without its tags. The records port lists as the DynamoDB adapter does: the registered volumes
 * (written by every commit) and the tagged ones, a volume's server from its tag else the registry.
 * After a collection every object a live image record references exists and every live image
 * restores byte for byte; exactly the unreferenced objects are gone; every live image is listed
 * with the server its commit registered.
 *
 * Also the safety belt: a records port that misses a volume (the listing before the registry) makes
 * the collection stop with LiveSetIncompleteError before deleting anything, with the fence released.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LiveSetIncompleteError, runGc } from '../../lambdas/core/lifecycle/gc.ts';
import type {
  LegalHoldChange,
  LegalHoldWrite,
  LifecycleImage,
  LifecycleImageRecords,
} from '../../lambdas/core/lifecycle/ports.ts';
import {
  type ProtectedVolume,
  protectedVolumeServers,
} from '../../lambdas/core/lifecycle/protected-volumes.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import { DATA_POSITIONS, expectRestores, newWorld, referencedKeys, writeImage } from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const REFUSAL =
  'garbage collection gc-1 stopped before sweeping: image g1 of vol-gone has a live record that its live set did not contain; nothing was deleted';
/** Chunk contents drawn from a pool this small are shared between images and volumes. */
const POOL_CHUNKS = 6;

/** What became of a volume's replica in EC2 after its images were committed. */
type Fate = 'tagged' | 'server-tag-lost' | 'volume-deleted' | 'replica-tag-lost';

/**
 * The lifecycle records port as DynamoDbLifecycleImageRecords builds it: the records of the
 * registered and the tagged volumes (protectedVolumeServers), each with its server.
 */
class RegistryScopedRecords implements LifecycleImageRecords {
  constructor(
    private readonly world: World,
    private readonly registry: ReadonlyMap<string, ProtectedVolume>,
    private readonly tagged: ReadonlyMap<string, string | undefined>,
  ) {}

  async listImages(): Promise<LifecycleImage[]> {
    const servers = protectedVolumeServers([...this.registry.values()], this.tagged);
    return (await this.world.records.listImages()).flatMap((image) => {
      if (!servers.has(image.volumeId)) return [];
      const serverId = servers.get(image.volumeId);
      return [serverId === undefined ? image : { ...image, serverId }];
    });
  }
  async listVolume(volumeId: string): Promise<LifecycleImage[]> {
    return (await this.listImages()).filter((image) => image.volumeId === volumeId);
  }
  async listServer(serverId: string): Promise<LifecycleImage[]> {
    return (await this.listImages()).filter((image) => image.serverId === serverId);
  }
  getImage(volumeId: string, imageId: string): Promise<LifecycleImage> {
    return this.world.records.getImage(volumeId, imageId);
  }
  markDeleting(volumeId: string, imageId: string): Promise<'marked' | 'missing' | 'held'> {
    return this.world.records.markDeleting(volumeId, imageId);
  }
  setLegalHold(volumeId: string, imageId: string, change: LegalHoldChange): Promise<LegalHoldWrite> {
    return this.world.records.setLegalHold(volumeId, imageId, change);
  }
  deleteImage(volumeId: string, imageId: string): Promise<void> {
    return this.world.records.deleteImage(volumeId, imageId);
  }
}

const contentArb = fc
  .uniqueArray(fc.constantFrom(...DATA_POSITIONS), { minLength: 1, maxLength: 3 })
  .chain((positions) =>
    fc
      .array(fc.integer({ min: 0, max: POOL_CHUNKS - 1 }), {
        minLength: positions.length,
        maxLength: positions.length,
      })
      .map((chunks) => new Map(positions.map((p, i) => [p, chunks[i]!])) as VolumeContent),
  );

const volumeArb = fc.record({
  images: fc.array(fc.record({ content: contentArb, deleted: fc.boolean() }), { minLength: 1, maxLength: 3 }),
  fate: fc.constantFrom<Fate>('tagged', 'server-tag-lost', 'volume-deleted', 'replica-tag-lost'),
});

describe('garbage collection when replica volumes leave EC2', () => {
  it('never deletes an object a live image record references, whatever EC2 says', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(volumeArb, { minLength: 1, maxLength: 4 }), async (volumes) => {
        const world = newWorld();
        const registry = new Map<string, ProtectedVolume>();
        const tagged = new Map<string, string | undefined>();
        const live: { image: LifecycleImage; content: VolumeContent }[] = [];
        const liveKeys = new Set<string>();
        for (const [v, volume] of volumes.entries()) {
          const volumeId = `vol-${v}`;
          const serverId = `srv-${v}`;
          for (const [i, { content, deleted }] of volume.images.entries()) {
            const image = await writeImage(world, volumeId, `img-${v}-${i}`, content);
            // The commit's transaction registers the volume with its server.
            registry.set(volumeId, { volumeId, serverId });
            if (deleted) {
              await world.records.deleteImage(volumeId, image.imageId);
            } else {
              live.push({ image, content });
              for (const key of referencedKeys(volumeId, image.imageId, content)) liveKeys.add(key);
            }
          }
          if (volume.fate === 'tagged') tagged.set(volumeId, serverId);
          if (volume.fate === 'server-tag-lost') tagged.set(volumeId, undefined);
        }
        world.clock.advance(48 * HOUR);
        const records = new RegistryScopedRecords(world, registry, tagged);

        const listed = await records.listImages();
        expect(listed.map((i) => [i.volumeId, i.imageId, i.serverId])).toEqual(
          live.map(({ image }) => [image.volumeId, image.imageId, image.volumeId.replace('vol-', 'srv-')]),
        );

        const result = await runGc({ ...world, objects: world.bucket, records }, { runId: 'gc-1' });
        expect(result.status).toBe('complete');
        const stored = [...world.bucket.objects.keys()].filter((key) => !key.startsWith('gc/')).sort();
        expect(stored).toEqual([...liveKeys].sort());
        for (const { image, content } of live) await expectRestores(world, image, content);
        expect(await world.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'idle' });
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('stops before sweeping when a live record is missing from the live set, and releases the fence', async () => {
    const world = newWorld();
    const kept = await writeImage(world, 'vol-a', 'a1', new Map([[0, 1]]));
    const orphan = await writeImage(
      world,
      'vol-gone',
      'g1',
      new Map([
        [0, 2],
        [1, 3],
      ]),
    );
    world.clock.advance(48 * HOUR);
    // The listing before the registry: only the volumes EC2 still tags.
    const records = new RegistryScopedRecords(world, new Map(), new Map([['vol-a', 'srv-a']]));
    const before = [...world.bucket.objects.keys()].sort();

    const refused = await runGc({ ...world, objects: world.bucket, records }, { runId: 'gc-1' }).catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(LiveSetIncompleteError);
    expect(refused).toMatchObject({
      message: REFUSAL,
      context: { runId: 'gc-1', volumeId: 'vol-gone', imageId: 'g1' },
    });
    expect([...world.bucket.objects.keys()].sort()).toEqual(before);
    expect(await world.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'idle' });
    const saved = await world.checkpoints.load('gc-1');
    expect({ phase: saved?.phase, refused: saved?.refused }).toEqual({
      phase: 'done',
      refused: REFUSAL,
    });
    expect([...world.scratch.objects.keys()]).toEqual([]);
    await expectRestores(world, kept, new Map([[0, 1]]));
    await expectRestores(
      world,
      orphan,
      new Map([
        [0, 2],
        [1, 3],
      ]),
    );
  });
});
