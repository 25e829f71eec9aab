/**
 * `pendingFailures` (deletions an earlier run left unfinished that failed again) in the retention
 * result of POST /retention/apply and `rbp retention apply`: present for server and plan scopes
 * (a plan's per-server results merged), absent in a dry run and when there are none; the route's
 * answer schema keeps it, and the CLI prints it in JSON and below its table.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { retentionText } from '../../cli/commands/lifecycle.ts';
import { printer } from '../../cli/api/output.ts';
import type { RetentionApplyDeps, RetentionResult } from '../../lambdas/core/lifecycle/retention-apply.ts';
import {
  applyRetentionRequest,
  retentionResultSchema,
} from '../../lambdas/core/lifecycle/retention-apply.ts';
import type { LifecycleObjectStore } from '../../lambdas/core/lifecycle/ports.ts';
import { newWorld, recordOf, type World } from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const S3_DOWN = 'S3 DeleteObjects failed: service unavailable';

/** Two images of srv-1 (vol-a), one of srv-2 (vol-b), and vol-a/x0 left `deleting` whose manifest cannot be deleted. */
async function world(): Promise<{ world: World; deps: RetentionApplyDeps }> {
  const w = newWorld();
  const image = (volumeId: string, imageId: string, hours: number, serverId: string) => {
    const createdAt = new Date(w.clock.time + hours * HOUR).toISOString();
    const record = recordOf(w, volumeId, imageId, createdAt, 'f'.repeat(64), { serverId });
    w.records.put(record);
    w.bucket.setRaw(record.manifestKey, new Uint8Array([1]));
    return record;
  };
  const stuck = image('vol-a', 'x0', 0, 'srv-1');
  image('vol-a', 'i1', 1, 'srv-1');
  image('vol-a', 'i2', 2, 'srv-1');
  image('vol-b', 'j1', 3, 'srv-2');
  await w.records.markDeleting('vol-a', 'x0');
  w.clock.time += 10 * HOUR;
  const objects: LifecycleObjectStore = new Proxy(w.bucket, {
    get(target, prop) {
      if (prop === 'deleteObjects') {
        return (keys: readonly string[]) =>
          keys.includes(stuck.manifestKey) ? Promise.reject(new Error(S3_DOWN)) : target.deleteObjects(keys);
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    world: w,
    deps: {
      objects,
      records: w.records,
      clock: w.clock,
      plans: () => Promise.resolve({ servers: ['srv-2', 'srv-1'] }),
    },
  };
}

const kept = (volumeId: string, imageId: string, hours: number, group: string) => ({
  volumeId,
  imageId,
  createdAt: new Date(Date.UTC(2026, 10, 1) + hours * HOUR).toISOString(),
  group,
  action: 'keep',
  reasons: ['last 5'],
  outcome: 'kept',
});

const PENDING = [{ volumeId: 'vol-a', imageId: 'x0', reason: S3_DOWN }];

describe('pendingFailures in the retention result', () => {
  it('is in the answer of a server scope, exactly, and kept by the route’s answer schema', async () => {
    const { deps } = await world();
    const result = await applyRetentionRequest(deps, {
      scope: { server: 'srv-1' },
      rules: { keepLast: 5 },
      dryRun: false,
    });
    expect(result).toEqual({
      dryRun: false,
      kept: 2,
      deleted: 0,
      images: [kept('vol-a', 'i2', 2, 'srv-1#replica'), kept('vol-a', 'i1', 1, 'srv-1#replica')],
      pendingFailures: PENDING,
    });
    expect(retentionResultSchema.parse(result)).toEqual(result);
  });

  it('survives the merge of a plan’s per-server results, once', async () => {
    const { deps } = await world();
    const result = await applyRetentionRequest(deps, {
      scope: { plan: 'nightly' },
      rules: { keepLast: 5 },
      dryRun: false,
    });
    expect(result).toEqual({
      dryRun: false,
      kept: 3,
      deleted: 0,
      // The plan's servers in order, each newest first.
      images: [
        kept('vol-a', 'i2', 2, 'srv-1#replica'),
        kept('vol-a', 'i1', 1, 'srv-1#replica'),
        kept('vol-b', 'j1', 3, 'srv-2#replica'),
      ],
      pendingFailures: PENDING,
    });
  });

  it('is absent in a dry run (nothing is retried) and once the deletion is finished', async () => {
    const { world: w, deps } = await world();
    const request = { scope: { server: 'srv-1' }, rules: { keepLast: 5 }, dryRun: true } as const;
    expect(await applyRetentionRequest(deps, request)).not.toHaveProperty('pendingFailures');
    const healthy = { ...deps, objects: w.bucket };
    const result = await applyRetentionRequest(healthy, { ...request, dryRun: false });
    expect(result).not.toHaveProperty('pendingFailures');
    expect(w.records.images.has('vol-a/x0')).toBe(false);
  });

  it('is printed by `rbp retention apply --json` as it is answered, and below the table', () => {
    const result: RetentionResult = {
      dryRun: false,
      kept: 1,
      deleted: 0,
      images: [
        {
          volumeId: 'vol-a',
          imageId: 'i2',
          createdAt: '2026-11-01T02:00:00.000Z',
          group: 'srv-1#replica',
          action: 'keep',
          reasons: ['last 5'],
          outcome: 'kept',
        },
      ],
      pendingFailures: PENDING,
    };
    let written = '';
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        written += chunk.toString();
        done();
      },
    });
    printer(true, out).message(result, retentionText(result));
    expect(written).toBe(`${JSON.stringify(result, null, 2)}\n`);
    expect(JSON.parse(written)).toEqual({
      dryRun: false,
      kept: 1,
      deleted: 0,
      images: [result.images[0]],
      pendingFailures: [{ volumeId: 'vol-a', imageId: 'x0', reason: S3_DOWN }],
    });
    expect(retentionText(result)).toBe(
      [
        'IMAGE  VOLUME  CREATED                   ACTION  REASONS',
        'i2     vol-a   2026-11-01T02:00:00.000Z  keep    last 5',
        '',
        'unfinished deletions that failed again (the next expiry retries them):',
        'IMAGE  VOLUME  REASON',
        `x0     vol-a   ${S3_DOWN}`,
        '',
      ].join('\n'),
    );
    expect(retentionText({ ...result, pendingFailures: undefined })).toBe(
      [
        'IMAGE  VOLUME  CREATED                   ACTION  REASONS',
        'i2     vol-a   2026-11-01T02:00:00.000Z  keep    last 5',
        '',
      ].join('\n'),
    );
  });
});
