/**
 * Plans in the CDK configuration (docs/plans.md, "Plans in the configuration"):
 * - the old `servers[].schedules` form is refused at synth, naming the plan to write instead;
 * - `plans` are checked as `POST /plans` checks them, every problem with its path;
 * - a configured plan is deployed as its record (the same item the plan store writes) and its
 *   schedules (named and targeted as the API's), and the app still passes cdk-nag.
 */
import '../support/quiet-powertools.ts';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { configPlanRecord } from '../../lib/constructs/config-plans.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { NIGHTLY_QA } from '../plans/plan-fixtures.ts';
import { STACK, useSynthResources } from './synth.ts';
const WEEKLY = {
  name: 'weekly',
  enabled: false,
  schedules: [
    { expression: 'cron(0 3 ? * SUN *)', timeZone: 'UTC' },
    { expression: 'rate(7 days)', timeZone: 'UTC' },
  ],
  activities: [{ servers: 'web-01' }],
};

describe('the configuration', () => {
  it('refuses servers[].schedules, naming the plan that replaces them', () => {
    expect(() =>
      parseConfig({
        servers: [
          {
            serverId: 'web-01',
            volumeSelector: { tagKey: 'rbp:source-server', tagValue: 'web-01' },
            schedules: [{ name: 'nightly', expression: 'cron(0 2 * * ? *)', timeZone: 'Europe/Berlin' }],
          },
          {
            serverId: 'db.1',
            volumeIds: ['vol-0123456789abcdef0'],
            probe: { kind: 'drs', sourceServerId: 's-0123456789abcdef0' },
            schedules: [{ name: 'weekly-full', expression: 'cron(0 3 ? * SUN *)', full: true }],
          },
        ],
      }),
    ).toThrow(
      [
        'invalid configuration:',
        '  - servers.0.schedules: scheduled backups are protection plans now: remove these schedules and add to "plans": ' +
          '{"name":"web-01","schedules":[{"expression":"cron(0 2 * * ? *)","timeZone":"Europe/Berlin"}],"activities":[{"servers":"web-01","source":"replica-only"}]}' +
          ' — docs/plans.md, "Plans in the configuration"',
        '  - servers.1.schedules: scheduled backups are protection plans now: remove these schedules and add to "plans": ' +
          '{"name":"db-1","schedules":[{"expression":"cron(0 3 ? * SUN *)","timeZone":"UTC"}],"activities":[{"servers":"db.1","source":"replica-only"}]}' +
          ' (a full schedule (full: true) has no plan equivalent: a plan run backs up incrementally; ' +
          "a plan finds the server by its volumes' tag rbp:source-server=db.1: tag vol-0123456789abcdef0 with it; " +
          'a plan reads replication state from the replica tags (docs/replica-tags.md), not from DRS)' +
          ' — docs/plans.md, "Plans in the configuration"',
      ].join('\n'),
    );
  });

  it('the replacement it names is a plan the configuration accepts', () => {
    const replacement = {
      name: 'web-01',
      schedules: [{ expression: 'cron(0 2 * * ? *)', timeZone: 'Europe/Berlin' }],
      activities: [{ servers: 'web-01', source: 'replica-only' }],
    };
    expect(parseConfig({ plans: [replacement] }).plans).toEqual([parsePlanDocument(replacement)]);
  });

  it('checks plans as POST /plans does: every problem with its path, names unique', () => {
    expect(() =>
      parseConfig({
        plans: [
          NIGHTLY_QA,
          {
            name: 'bad plan',
            schedules: [{ expression: 'cron(0 1 * * *)', timeZone: 'UTC' }],
            activities: [],
          },
          { ...WEEKLY, colour: 'red' },
        ],
      }),
    ).toThrow(
      [
        'invalid configuration:',
        '  - plans.1.name: must be letters, digits, - and _ only',
        '  - plans.1.schedules.0.expression: cron: must have six fields separated by single spaces: minutes hours day-of-month month day-of-week year',
        '  - plans.1.activities: Too small: expected array to have >=1 items',
        '  - plans.2: Unrecognized key: "colour"',
      ].join('\n'),
    );
    expect(() => parseConfig({ plans: [NIGHTLY_QA, WEEKLY, NIGHTLY_QA] })).toThrow(
      'invalid configuration:\n  - plans.2.name: plan nightly-qa is declared twice',
    );
  });
});

/** Schedule `index` of a plan as the API names it (`<plan>--<index>`), in the plans group. */
function planSchedule(plan: string, index: number, expression: string, zone: string, state: string) {
  const name = `${plan}--${index}`;
  return {
    name,
    expression,
    zone,
    state,
    group: `${STACK}-plans`,
    input: { plan, trigger: `schedule:${name}` },
  };
}

describe('a deployment with configured plans', () => {
  // bin/app.ts runs cdk-nag on this synth and fails it on any unacknowledged finding.
  const resources = useSynthResources('rbp-config-plans-', { plans: [NIGHTLY_QA, WEEKLY] });

  const ofType = (type: string) => Object.entries(resources()).filter(([, r]) => r.Type === type);

  it("writes each plan's record as the plan store writes it (PutItem; DeleteItem when removed)", () => {
    const custom = ofType('Custom::AWS');
    expect(custom).toHaveLength(2);
    // A call is a JSON string joined around the table's name (a Ref): put a stand-in there.
    const callOf = (property: unknown) =>
      JSON.parse(
        (property as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]
          .map((part) => (typeof part === 'string' ? part : 'TABLE'))
          .join(''),
      ) as {
        action: string;
        parameters: { TableName: string; Item?: Record<string, { S?: string; N?: string }>; Key?: unknown };
      };
    for (const [index, document] of [NIGHTLY_QA, WEEKLY].entries()) {
      const [, resource] = custom[index]!;
      const parsedCall = callOf(resource.Properties['Create']);
      expect(callOf(resource.Properties['Update'])).toEqual(parsedCall);
      expect(parsedCall.action).toBe('PutItem');
      expect(parsedCall.parameters.TableName).toBe('TABLE');
      const item = parsedCall.parameters.Item!;
      const stored = JSON.parse(item['plan']!.S!) as { createdAt: string; updatedAt: string };
      expect({
        pk: item['pk'],
        sk: item['sk'],
        entity: item['entity'],
        version: item['version'],
        revision: item['revision'],
      }).toEqual({
        pk: { S: 'PLAN#' },
        sk: { S: document.name },
        entity: { S: 'plan' },
        version: { N: '1' },
        revision: { N: '1' },
      });
      expect(stored).toEqual(configPlanRecord(parsePlanDocument(document), new Date(stored.createdAt)));
      expect(callOf(resource.Properties['Delete'])).toEqual({
        service: 'DynamoDB',
        action: 'DeleteItem',
        parameters: { TableName: 'TABLE', Key: { pk: { S: 'PLAN#' }, sk: { S: document.name } } },
      });
    }
  });

  it('creates their schedules in the plans group, named and targeted as the API does', () => {
    const schedules = ofType('AWS::Scheduler::Schedule')
      .map(([, r]) => r.Properties)
      .filter((p) => String(p['Name']).includes('--'));
    expect(
      schedules.map((p) => ({
        name: p['Name'],
        expression: p['ScheduleExpression'],
        zone: p['ScheduleExpressionTimezone'],
        state: p['State'],
        group: p['GroupName'],
        input: JSON.parse((p['Target'] as { Input: string }).Input) as unknown,
      })),
    ).toEqual([
      planSchedule('nightly-qa', 0, 'cron(0 1 * * ? *)', 'Europe/Berlin', 'ENABLED'),
      planSchedule('weekly', 0, 'cron(0 3 ? * SUN *)', 'UTC', 'DISABLED'),
      planSchedule('weekly', 1, 'rate(7 days)', 'UTC', 'DISABLED'),
    ]);
    for (const p of schedules) {
      const target = p['Target'] as { Arn: unknown; RoleArn: unknown };
      expect(JSON.stringify(target.Arn)).toContain(`:stateMachine:${STACK}-plan-run`);
      expect(JSON.stringify(target.RoleArn)).toContain('PlanSchedulerRole');
    }
  });

  it("the records' writer runs as the product's functions do: Node.js 22, arm64, traced, its own role and log group", () => {
    const functions = ofType('AWS::Lambda::Function').filter(([id]) => id.startsWith('AWS679f53fa'));
    expect(functions).toHaveLength(1);
    const [, fn] = functions[0]!;
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      MemorySize: 256,
      LoggingConfig: {
        LogGroup: { Ref: expect.stringMatching(/^ReplicaBackupConfigPlanWriterLogs/) as unknown },
      },
      Role: { 'Fn::GetAtt': [expect.stringMatching(/^ReplicaBackupConfigPlanWriterRole/) as unknown, 'Arn'] },
    });
    const [, role] = ofType('AWS::IAM::Role').find(([id]) =>
      id.startsWith('ReplicaBackupConfigPlanWriterRole'),
    )!;
    expect(role.Properties['ManagedPolicyArns']).toBeUndefined();
  });

  it("the records' writer may put and delete PLAN# items only", () => {
    const statements = ofType('AWS::IAM::Policy')
      .filter(([id]) => id.startsWith('ReplicaBackupConfigPlan') || id.startsWith('AWS679f53fa'))
      .flatMap(
        ([, p]) =>
          (p.Properties['PolicyDocument'] as { Statement: { Action: unknown; Condition?: unknown }[] })
            .Statement,
      );
    const dynamo = statements.filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    expect(dynamo.length).toBeGreaterThan(0);
    for (const s of dynamo) {
      expect(s.Action).toEqual(['dynamodb:PutItem', 'dynamodb:DeleteItem']);
      expect(s.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['PLAN#'] } });
    }
  });
});
