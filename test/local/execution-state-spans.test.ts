/**
 * The state times the catalog-debian-local bench reads from an execution history
 * (bench/suites/catalog-debian-local.ts, stateSpans): each state's first entry to its last exit.
 */
import { describe, expect, it } from 'vitest';
import { stateSpans, type TimedHistoryEvent } from '../../bench/suites/catalog-debian-local.ts';

const T0 = Date.parse('2026-12-04T03:00:00.000Z');

function entered(name: string, ms: number): TimedHistoryEvent {
  return { timestamp: new Date(T0 + ms), stateEnteredEventDetails: { name } };
}
function exited(name: string, ms: number): TimedHistoryEvent {
  return { timestamp: new Date(T0 + ms), stateExitedEventDetails: { name } };
}

describe('stateSpans', () => {
  it('times each state from its entry to its exit', () => {
    const spans = stateSpans([
      entered('Commit Image', 0),
      { timestamp: new Date(T0 + 5) },
      exited('Commit Image', 150),
      entered('Build Catalog', 151),
      exited('Build Catalog', 9_368),
    ]);
    expect(spans).toEqual({ 'Commit Image': 150, 'Build Catalog': 9_217 });
  });

  it('spans a state run several times (a Map iteration each) from the first entry to the last exit', () => {
    const spans = stateSpans([
      entered('Copy Range', 100),
      entered('Copy Range', 120),
      exited('Copy Range', 900),
      exited('Copy Range', 700),
    ]);
    expect(spans).toEqual({ 'Copy Range': 800 });
  });

  it('leaves out a state that has not exited and events without a timestamp', () => {
    const spans = stateSpans([
      entered('Build Catalog', 0),
      { stateExitedEventDetails: { name: 'Build Catalog' } },
    ]);
    expect(spans).toEqual({});
  });
});
