import { describe, expect, it } from 'vitest';
import { plansSelecting } from '../../lambdas/core/plans/expansion.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { serversFromVolumes } from '../../lambdas/core/plans/servers.ts';
import { serverRows } from './fake-plan-ports.ts';

const replica = (volumeId: string, tags: Record<string, string>) => ({
  volumeId,
  tags: { 'rbp:replica': 'true', ...tags },
});

describe('serversFromVolumes', () => {
  it('groups replica volumes by source server; the least healthy volume decides; applications merge in order', () => {
    const servers = serversFromVolumes([
      replica('vol-0b', {
        'rbp:source-server': 'TEST8',
        'rbp:sync-state': 'IN_SYNC',
        'rbp:applications': 'DOMAIN2, OTHER',
        'rbp:primary-volume': 'vol-0aaa',
      }),
      replica('vol-0a', {
        'rbp:source-server': 'TEST8',
        'rbp:replication-state': 'lagging',
        'rbp:lag-seconds': '42',
        'rbp:applications': 'DOMAIN1,DOMAIN2',
        'rbp:primary-volume': 'vol-0bbb',
      }),
      replica('vol-0c', { 'rbp:source-server': 'QA1', 'rbp:sync-state': 'IN_SYNC' }),
      replica('vol-0d', { 'rbp:source-server': 'TEST9', 'rbp:replication-state': 'disconnected' }),
      replica('vol-0e', { 'rbp:replication-state': 'broken' }),
      { volumeId: 'vol-0f', tags: { 'rbp:source-server': 'NOT-A-REPLICA' } },
    ]);
    expect(
      serverRows(servers, ['name', 'replication', 'lagSeconds', 'applications', 'hasPrimary', 'volumes']),
    ).toEqual([
      ['QA1', 'in-sync', 0, [], false, ['vol-0c']],
      ['TEST8', 'lagging', 42, ['DOMAIN1', 'DOMAIN2', 'OTHER'], true, ['vol-0a', 'vol-0b']],
      ['TEST9', 'disconnected', undefined, [], false, ['vol-0d']],
      ['vol-0e', 'stalled', undefined, [], false, ['vol-0e']],
    ]);
  });
});

describe('plansSelecting', () => {
  it('names the plans whose activities select the server by pattern, list or tags', () => {
    const [qa1, test8] = serversFromVolumes([
      replica('vol-1', { 'rbp:source-server': 'QA1', customer: 'acme' }),
      replica('vol-2', { 'rbp:source-server': 'TEST8' }),
    ]);
    const plans = [
      parsePlanDocument({
        name: 'nightly-qa',
        activities: [{ servers: 'QA*' }, { servers: ['TEST8', 'TEST9'] }],
      }),
      parsePlanDocument({ name: 'acme', activities: [{ tags: { customer: 'acme' } }] }),
      parsePlanDocument({ name: 'prod', activities: [{ servers: 'PROD?' }] }),
    ];
    expect(plansSelecting(qa1!, plans)).toEqual(['nightly-qa', 'acme']);
    expect(plansSelecting(test8!, plans)).toEqual(['nightly-qa']);
  });
});
