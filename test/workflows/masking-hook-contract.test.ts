import { describe, expect, it } from 'vitest';
import {
  maskingHookEventSchema,
  parseMaskingAnswer,
  runMaskingHook,
  type MaskingHookEvent,
  type MaskingHookInvoker,
} from '../../lambdas/core/workflows/masking.ts';
import { PermanentError, ThrottledError } from '../../lambdas/core/errors.ts';

const EVENT: MaskingHookEvent = {
  version: 1,
  phase: 'masking',
  workflow: 'qaclone',
  runId: 'wfr-1',
  server: 'web01',
  deadline: '2026-12-03T08:00:00Z',
  tags: { 'rbp:workflow': 'qaclone' },
  devices: [
    {
      sourceVolumeId: 'vol-0aaaaaaaaaaaaaaa1',
      imageId: 'img-1',
      snapshotId: 'snap-0aaaaaaaaaaaaaaa1',
      sizeGiB: 1,
    },
    {
      sourceVolumeId: 'vol-0aaaaaaaaaaaaaaa2',
      imageId: 'img-2',
      snapshotId: 'snap-0aaaaaaaaaaaaaaa2',
      sizeGiB: 2,
    },
  ],
};

function invoker(answer: unknown): MaskingHookInvoker {
  return { invoke: () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)) };
}
const HOOK = { function: 'mask', timeoutSeconds: 60 };

describe('masking hook contract', () => {
  it('the event schema accepts the event a run sends', () => {
    expect(maskingHookEventSchema.parse(EVENT)).toEqual(EVENT);
  });

  it('a complete answer gives each device its masked snapshot', () => {
    const masked = parseMaskingAnswer(
      EVENT,
      {
        maskedSnapshots: {
          'vol-0aaaaaaaaaaaaaaa1': 'snap-0bbbbbbbbbbbbbbb1',
          'vol-0aaaaaaaaaaaaaaa2': 'snap-0bbbbbbbbbbbbbbb2',
        },
      },
      'mask',
    );
    expect([...masked]).toEqual([
      ['vol-0aaaaaaaaaaaaaaa1', 'snap-0bbbbbbbbbbbbbbb1'],
      ['vol-0aaaaaaaaaaaaaaa2', 'snap-0bbbbbbbbbbbbbbb2'],
    ]);
  });

  it('a malformed answer is refused with a message naming the problem', async () => {
    expect(await runMaskingHook(invoker({ masked: 'x' }), HOOK, EVENT)).toEqual({
      ok: false,
      reason:
        'masking hook mask answered {"masked":"x"}, not { "maskedSnapshots": { "<sourceVolumeId>": "snap-…" } }: maskedSnapshots: Invalid input: expected record, received undefined; (answer): Unrecognized key: "masked"',
    });
    expect(await runMaskingHook(invoker(undefined), HOOK, EVENT)).toMatchObject({ ok: false });
  });

  it('a missing, unknown, repeated or unchanged device is refused, each named', async () => {
    const outcome = await runMaskingHook(
      invoker({
        maskedSnapshots: {
          'vol-0aaaaaaaaaaaaaaa1': 'snap-0aaaaaaaaaaaaaaa1',
          'vol-0ccccccccccccccc1': 'snap-0aaaaaaaaaaaaaaa1',
        },
      }),
      HOOK,
      EVENT,
    );
    expect(outcome).toEqual({
      ok: false,
      reason:
        'masking hook mask answered a wrong maskedSnapshots: vol-0aaaaaaaaaaaaaaa1: snap-0aaaaaaaaaaaaaaa1 is the unmasked clone; answer the new, masked snapshot; no masked snapshot for vol-0aaaaaaaaaaaaaaa2; vol-0ccccccccccccccc1 is not a device of this run; two devices answer the same snapshot',
    });
  });

  it('status failed, a permanent invocation error and a retryable one', async () => {
    expect(
      await runMaskingHook(invoker({ status: 'failed', message: 'no shadow file' }), HOOK, EVENT),
    ).toEqual({
      ok: false,
      reason: 'masking hook mask failed: no shadow file',
    });
    expect(await runMaskingHook(invoker(new PermanentError('no answer within 60 s')), HOOK, EVENT)).toEqual({
      ok: false,
      reason: 'masking hook mask failed: no answer within 60 s',
    });
    await expect(runMaskingHook(invoker(new ThrottledError('slow down')), HOOK, EVENT)).rejects.toThrow(
      'slow down',
    );
  });
});
