/**
 * Property: random interleavings of backups (each a sequence of steps: lease, chunk writes,
 * segment writes, manifest, commit through the collection fence), image deletions, collection
 * steps and clock advances. After every step, every object a live image references exists (the
 * collector never deletes a live object) and, with Object Lock, is locked; at the end every live
 * image restores byte for byte and a final collection leaves exactly the referenced objects.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../lambdas/core/errors.ts';
import { chunkKey, segmentKey } from '../../lambdas/core/image/image-types.ts';
import type { BackupLease, GcFence } from '../../lambdas/core/lifecycle/gc-fence.ts';
import { commitGate, objectsToVerify, openLease } from '../../lambdas/core/lifecycle/gc-fence.ts';
import type { GcDeps } from '../../lambdas/core/lifecycle/gc.ts';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import { ImageDeletionRefusedError, deleteImage } from '../../lambdas/core/lifecycle/image-deletion.ts';
import type { ObjectLockConfig } from '../../lambdas/core/lifecycle/object-lock.ts';
import { generationOf, retainUntilForNewObject } from '../../lambdas/core/lifecycle/object-lock.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import {
  DATA_POSITIONS,
  expectRestores,
  manifestOf,
  newWorld,
  poolChunk,
  recordOf,
  referencedKeys,
  segmentTables,
} from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const LOCK: ObjectLockConfig = { mode: 'GOVERNANCE', retentionDays: 2, generationDays: 1 };

type Op =
  | { kind: 'start-backup'; volume: number; content: [number, number][] }
  | { kind: 'step-backup'; which: number }
  | { kind: 'delete'; which: number }
  | { kind: 'gc-step' }
  | { kind: 'tick'; hours: number };

const contentArb = fc
  .uniqueArray(fc.tuple(fc.constantFrom(...DATA_POSITIONS), fc.integer({ min: 1, max: 6 })), {
    selector: ([position]) => position,
    maxLength: DATA_POSITIONS.length,
  })
  .map((pairs) => pairs);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('start-backup' as const),
      volume: fc.integer({ min: 0, max: 1 }),
      content: contentArb,
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('step-backup' as const), which: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), which: fc.nat() }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'gc-step' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), hours: fc.integer({ min: 0, max: 5 }) }),
  },
);

interface Backup {
  readonly id: string;
  readonly volumeId: string;
  readonly content: VolumeContent;
  lease?: BackupLease;
  parent?: { image: LifecycleImage; keys: Set<string>; content: VolumeContent };
  /** Steps: 0 lease; 1..n chunks; then segments, manifest, gate, write. */
  stage: 'lease' | 'chunks' | 'segments' | 'manifest' | 'gate' | 'write' | 'done';
  chunkIndex: number;
  written: Set<string>;
  segments: string[];
  manifestSha256?: string;
  createdAt?: string;
  gateFence?: GcFence;
  parentExempt: boolean;
}

class Model {
  readonly world: World;
  readonly contents = new Map<string, VolumeContent>();
  readonly backups: Backup[] = [];
  gcRun = 0;
  gcRunning: string | undefined;
  backupsStarted = 0;
  commits = 0;
  verifiedCommits = 0;
  restarts = 0;

  constructor(readonly lock: ObjectLockConfig | undefined) {
    this.world = newWorld(lock);
  }

  gcDeps(): GcDeps {
    return {
      objects: this.world.bucket,
      scratch: this.world.scratch,
      records: this.world.records,
      coordination: this.world.coordination,
      checkpoints: this.world.checkpoints,
      clock: this.world.clock,
      ...(this.lock === undefined ? {} : { objectLock: this.lock }),
    };
  }

  liveImages(): LifecycleImage[] {
    return [...this.world.records.images.values()].filter((i) => i.status === 'live');
  }

  keysOf(image: LifecycleImage): Set<string> {
    return referencedKeys(
      image.volumeId,
      image.imageId,
      this.contents.get(`${image.volumeId}/${image.imageId}`)!,
    );
  }

  async apply(op: Op): Promise<void> {
    switch (op.kind) {
      case 'start-backup': {
        this.backupsStarted += 1;
        this.backups.push({
          id: `bk${this.backupsStarted}`,
          volumeId: `vol-${op.volume}`,
          content: new Map(op.content),
          stage: 'lease',
          chunkIndex: 0,
          written: new Set(),
          segments: [],
          parentExempt: false,
        });
        return;
      }
      case 'step-backup': {
        const running = this.backups.filter((b) => b.stage !== 'done');
        if (running.length === 0) return;
        await this.stepBackup(running[op.which % running.length]!);
        return;
      }
      case 'delete': {
        const live = this.liveImages();
        if (live.length === 0) return;
        const image = live[op.which % live.length]!;
        try {
          await deleteImage(
            { objects: this.world.bucket, records: this.world.records, clock: this.world.clock },
            image.volumeId,
            image.imageId,
          );
        } catch (error) {
          if (!(error instanceof ImageDeletionRefusedError)) throw error;
          expect(this.lock).toBeDefined();
        }
        return;
      }
      case 'gc-step':
        await this.gcStep();
        return;
      case 'tick': {
        const before = this.lock === undefined ? 0 : generationOf(this.world.clock.now(), this.lock);
        this.world.clock.advance(op.hours * HOUR);
        // The schedule: a collection completes in every Object Lock generation.
        if (this.lock !== undefined && generationOf(this.world.clock.now(), this.lock) !== before) {
          while (this.gcRunning !== undefined) await this.gcStep();
          await this.gcStep();
          while (this.gcRunning !== undefined) await this.gcStep();
        }
        return;
      }
    }
  }

  async gcStep(): Promise<void> {
    if (this.gcRunning === undefined) {
      this.gcRun += 1;
      this.gcRunning = `gc-${this.gcRun}`;
    }
    const result = await runGc(this.gcDeps(), {
      runId: this.gcRunning,
      maxSteps: 1,
      namesPerShard: 4,
      spillRunNames: 5,
      deleteBatchKeys: 3,
    });
    if (result.status !== 'running') this.gcRunning = undefined;
  }

  private async put(backup: Backup, key: string, result: 'created' | 'exists'): Promise<void> {
    if (result === 'created') {
      backup.written.add(key);
    } else if (this.lock !== undefined) {
      // A 412 reuse: the backup makes sure the object is locked for this generation.
      await this.world.bucket.extendRetention(
        [key],
        retainUntilForNewObject(this.world.clock.now(), this.lock),
      );
    }
  }

  async stepBackup(backup: Backup): Promise<void> {
    const world = this.world;
    switch (backup.stage) {
      case 'lease': {
        backup.lease = await openLease(world.coordination, backup.id, world.clock);
        const parents = this.liveImages()
          .filter((i) => i.volumeId === backup.volumeId)
          .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
        const parent = parents[0];
        if (parent !== undefined) {
          backup.parent = {
            image: parent,
            keys: this.keysOf(parent),
            content: this.contents.get(`${parent.volumeId}/${parent.imageId}`)!,
          };
        }
        backup.stage = 'chunks';
        return;
      }
      case 'chunks': {
        const entries = [...backup.content];
        const entry = entries[backup.chunkIndex];
        if (entry === undefined) {
          backup.stage = 'segments';
          return;
        }
        backup.chunkIndex += 1;
        const [position, n] = entry;
        // Same chunk as the parent at the same place: taken from the parent, no request.
        if (backup.parent?.content.get(position) === n) return;
        const name = specChunkName(poolChunk(n));
        const stored = await world.images.putChunk(name, poolChunk(n));
        await this.put(backup, chunkKey(name), stored.result);
        return;
      }
      case 'segments': {
        for (const table of segmentTables(backup.content)) {
          const { hash, stored } = await world.images.putSegment(table);
          if (stored !== undefined) await this.put(backup, segmentKey(hash), stored.result);
          backup.segments.push(hash);
        }
        backup.stage = 'manifest';
        return;
      }
      case 'manifest': {
        // A re-run writes the same manifest: its creation time is chosen once.
        backup.createdAt ??= world.clock.now().toISOString();
        const stored = await world.images.putManifest(
          manifestOf(backup.volumeId, backup.id, backup.createdAt, backup.segments),
        );
        backup.written.add(stored.key);
        backup.manifestSha256 = stored.sha256;
        backup.stage = 'gate';
        return;
      }
      case 'gate': {
        const gate = commitGate(backup.lease!, await world.coordination.getFence(), world.clock.now());
        if (gate.action === 'wait') return;
        backup.parentExempt = false;
        if (gate.action === 'verify-then-commit') {
          const parentLive =
            backup.parent !== undefined &&
            world.records.images.get(`${backup.volumeId}/${backup.parent.image.imageId}`)?.status === 'live';
          backup.parentExempt = parentLive;
          const referenced = referencedKeys(backup.volumeId, backup.id, backup.content);
          const written = gate.verifyWritten ? new Set<string>() : backup.written;
          const toCheck = objectsToVerify(referenced, written, parentLive ? backup.parent!.keys : new Set());
          const missing = toCheck.filter((key) => !world.bucket.objects.has(key));
          if (missing.length > 0) {
            // The commit step fails; the backup's ranges run again and write what is missing.
            this.restarts += 1;
            backup.lease = await openLease(world.coordination, backup.id, world.clock);
            backup.parent = undefined;
            backup.chunkIndex = 0;
            backup.segments = [];
            backup.written = new Set([...backup.written].filter((k) => world.bucket.objects.has(k)));
            backup.stage = 'chunks';
            return;
          }
          this.verifiedCommits += 1;
        }
        backup.gateFence = gate.fence;
        backup.stage = 'write';
        return;
      }
      case 'write': {
        try {
          world.coordination.commitUnderFence(backup.gateFence!, () => {
            if (backup.parentExempt) {
              const parent = world.records.images.get(`${backup.volumeId}/${backup.parent!.image.imageId}`);
              if (parent?.status !== 'live')
                throw new ConflictError('TransactionCanceled: parent no longer live');
            }
            world.records.put(
              recordOf(world, backup.volumeId, backup.id, backup.createdAt!, backup.manifestSha256!),
            );
          });
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          backup.stage = 'gate';
          return;
        }
        this.contents.set(`${backup.volumeId}/${backup.id}`, backup.content);
        await world.coordination.deleteLease(backup.id);
        this.commits += 1;
        backup.stage = 'done';
        return;
      }
      case 'done':
        return;
    }
  }

  /** Every object of every live image exists and, with Object Lock, is locked while the image must be. */
  checkInvariants(): void {
    const now = this.world.clock.time;
    for (const image of this.liveImages()) {
      for (const key of this.keysOf(image)) {
        const object = this.world.bucket.objects.get(key);
        if (object === undefined) throw new Error(`live image ${image.imageId} lost ${key}`);
        if (
          this.lock !== undefined &&
          Date.parse(image.createdAt) + this.lock.retentionDays * 86_400_000 > now
        ) {
          if (object.retainUntil === undefined || object.retainUntil.getTime() <= now) {
            throw new Error(`live image ${image.imageId} has an unlocked object ${key}`);
          }
        }
      }
    }
  }
}

describe('garbage collection with concurrent backups and deletions (property)', () => {
  it('never deletes a live object; every live image restores byte for byte', async () => {
    let totals = { commits: 0, verified: 0, restarts: 0, gcRuns: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 70 }),
        fc.boolean(),
        async (ops, locked) => {
          const model = new Model(locked ? LOCK : undefined);
          for (const op of ops) {
            await model.apply(op);
            model.checkInvariants();
          }
          // Drain: finish the collection, then every backup, then a final collection.
          while (model.gcRunning !== undefined) await model.gcStep();
          for (let guard = 0; model.backups.some((b) => b.stage !== 'done'); guard += 1) {
            if (guard > 10_000) throw new Error('backups do not finish');
            for (const backup of model.backups) await model.stepBackup(backup);
            model.checkInvariants();
          }
          model.world.clock.advance(3 * HOUR);
          await model.gcStep();
          while (model.gcRunning !== undefined) await model.gcStep();
          model.checkInvariants();
          const live = model.liveImages();
          for (const image of live)
            await expectRestores(
              model.world,
              image,
              model.contents.get(`${image.volumeId}/${image.imageId}`)!,
            );
          if (!locked) {
            const expected = new Set<string>();
            for (const image of live) for (const key of model.keysOf(image)) expected.add(key);
            expect(new Set(model.world.bucket.keys(''))).toEqual(expected);
          }
          totals = {
            commits: totals.commits + model.commits,
            verified: totals.verified + model.verifiedCommits,
            restarts: totals.restarts + model.restarts,
            gcRuns: totals.gcRuns + model.gcRun,
          };
        },
      ),
      { numRuns: 40 },
    );
    // The interleavings exercised the fence: commits after a collection verified, some re-ran.
    expect(totals.verified).toBeGreaterThan(0);
    expect(totals.gcRuns).toBeGreaterThan(20);
  }, 240_000);
});
