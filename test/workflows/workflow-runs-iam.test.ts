/**
 * The table grants of workflow run records in the synthesised stack: the API and the workflow-run
 * function may read and write the records (`WORKFLOW-RUN#`) and their listing copies
 * (`WORKFLOW-RUNS#<workflow>`, lambdas/aws/workflow-run-store.ts) and each workflow's start position
 * (`WORKFLOW-START#<workflow>`), and check a record's revision in
 * the listing backfill's transactions (ConditionCheckItem), on those keys only.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import { roleStatements, type TemplateResource } from '../support/iam-statements.ts';

let resources: Record<string, TemplateResource>;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'WorkflowRunsIamTest', {
    config: parseConfig({ servers: [] }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  resources = Template.fromStack(stack).toJSON()['Resources'] as Record<string, TemplateResource>;
}, 120_000);

/** [actions, leading keys] of the role's table statements that name a workflow-run key. */
function runGrants(rolePrefix: string): [string[], unknown][] {
  return roleStatements(resources, rolePrefix)
    .map(
      (s) =>
        [[s.Action].flat(), s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']] as [
          string[],
          unknown,
        ],
    )
    .filter(([, keys]) => JSON.stringify(keys ?? []).includes('WORKFLOW-RUN'));
}

describe('workflow run record grants', () => {
  const expected = [
    [
      ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      ['WORKFLOW-RUN#*', 'WORKFLOW-RUNS#*', 'WORKFLOW-START#*'],
    ],
    [['dynamodb:ConditionCheckItem'], ['WORKFLOW-RUN#*']],
  ];

  it('the workflow-run function: records and listing copies, the backfill condition check', () => {
    expect(runGrants('ReplicaBackupWorkflowRunRole')).toEqual(expected);
  });

  it('the API: the same', () => {
    expect(runGrants('ReplicaBackupApiRole')).toEqual(expected);
  });
});
