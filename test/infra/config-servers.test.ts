/**
 * A configured server's probe, waits and volumes (lib/config.ts `servers[]`, docs/plans.md
 * "Servers in the configuration"):
 * - at synth, waits that a backup's lock would not outlive are refused with backup-request.ts's
 *   rule and a message naming the server, as are a server declared twice, waits outside the
 *   bounds Acquire Lock accepts, and more settings than the deployment writes;
 * - a volumeSelector other than rbp:source-server=<serverId> (the only tag a backup of the server
 *   finds its volumes by) is refused, naming the server and the tag to set; a server may name
 *   neither volumeIds nor a selector, not both; volumeIds are stored with the probe and waits;
 * - the deployment writes one item of every server's settings (config-servers.ts) with the shared
 *   deploy-time writer, which may put and delete only that item; the plan-run and API functions
 *   may read it; the app still passes cdk-nag (bin/app.ts fails the synth on a finding).
 */
import '../support/quiet-powertools.ts';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configuredServerSettings, parseConfig } from '../../lib/config.ts';
import { NIGHTLY_QA } from '../plans/plan-fixtures.ts';
import { useSynthResources, type Resource } from './synth.ts';

const DRS_PROBE = { kind: 'drs', sourceServerId: 's-0123456789abcdef0', maxLagSeconds: 120 } as const;
const DB01_VOLUMES = ['vol-0a1b2c3d4e5f60718', 'vol-0f9e8d7c6b5a49302'];
/** Every probe and wait setting at once. */
const ALL_WAITS = {
  probe: DRS_PROBE,
  syncWait: { intervalSeconds: 60, timeoutSeconds: 7_200 },
  snapshotWait: { intervalSeconds: 120, timeoutSeconds: 43_200 },
};
const DB01 = { serverId: 'db-01', volumeIds: DB01_VOLUMES, ...ALL_WAITS };
const WEB01 = {
  serverId: 'web-01',
  volumeSelector: { tagKey: 'rbp:source-server', tagValue: 'web-01' },
  syncWait: { intervalSeconds: 30, timeoutSeconds: 5_400 },
};
/** Names only an RPO alarm: nothing of it is stored. */
const APP01 = { serverId: 'app-01', rpoAlarmMinutes: 120 };

const selector = (serverId: string) => ({ tagKey: 'rbp:source-server', tagValue: serverId });

describe("the configuration's server waits", () => {
  it('refuses waits the lock does not outlive, naming the server, with the default for a wait not given', () => {
    expect(() =>
      parseConfig({
        servers: [
          {
            serverId: 'slow-01',
            volumeSelector: selector('slow-01'),
            syncWait: { intervalSeconds: 60, timeoutSeconds: 90_000 },
          },
          {
            serverId: 'slow-02',
            volumeSelector: selector('slow-02'),
            syncWait: { intervalSeconds: 60, timeoutSeconds: 86_400 },
            snapshotWait: { intervalSeconds: 60, timeoutSeconds: 86_400 },
          },
        ],
      }),
    ).toThrow(
      [
        'invalid configuration:',
        '  - servers.0: server slow-01 waits longer than its backups hold their locks: syncWait.timeoutSeconds 90000 + snapshotWait.timeoutSeconds 86400 (default) = 176400 s, not below the lock TTL of 172800 s; the lock is not renewed before the snapshots are complete',
        '  - servers.1: server slow-02 waits longer than its backups hold their locks: syncWait.timeoutSeconds 86400 + snapshotWait.timeoutSeconds 86400 = 172800 s, not below the lock TTL of 172800 s; the lock is not renewed before the snapshots are complete',
      ].join('\n'),
    );
  });

  it('accepts waits one second below the lock TTL', () => {
    const config = parseConfig({
      servers: [
        {
          serverId: 'slow-03',
          volumeSelector: selector('slow-03'),
          syncWait: { intervalSeconds: 60, timeoutSeconds: 86_399 },
          snapshotWait: { intervalSeconds: 60, timeoutSeconds: 86_400 },
        },
      ],
    });
    expect(config.servers[0]!.syncWait).toEqual({ intervalSeconds: 60, timeoutSeconds: 86_399 });
  });

  it('refuses waits outside what Acquire Lock accepts, and a server declared twice', () => {
    expect(() =>
      parseConfig({
        servers: [
          {
            serverId: 'a',
            volumeSelector: selector('a'),
            syncWait: { intervalSeconds: 120, timeoutSeconds: 60 },
          },
          {
            serverId: 'b',
            volumeSelector: selector('b'),
            snapshotWait: { intervalSeconds: 60, timeoutSeconds: 700_000 },
          },
          { serverId: 'a', volumeSelector: selector('a') },
        ],
      }),
    ).toThrow(
      [
        'invalid configuration:',
        '  - servers.0.syncWait: intervalSeconds must not exceed timeoutSeconds',
        '  - servers.1.snapshotWait.timeoutSeconds: Too big: expected number to be <=604800',
        '  - servers.1: server b waits longer than its backups hold their locks: syncWait.timeoutSeconds 3600 (default) + snapshotWait.timeoutSeconds 700000 = 703600 s, not below the lock TTL of 172800 s; the lock is not renewed before the snapshots are complete',
        '  - servers.2.serverId: server a is declared twice',
      ].join('\n'),
    );
  });

  it('refuses more settings than the deployment writes, saying how many fit', () => {
    const servers = Array.from({ length: 120 }, (_, n) => {
      const serverId = `${String(n).padStart(4, '0')}-${'x'.repeat(59)}`;
      return { ...ALL_WAITS, serverId, volumeSelector: selector(serverId) };
    });
    expect(() => parseConfig({ servers })).toThrow(
      'invalid configuration:\n  - servers: the probe, wait and volumeIds settings of the servers take 33601 characters stored, more than the 32768 the deployment writes (about 110 servers with every probe and wait setting, fewer with volume lists): configure fewer servers with settings of their own',
    );
    expect(() => parseConfig({ servers: servers.slice(0, 112) })).not.toThrow();
    // A volume list counts: 100 volumes a server (25 characters each with the comma) fill it sooner.
    const listed = servers.slice(0, 40).map(({ serverId }, n) => ({
      ...ALL_WAITS,
      serverId,
      volumeIds: Array.from({ length: 100 }, (_, v) => `vol-${String(n * 100 + v).padStart(17, '0')}`),
    }));
    expect(() => parseConfig({ servers: listed })).toThrow(
      /^invalid configuration:\n {2}- servers: the probe, wait and volumeIds settings of the servers take \d+ characters stored/,
    );
    expect(() => parseConfig({ servers: listed.slice(0, 10) })).not.toThrow();
  });

  it("docs/plans.md's example is accepted and stores what it shows; its refusals are the ones tested here", () => {
    const docs = readFileSync(new URL('../../docs/plans.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('### Servers in the configuration'));
    const example = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
    expect(configuredServerSettings(parseConfig(JSON.parse(example!) as unknown))).toEqual([
      { serverId: 'db-01', ...ALL_WAITS, volumeIds: DB01_VOLUMES },
    ]);
    expect(section).toContain(
      '    - servers.0: server slow-01 waits longer than its backups hold their locks: syncWait.timeoutSeconds 90000 + snapshotWait.timeoutSeconds 86400 (default) = 176400 s, not below the lock TTL of 172800 s; the lock is not renewed before the snapshots are complete',
    );
    expect(section).toContain(
      '    - servers.0.volumeSelector: server db-01 selects its volumes by the tag Customer=acme-db, but its backups find them by the tag rbp:source-server=db-01 only: tag its replica volumes rbp:source-server=db-01 and remove volumeSelector (docs/replica-tags.md)',
    );
  });

  it('stores the servers that name a DRS probe, a wait or volumeIds, with only what they name', () => {
    const volumesOnly = { serverId: 'file-01', volumeIds: ['vol-0123456789abcdef0'] };
    expect(configuredServerSettings(parseConfig({ servers: [DB01, WEB01, APP01, volumesOnly] }))).toEqual([
      { serverId: 'db-01', ...ALL_WAITS, volumeIds: DB01_VOLUMES },
      { serverId: 'web-01', syncWait: { intervalSeconds: 30, timeoutSeconds: 5_400 } },
      volumesOnly,
    ]);
  });
});

describe("the configuration's server volumes", () => {
  it('refuses a volumeSelector other than rbp:source-server=<serverId>, naming the server and the tag to set', () => {
    expect(() =>
      parseConfig({
        servers: [
          { serverId: 'db-01', volumeSelector: { tagKey: 'Customer', tagValue: 'acme-db' } },
          { serverId: 'db-02', volumeSelector: { tagKey: 'rbp:source-server', tagValue: 'db-01' } },
          { serverId: 'db-03', volumeSelector: selector('db-03') },
        ],
      }),
    ).toThrow(
      [
        'invalid configuration:',
        '  - servers.0.volumeSelector: server db-01 selects its volumes by the tag Customer=acme-db, but its backups find them by the tag rbp:source-server=db-01 only: tag its replica volumes rbp:source-server=db-01 and remove volumeSelector (docs/replica-tags.md)',
        '  - servers.1.volumeSelector: server db-02 selects its volumes by the tag rbp:source-server=db-01, but its backups find them by the tag rbp:source-server=db-02 only: tag its replica volumes rbp:source-server=db-02 and remove volumeSelector (docs/replica-tags.md)',
      ].join('\n'),
    );
  });

  it('takes neither volumeIds nor a selector (a server that sets only waits or an alarm), never both', () => {
    const config = parseConfig({
      servers: [
        { serverId: 'web-01', syncWait: { intervalSeconds: 30, timeoutSeconds: 5_400 } },
        { serverId: 'app-01', rpoAlarmMinutes: 120 },
        { serverId: 'db-03', volumeSelector: selector('db-03') },
      ],
    });
    expect(config.servers.map((s) => [s.serverId, s.volumeIds, s.volumeSelector])).toEqual([
      ['web-01', undefined, undefined],
      ['app-01', undefined, undefined],
      ['db-03', undefined, selector('db-03')],
    ]);
    expect(() =>
      parseConfig({
        servers: [
          { serverId: 'db-01', volumeIds: DB01_VOLUMES, volumeSelector: selector('db-01') },
          {
            serverId: 'db-02',
            volumeIds: Array.from({ length: 101 }, (_, n) => `vol-${String(n).padStart(17, '0')}`),
          },
        ],
      }),
    ).toThrow(
      [
        'invalid configuration:',
        '  - servers.0: give at most one of volumeIds and volumeSelector',
        '  - servers.1.volumeIds: a backup of a server covers at most 100 volumes',
      ].join('\n'),
    );
  });
});

type Statement = { Action: string | string[]; Condition?: unknown };

describe('a deployment with configured server settings (and plans: one writer for both)', () => {
  // bin/app.ts runs cdk-nag on this synth and fails it on any unacknowledged finding.
  const resources = useSynthResources('rbp-config-servers-', {
    servers: [DB01, WEB01, APP01],
    plans: [NIGHTLY_QA],
  });
  const ofType = (type: string) => Object.entries(resources()).filter(([, r]) => r.Type === type);
  const statementsOf = (policy: Resource) =>
    (policy.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement;
  // A call is a JSON string joined around the table's name (a Ref): put a stand-in there.
  const callOf = (property: unknown) =>
    JSON.parse(
      (property as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]
        .map((part) => (typeof part === 'string' ? part : 'TABLE'))
        .join(''),
    ) as unknown;

  it('writes one item of every server that names a setting (PutItem; DeleteItem when none does)', () => {
    const custom = ofType('Custom::AWS').filter(([id]) => id.startsWith('ReplicaBackupConfigServerSettings'));
    expect(custom).toHaveLength(1);
    const [, resource] = custom[0]!;
    const put = {
      service: 'DynamoDB',
      action: 'PutItem',
      parameters: {
        TableName: 'TABLE',
        Item: {
          pk: { S: 'SERVER-SETTINGS#' },
          sk: { S: 'CONFIG' },
          entity: { S: 'server-backup-settings' },
          formatVersion: { N: '1' },
          servers: {
            S: JSON.stringify([
              {
                serverId: 'db-01',
                probe: DRS_PROBE,
                syncWait: { intervalSeconds: 60, timeoutSeconds: 7_200 },
                snapshotWait: { intervalSeconds: 120, timeoutSeconds: 43_200 },
                volumeIds: DB01_VOLUMES,
              },
              { serverId: 'web-01', syncWait: { intervalSeconds: 30, timeoutSeconds: 5_400 } },
            ]),
          },
        },
      },
      physicalResourceId: { id: 'server-backup-settings' },
    };
    expect(callOf(resource.Properties['Create'])).toEqual(put);
    expect(callOf(resource.Properties['Update'])).toEqual(put);
    expect(callOf(resource.Properties['Delete'])).toEqual({
      service: 'DynamoDB',
      action: 'DeleteItem',
      parameters: { TableName: 'TABLE', Key: { pk: { S: 'SERVER-SETTINGS#' }, sk: { S: 'CONFIG' } } },
    });
  });

  it('writes the item only after the functions that read it are updated (their schema refuses unknown fields)', () => {
    const functionIds = ofType('AWS::Lambda::Function').map(([id]) => id);
    const readers = ['ReplicaBackupApiFunction', 'ReplicaBackupPlanRunFunction'].map((stem) => {
      const matching = functionIds.filter((id) => id.startsWith(stem));
      expect(matching).toHaveLength(1);
      return matching[0]!;
    });
    const [, resource] = ofType('Custom::AWS').find(([id]) =>
      id.startsWith('ReplicaBackupConfigServerSettings'),
    )!;
    expect((resource as { DependsOn?: string[] }).DependsOn).toEqual(expect.arrayContaining(readers));
  });

  it("runs on the plans' writer (one provider, one role), whose server policy puts and deletes only that item", () => {
    const functions = ofType('AWS::Lambda::Function').filter(([id]) => id.startsWith('AWS679f53fa'));
    expect(functions).toHaveLength(1);
    expect(functions[0]![1].Properties['Role']).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^ReplicaBackupConfigPlanWriterRole/) as unknown, 'Arn'],
    });
    const policies = ofType('AWS::IAM::Policy').filter(([id]) =>
      id.startsWith('ReplicaBackupConfigServerSettings'),
    );
    expect(policies).toHaveLength(1);
    const [, policy] = policies[0]!;
    expect(policy.Properties['Roles']).toEqual([
      { Ref: expect.stringMatching(/^ReplicaBackupConfigPlanWriterRole/) as unknown },
    ]);
    const dynamo = statementsOf(policy).filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    expect(dynamo.map((s) => ({ Action: s.Action, Condition: s.Condition }))).toEqual([
      {
        Action: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['SERVER-SETTINGS#'] } },
      },
    ]);
  });

  it('lets the plan-run function and the API read the item (GetItem only)', () => {
    const readers = ofType('AWS::IAM::Policy')
      .filter(([, p]) =>
        statementsOf(p).some((s) => JSON.stringify(s.Condition ?? {}).includes('"SERVER-SETTINGS#"')),
      )
      .flatMap(([, p]) =>
        (p.Properties['Roles'] as { Ref: string }[]).map((r) => r.Ref.replace(/[0-9A-F]{8}$/, '')),
      )
      .sort();
    expect(readers).toEqual([
      'ReplicaBackupApiRole',
      'ReplicaBackupConfigPlanWriterRole',
      'ReplicaBackupPlanRunRole',
    ]);
    const reads = ofType('AWS::IAM::Policy')
      .filter(([id]) => !id.startsWith('ReplicaBackupConfigServerSettings'))
      .flatMap(([, p]) => statementsOf(p))
      .filter((s) => JSON.stringify(s.Condition ?? {}).includes('"SERVER-SETTINGS#"'));
    expect(reads.map((s) => s.Action)).toEqual(['dynamodb:GetItem', 'dynamodb:GetItem']);
  });
});
