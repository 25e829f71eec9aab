/**
 * `local serve` saves moto's state while it runs and once more when it stops (local/stack.ts
 * keepSavingState): the last save decides what a restart sees, so one failed save must not make
 * every later one fail, and the save at stop is tried again.
 */
import { describe, expect, it } from 'vitest';
import { keepSavingState } from '../../local/stack.ts';

function savingWith(outcomes: ('ok' | 'fail')[]) {
  const calls: string[] = [];
  const moto = {
    saveState: (): Promise<void> => {
      const outcome = outcomes.shift() ?? 'ok';
      calls.push(outcome);
      return outcome === 'ok' ? Promise.resolve() : Promise.reject(new Error('moto busy'));
    },
  };
  const gateway = { stats: () => ({ requests: { 'ec2:DescribeVolumes': 1 }, faults: {} }) };
  const cleanups: (() => Promise<void>)[] = [];
  const save = keepSavingState(gateway, moto, cleanups);
  return { calls, save, stop: () => cleanups[0]!() };
}

describe('local serve state saving', () => {
  it('a failed save does not fail the next one', async () => {
    const saving = savingWith(['fail', 'ok']);
    await expect(saving.save()).rejects.toThrow('moto busy');
    await expect(saving.save()).resolves.toBeUndefined();
    expect(saving.calls).toEqual(['fail', 'ok']);
  });

  it('the save at stop is tried again after a failure, and after a failed save before it', async () => {
    const saving = savingWith(['fail', 'fail', 'ok']);
    await expect(saving.save()).rejects.toThrow('moto busy');
    await expect(saving.stop()).resolves.toBeUndefined();
    expect(saving.calls).toEqual(['fail', 'fail', 'ok']);
  });

  it('the stop gives up after three failed saves, with the last error', async () => {
    const saving = savingWith(['fail', 'fail', 'fail', 'ok']);
    await expect(saving.stop()).rejects.toThrow('moto busy');
    expect(saving.calls).toEqual(['fail', 'fail', 'fail']);
  });
});
