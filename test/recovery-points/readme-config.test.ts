/**
 * The README's example config works for a two-disk server: its plan's one activity, expanded over
 * the replica volumes as a plan run sees them, is one task for server web-01, and that task's
 * backup covers both replica volumes tagged rbp:source-server=web-01 (one recovery point).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { expandActivities } from '../../lambdas/core/plans/expansion.ts';
import { serversFromVolumes } from '../../lambdas/core/plans/servers.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const example = /A minimal `rbp\.config\.json`:\n\n```json\n([\s\S]*?)\n```/.exec(readme)?.[1];

describe("the README's example config", () => {
  it('backs up both disks of a two-disk server in one run', () => {
    expect(example).toBeDefined();
    const config = parseConfig(JSON.parse(example!) as unknown, 'README.md');
    const tags = { 'rbp:replica': 'true', 'rbp:source-server': 'web-01' };
    const servers = serversFromVolumes([
      { volumeId: 'vol-0b2', tags },
      { volumeId: 'vol-0a1', tags },
    ]);
    const tasks = expandActivities(config.plans[0]!, servers);
    expect(tasks.map((t) => [t.server, t.status])).toEqual([['web-01', 'Pending']]);
    expect(servers.find((s) => s.name === 'web-01')!.volumes.map((v) => v.volumeId)).toEqual([
      'vol-0a1',
      'vol-0b2',
    ]);
  });
});
