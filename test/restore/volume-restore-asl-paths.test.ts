/**
 * statemachines/volume-restore.asl.json against the step schemas of
 * lambdas/core/restore/volume-restore-state.ts: every Lambda task's Payload is a valid step event
 * (a `restoreId` path filled in), what ResultSelector picks from `$.Payload` is a field of that
 * step's answer, and every Choice reads a field some task put at that ResultPath. A renamed
 * field on either side (the Create Volume loop's `$.snapshot.createVolume`, `$.volume.state`)
 * fails here, not in a deployed execution. The Distributed Map's ItemReader and ItemSelector read
 * Plan Restore's answer, and the items it wrote become valid range events.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  restoredVolumeOutputSchema,
  restoreSnapshotCheckSchema,
  volumeRestoreStepEventSchema,
} from '../../lambdas/core/restore/volume-restore-state.ts';
import { restoreRangeSetUp } from './restore-range-fixture.ts';
import { VOLUME_RESTORE_ASL_PATH } from '../../lib/constructs/volume-restores.ts';

type State = {
  Type: string;
  ItemReader?: { Parameters: Record<string, string> };
  ItemSelector?: Record<string, unknown>;
  Parameters?: { Payload?: Record<string, unknown> };
  ResultSelector?: Record<string, string>;
  ResultPath?: string;
  Choices?: Record<string, unknown>[];
};

const definition = JSON.parse(readFileSync(VOLUME_RESTORE_ASL_PATH, 'utf8')) as {
  States: Record<string, State>;
};

/** The answers whose fields the state machine reads, by step. */
const ANSWERS: Readonly<Record<string, z.ZodObject>> = {
  check: restoreSnapshotCheckSchema,
  volume: restoredVolumeOutputSchema,
};

/** A Payload with its paths filled in as the state machine would (`restoreId.$` → a restore id). */
function filledPayload(payload: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(payload).map(([key, value]) =>
      key === 'restoreId.$' ? ['restoreId', 'rs-1-v0'] : key === 'error.$' ? ['error', {}] : [key, value],
    ),
  );
}

/** Every Variable a Choice state reads (inside And/Or/Not too). */
function choiceVariables(rules: readonly Record<string, unknown>[]): string[] {
  return rules.flatMap((rule) => [
    ...(typeof rule['Variable'] === 'string' ? [rule['Variable']] : []),
    ...choiceVariables((rule['And'] ?? rule['Or'] ?? []) as Record<string, unknown>[]),
    ...(rule['Not'] === undefined ? [] : choiceVariables([rule['Not'] as Record<string, unknown>])),
  ]);
}

describe('volume-restore.asl.json paths', () => {
  const tasks = Object.entries(definition.States).filter(
    ([, s]) => s.Type === 'Task' && s.Parameters?.Payload !== undefined,
  );

  it('sends valid step events and picks only fields the steps answer', () => {
    const steps: string[] = [];
    for (const [name, state] of tasks) {
      const payload = filledPayload(state.Parameters!.Payload!);
      const parsed = volumeRestoreStepEventSchema.safeParse(payload);
      expect(parsed.success, `${name}: ${JSON.stringify(payload)}`).toBe(true);
      const step = payload['step'] as string;
      steps.push(step);
      const answer = ANSWERS[step];
      if (answer === undefined) continue;
      for (const path of Object.values(state.ResultSelector ?? {})) {
        const field = path.replace(/^\$\.Payload\./, '');
        expect(Object.keys(answer.shape), `${name} picks ${path}`).toContain(field);
      }
    }
    expect(steps).toEqual(['plan', 'complete', 'check', 'volume', 'finish', 'fail']);
  });

  it('has every Choice read a field a task put at that ResultPath', () => {
    const written = new Map<string, string[]>();
    for (const [, state] of tasks) {
      if (state.ResultPath !== undefined && state.ResultSelector !== undefined)
        written.set(
          state.ResultPath,
          Object.keys(state.ResultSelector).map((k) => k.replace(/\.\$$/, '')),
        );
    }
    const read = Object.values(definition.States)
      .filter((s) => s.Type === 'Choice')
      .flatMap((s) => choiceVariables(s.Choices ?? []));
    expect(read.sort()).toEqual([
      '$.snapshot.createVolume',
      '$.snapshot.state',
      '$.snapshot.state',
      '$.volume.state',
    ]);
    for (const variable of read) {
      const [, at, field] = /^(\$\.[a-z]+)\.([A-Za-z]+)$/.exec(variable)!;
      expect(written.get(at!), variable).toContain(field);
    }
  });

  it('gives every range worker a valid range event from the plan and the items Plan Restore wrote', async () => {
    const map = definition.States['Restore Ranges']!;
    const { addImage, prepare } = restoreRangeSetUp();
    await addImage('img-paths', [3, 1500, 2047]);
    const { plan, items } = await prepare('rs-paths', 'img-paths');
    const state: Record<string, unknown> = { restoreId: 'rs-paths', plan: { result: plan } };
    const at = (path: string): unknown =>
      path
        .replace(/^\$\./, '')
        .split('.')
        .reduce<unknown>((value, key) => (value as Record<string, unknown>)[key], state);
    expect(at(map.ItemReader!.Parameters['Bucket.$']!)).toBe('work');
    expect(at(map.ItemReader!.Parameters['Key.$']!)).toBe('volume-restores/rs-paths/items.json');
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) {
      const event = Object.fromEntries(
        Object.entries(map.ItemSelector!).map(([key, value]) =>
          key === 'range.$'
            ? ['range', item]
            : key.endsWith('.$')
              ? [key.slice(0, -2), at(value as string)]
              : [key, value],
        ),
      );
      expect(map.ItemSelector!['range.$']).toBe('$$.Map.Item.Value');
      expect(volumeRestoreStepEventSchema.parse(event)).toEqual({
        step: 'range',
        range: item,
        job: plan.job,
      });
    }
  });
});
