import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../lib/config.ts';

const server = {
  serverId: 'web-1',
  volumeIds: ['vol-0123456789abcdef0'],
  schedules: [{ name: 'nightly', expression: 'cron(0 2 * * ? *)', timeZone: 'Europe/Berlin' }],
};

describe('lib/config.ts', () => {
  it('fills the defaults: retain data, one base snapshot, budgets under the EBS limits', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      servers: [],
      baseSnapshotsRetained: 1,
      restoreExpirationDays: 7,
      budgets: { snapshotReadRequestsPerSecond: 500, rangeWorkers: 8 },
      removalPolicy: 'retain',
      logRetentionDays: 365,
    });
    expect(config.objectLock).toBeUndefined();
  });

  it('reports every problem with its path in one error', () => {
    let caught: unknown;
    try {
      parseConfig({
        servers: [
          { ...server, schedules: [{ name: 'Nightly!', expression: 'every day', timeZone: 'Mars/Olympus' }] },
          {
            serverId: 'db',
            volumeIds: ['vol-0123456789abcdef1'],
            volumeSelector: { tagKey: 'rbp:source-server', tagValue: 'db' },
            schedules: [{ name: 'a', expression: 'rate(1 day)' }],
          },
        ],
        budgets: { snapshotReadRequestsPerSecond: 5_000 },
        removalPolicy: 'maybe',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toBe(
      [
        'invalid configuration:',
        '  - servers.0.schedules.0.name: use 1-32 of a-z, 0-9 and -',
        '  - servers.0.schedules.0.expression: must be cron(<6 fields>) or rate(<n> <unit>)',
        '  - servers.0.schedules.0.timeZone: must be an IANA time zone such as Europe/Berlin',
        '  - servers.1: give at most one of volumeIds and volumeSelector',
        '  - budgets.snapshotReadRequestsPerSecond: Too big: expected number to be <=1000',
        '  - removalPolicy: Invalid option: expected one of "retain"|"destroy"',
      ].join('\n'),
    );
  });

  it('loads a JSON file named in the context and says which file is wrong', () => {
    const files: Record<string, string> = {
      'ok.json': JSON.stringify({
        plans: [
          {
            name: 'web-1',
            schedules: [{ expression: 'cron(0 2 * * ? *)', timeZone: 'Europe/Berlin' }],
            activities: [{ servers: 'web-1' }],
          },
        ],
      }),
      'bad.json': '{ nope',
    };
    const read = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT: no such file');
      return text;
    };
    expect(loadConfig('ok.json', read).plans[0]!.schedules[0]!.timeZone).toBe('Europe/Berlin');
    expect(() => loadConfig('bad.json', read)).toThrow(/^configuration file bad\.json is not JSON: /);
    expect(() => loadConfig('missing.json', read)).toThrow(
      'cannot read configuration file missing.json: ENOENT: no such file',
    );
    expect(() => loadConfig({ removalPolicy: 'destroy', restoreExpirationDays: 0 })).toThrow(
      'invalid context rbp:config:\n  - restoreExpirationDays: Too small: expected number to be >=1',
    );
  });
});
