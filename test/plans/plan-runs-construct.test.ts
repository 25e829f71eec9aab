/**
 * lib/constructs/plan-runs.ts synthesised: the plan-run state machine invokes only its function,
 * EventBridge Scheduler's role may only start that state machine (for this account), the API may
 * pass only that role, and the plan-run function may invoke only the hook functions the
 * configuration lists (and the workflow-run function only the masking functions it lists).
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import { roleStatements } from '../support/iam-statements.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, unknown> };
let resources: Record<string, Resource>;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'PlanRunsTest', {
    config: parseConfig({
      servers: [],
      planHookFunctions: ['check-maintenance', 'arn:aws:lambda:eu-west-1:123456789012:function:flush-db'],
      workflowMaskingFunctions: ['maskshadow'],
    }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  resources = Template.fromStack(stack).toJSON()['Resources'] as Record<string, Resource>;
}, 120_000);

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const statementsOf = (rolePrefix: string): Statement[] => roleStatements(resources, rolePrefix);

describe('plan runs construct', () => {
  it('deploys the plan-run state machine and the schedule group', () => {
    const machines = ofType('AWS::StepFunctions::StateMachine').map(
      ([, m]) => m.Properties['StateMachineName'],
    );
    expect(machines).toContain('PlanRunsTest-plan-run');
    // The plans' group and, since workflows are scheduled too, the workflows' own group.
    expect(ofType('AWS::Scheduler::ScheduleGroup').map(([, g]) => g.Properties['Name'])).toEqual([
      'PlanRunsTest-plans',
      'PlanRunsTest-workflows',
    ]);
  });

  it('lets the plan-run function invoke exactly the listed hook functions', () => {
    const invoke = statementsOf('ReplicaBackupPlanRunRole').filter((s) =>
      actionsOf(s).includes('lambda:InvokeFunction'),
    );
    expect(invoke).toHaveLength(1);
    expect(JSON.stringify(invoke[0]!.Resource)).toContain(':function:check-maintenance');
    expect(JSON.stringify(invoke[0]!.Resource)).toContain(
      'arn:aws:lambda:eu-west-1:123456789012:function:flush-db',
    );
    expect(Array.isArray(invoke[0]!.Resource) ? invoke[0]!.Resource : [invoke[0]!.Resource]).toHaveLength(2);
  });

  it('lets the workflow-run function invoke exactly the listed masking functions', () => {
    const invoke = statementsOf('ReplicaBackupWorkflowRunRole').filter((s) =>
      actionsOf(s).includes('lambda:InvokeFunction'),
    );
    expect(invoke).toHaveLength(1);
    const targets = Array.isArray(invoke[0]!.Resource) ? invoke[0]!.Resource : [invoke[0]!.Resource];
    expect(targets).toHaveLength(1);
    expect(JSON.stringify(targets)).toContain(':function:maskshadow');
  });

  it("lets Scheduler only start the plan-run state machine, and the API pass only the schedulers' roles", () => {
    const scheduler = statementsOf('ReplicaBackupPlanSchedulerRole');
    // …and deliver a failed firing to the schedules' dead-letter queue (test/infra/schedule-failures.test.ts).
    expect(scheduler.map((s) => actionsOf(s))).toEqual([
      ['states:StartExecution'],
      ['sqs:SendMessage'],
      ['kms:GenerateDataKey', 'kms:Decrypt'],
    ]);
    expect(JSON.stringify(scheduler[0]!.Resource)).toContain('stateMachine:PlanRunsTest-plan-run');
    // Its default policy and its overflow managed policies: the plans' scheduler role, and the
    // workflows' (workflow schedules), each only to EventBridge Scheduler.
    const pass = statementsOf('ReplicaBackupApiRole').filter((s) => actionsOf(s).includes('iam:PassRole'));
    expect(pass).toHaveLength(2);
    const passed = pass.map((s) => (s.Resource as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);
    expect(passed.map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'ReplicaBackupPlanSchedulerRole',
      'ReplicaBackupWorkflowSchedulerRole',
    ]);
    for (const statement of pass) {
      expect(statement.Condition).toEqual({
        StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
      });
    }
  });
});

describe('EC2 snapshot ARNs in every policy', () => {
  it('never name an account: a snapshot ARN has none (arn:aws:ec2:region::snapshot/…), so such a grant matches nothing', () => {
    const policies = [...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')].map(([, r]) =>
      JSON.stringify(r.Properties['PolicyDocument']),
    );
    const snapshotGrants = policies.filter((document) => document.includes(':snapshot/'));
    expect(snapshotGrants.length).toBeGreaterThan(0);
    for (const document of snapshotGrants) {
      expect(document).not.toMatch(/:123456789012:snapshot\//);
    }
  });
});
