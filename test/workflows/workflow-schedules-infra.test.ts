/**
 * The workflow schedules' infrastructure (lib/constructs/workflow-schedules.ts) in a stack of its
 * own: the schedule group, a role only EventBridge Scheduler of this account assumes and that may
 * only start the workflow-run state machine, the API's environment, its schedule grants limited to
 * the group, PassRole of that role only, and delete's EC2 grants held to the rbp:workflow tag;
 * the synth passes cdk-nag's AwsSolutions checks (a finding fails the synth).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Validations } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { WorkflowSchedules } from '../../lib/constructs/workflow-schedules.ts';

const RUN_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:rbp-workflow-run';

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

function synth(): { template: Template; account: unknown } {
  const app = new App();
  const stack = new Stack(app, 'WorkflowSchedulesTest', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const api = new lambda.Function(stack, 'Api', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
  });
  new WorkflowSchedules(stack, { prefix: 'rbp', apiFunction: api, workflowRunStateMachineArn: RUN_MACHINE });
  // The Lambda basic-execution managed policy is the test's stand-in function's, not the construct's.
  Validations.of(api.role!).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'the stand-in API function of this test',
  });
  Validations.of(api).acknowledge({
    id: 'AwsSolutions-L1',
    reason: 'the stand-in API function of this test',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return { template: Template.fromStack(stack), account: stack.resolve(stack.account) };
}

function statements(template: Template, rolePrefix: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) =>
      ((p as { Properties: { Roles: { Ref: string }[] } }).Properties.Roles ?? []).some((r) =>
        r.Ref.startsWith(rolePrefix),
      ),
    )
    .flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
          .Statement,
    );
}

describe('workflow schedules infrastructure', () => {
  const { template, account } = synth();

  it('has the group, and a role Scheduler of this account assumes to start the run state machine only', () => {
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'rbp-workflows' });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': account } },
          },
        ],
      },
    });
    expect(statements(template, 'WorkflowSchedulerRole')).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: RUN_MACHINE },
    ]);
  });

  it("gives the API the group's schedules, PassRole of that role only, and delete's grants held to the tag", () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          WORKFLOW_SCHEDULE_GROUP: 'rbp-workflows',
          WORKFLOW_SCHEDULER_ROLE_ARN: {
            'Fn::GetAtt': [Match.stringLikeRegexp('^WorkflowSchedulerRole'), 'Arn'],
          },
        },
      },
    });
    const api = statements(template, 'ApiServiceRole');
    const byAction = (action: string) =>
      api.filter((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]).includes(action));
    expect(byAction('scheduler:CreateSchedule')[0]?.Resource).toEqual({
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:eu-west-1:123456789012:schedule/rbp-workflows/*'],
      ],
    });
    expect(byAction('iam:PassRole')[0]).toMatchObject({
      Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    });
    for (const action of ['ec2:DeleteVolume', 'ec2:DeleteSnapshot']) {
      expect(byAction(action)).toHaveLength(1);
      expect(byAction(action)[0]!.Condition).toEqual({ StringLike: { 'aws:ResourceTag/rbp:workflow': '*' } });
    }
    expect(byAction('ec2:DetachVolume')).toHaveLength(2);
  });
});
