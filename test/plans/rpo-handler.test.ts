/**
 * The plan-run function's `checkRpo` action (lambdas/handlers/plan-run.ts): it runs the check over
 * the function's ports, hands the count of servers in breach to the metric writer on every check
 * (zero included), answers the counts, and fails when the deployment did not wire the RPO ports.
 */
import '../support/quiet-powertools.ts';
import { describe, expect, it } from 'vitest';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import type { PlanRecord } from '../../lambdas/core/plans/plan-service.ts';
import type { RpoBreachRecord } from '../../lambdas/core/plans/rpo.ts';
import type { PlanRunFunctionPorts } from '../../lambdas/core/plans/run-service.ts';
import type { PlanEvent } from '../../lambdas/core/plans/run-engine.ts';
import { createPlanRunHandler } from '../../lambdas/handlers/plan-run.ts';
import { FakeClock, server } from './fake-plan-ports.ts';

function ports(options: { wired: boolean }) {
  const clock = new FakeClock(new Date('2026-03-02T02:00:00.000Z'));
  const document = parsePlanDocument({ name: 'hourly', rpoMinutes: 60, activities: [{ servers: 'DB*' }] });
  const plan: PlanRecord = {
    formatVersion: 1,
    name: 'hourly',
    document,
    revision: 1,
    createdAt: '2026-03-01T00:00:00.000Z',
    updatedAt: '2026-03-01T00:00:00.000Z',
  };
  const state = new Map<string, RpoBreachRecord>();
  const published: PlanEvent[] = [];
  const deps = {
    clock,
    plans: { list: () => Promise.resolve([plan]) },
    servers: { list: () => Promise.resolve([server('DB1'), server('DB2')]) },
    events: {
      publish: (events: readonly PlanEvent[]) => {
        published.push(...events);
        return Promise.resolve();
      },
    },
    ...(options.wired
      ? {
          newestPoints: {
            newestPoints: () =>
              Promise.resolve(
                new Map([
                  ['DB1', { recoveryPointId: 'rp-1', createdAt: '2026-03-02T01:30:00.000Z' }],
                  ['DB2', { recoveryPointId: 'rp-2', createdAt: '2026-03-02T00:30:00.000Z' }],
                ]),
              ),
          },
          rpoState: {
            list: () => Promise.resolve([...state.values()]),
            put: (r: RpoBreachRecord) => Promise.resolve(void state.set(r.server, r)),
            delete: (name: string) => Promise.resolve(void state.delete(name)),
          },
        }
      : {}),
  } as unknown as PlanRunFunctionPorts; // checkRpo reads only these ports
  return { deps, published, state };
}

describe('plan-run handler: checkRpo', () => {
  it('checks, writes the breach count on every check and answers the counts', async () => {
    const { deps, published } = ports({ wired: true });
    const counts: number[] = [];
    const handler = createPlanRunHandler(deps, (count) => counts.push(count));
    expect(await handler({ action: 'checkRpo' })).toEqual({ watched: 2, breached: 1, events: 1 });
    expect(await handler({ action: 'checkRpo' })).toEqual({ watched: 2, breached: 1, events: 0 });
    expect(counts).toEqual([1, 1]);
    expect(published.map((e) => [e.detailType, 'server' in e.detail ? e.detail.server : undefined])).toEqual([
      ['RPO Breached', 'DB2'],
    ]);
  });

  it('fails, writing no metric, when the RPO ports are not wired', async () => {
    const { deps } = ports({ wired: false });
    const counts: number[] = [];
    const handler = createPlanRunHandler(deps, (count) => counts.push(count));
    await expect(handler({ action: 'checkRpo' })).rejects.toThrow(
      'the RPO check needs the recovery points and the RPO state store (plan-wiring.ts)',
    );
    expect(counts).toEqual([]);
  });

  it('refuses a checkRpo event with fields of its own', async () => {
    const { deps } = ports({ wired: true });
    await expect(
      createPlanRunHandler(deps, () => undefined)({ action: 'checkRpo', server: 'DB1' }),
    ).rejects.toThrow('plan-run: invalid event');
  });
});
