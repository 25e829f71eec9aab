/**
 * The README's example config works for a two-disk server: its schedule's input, as the state
 * machine's lock step normalises it, takes both replica volumes tagged rbp:source-server=web-01
 * and names the run's server web-01 (the former one-volume rule refused it).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig, scheduledBackupInput } from '../../lib/config.ts';
import { normaliseBackupRequest } from '../../lambdas/core/orchestration/backup-request.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const example = /A minimal `rbp\.config\.json`:\n\n```json\n([\s\S]*?)\n```/.exec(readme)?.[1];

describe("the README's example config", () => {
  it('backs up both disks of a two-disk server in one run', async () => {
    expect(example).toBeDefined();
    const config = parseConfig(JSON.parse(example!) as unknown, 'README.md');
    const server = config.servers[0]!;
    const input = scheduledBackupInput(server, server.schedules[0]!);
    const seen: string[] = [];
    const context = await normaliseBackupRequest(
      input,
      {
        id: 'arn:aws:states:eu-west-1:123456789012:execution:rbp:nightly-1',
        name: 'nightly-1',
        startTime: '2026-05-01T02:00:00Z',
      },
      (key, value) => {
        seen.push(`${key}=${value}`);
        return Promise.resolve(['vol-0b2', 'vol-0a1']);
      },
    );
    expect(seen).toEqual(['rbp:source-server=web-01']);
    expect([context.serverId, context.volumeIds]).toEqual(['web-01', ['vol-0a1', 'vol-0b2']]);
  });
});
