/**
 * The grants that let a deletion take its image out of its recovery point (image-deletion.ts,
 * dynamodb-recovery-points.ts detachImage/listDetached/clearDetached): the API function
 * (`rbp images delete`, `rbp retention apply`) and the lifecycle job function (expiry after plan
 * runs) may read, Query, put and delete items under RP# and nothing more there (the lifecycle job
 * also BatchWriteItem, for the index backfill); no UpdateItem or wildcard on those keys.
 */
import '../support/quiet-powertools.ts';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
interface Statement {
  readonly Action: string | string[];
  readonly Condition?: { 'ForAllValues:StringLike'?: { 'dynamodb:LeadingKeys'?: string[] } };
}

/** Every action the role of the function whose logical id matches `name` has on RP# keys. */
function recoveryPointActions(resources: Record<string, Resource>, name: RegExp): string[] {
  const functionId = Object.keys(resources).find(
    (id) => resources[id]!.Type === 'AWS::Lambda::Function' && name.test(id),
  )!;
  const roleId = (resources[functionId]!.Properties['Role'] as { 'Fn::GetAtt': [string, string] })[
    'Fn::GetAtt'
  ][0];
  const statements = Object.values(resources)
    .filter(
      (r) =>
        // A long policy overflows into managed policies attached to the role.
        (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') &&
        JSON.stringify(r.Properties['Roles']).includes(JSON.stringify({ Ref: roleId })),
    )
    .flatMap((r) => (r.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement);
  return [
    ...new Set(
      statements
        .filter((s) =>
          (s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? []).some((k) =>
            k.startsWith('RP#'),
          ),
        )
        .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])),
    ),
  ].sort();
}

describe('recovery point grants of the deleting functions', () => {
  it('let the API and the lifecycle job function get, query, put and delete RP# items, nothing else', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new ReplicaBackupStack(app, 'DetachGrantsTest', {
      config: parseConfig({ servers: [] }),
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const resources = (Template.fromStack(stack).toJSON() as { Resources: Record<string, Resource> })
      .Resources;
    // BatchGetItem: retention finds images' points through their RP#IMAGE# index items.
    const expected = [
      'dynamodb:BatchGetItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
    ];
    // BatchWriteItem: only the lifecycle job, whose expiry after a plan run backfills the index.
    expect(recoveryPointActions(resources, /LifecycleJobFunction/)).toEqual(
      [...expected, 'dynamodb:BatchWriteItem'].sort(),
    );
    expect(recoveryPointActions(resources, /ApiFunction/)).toEqual(expected);
    // Commit Recovery Point writes its point, then reads the images' detach marks (BatchGetItem)
    // and takes out images a deletion started on (a transaction of Put/Delete, DeleteItem).
    expect(recoveryPointActions(resources, /CommitRecoveryPointFunction/)).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
    ]);
  });
});
