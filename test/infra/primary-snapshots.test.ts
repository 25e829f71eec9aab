/**
 * Backups from the primary in AWS: the Create Snapshots step's role carries the primary-snapshots
 * policy (lib/constructs/primary-snapshots-policy.ts) with exactly these statements, nobody else
 * may call CreateSnapshots, and the app still synthesizes with cdk-nag's AwsSolutions checks
 * (bin/app.ts fails the synth on an unacknowledged finding).
 */
import '../support/quiet-powertools.ts';
import { describe, expect, it } from 'vitest';
import { useSynthResources, type Resource } from './synth.ts';

type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};
// cdk-nag runs on this synth (buildApp attaches it); bundling is skipped (nag-and-lint.test.ts bundles).
const resources = useSynthResources('rbp-primary-iam-');

function policies(): [string, Resource][] {
  return Object.entries(resources()).filter(([, r]) => r.Type === 'AWS::IAM::Policy');
}

function statementsOf(policy: Resource): Statement[] {
  return (policy.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement;
}

function actions(s: Statement): string[] {
  return Array.isArray(s.Action) ? s.Action : [s.Action];
}

describe('the primary-snapshots policy', () => {
  it('is attached to the Create Snapshots step (replicaSnapshots) only', () => {
    const primary = policies().filter(([id]) => id.startsWith('ReplicaBackupPrimarySnapshotsPolicy'));
    expect(primary).toHaveLength(1);
    const roles = primary[0]![1].Properties['Roles'] as { Ref: string }[];
    expect(roles).toHaveLength(1);
    expect(roles[0]!.Ref).toMatch(/^ReplicaBackupReplicaSnapshotsRole/);
  });

  it('has exactly these statements: marked primaries, managed snapshots, the two tags the step writes', () => {
    const [, policy] = policies().find(([id]) => id.startsWith('ReplicaBackupPrimarySnapshotsPolicy'))!;
    const statements = statementsOf(policy).map((s) => ({
      Action: s.Action,
      Resource: JSON.stringify(s.Resource),
      Condition: s.Condition,
    }));
    const ec2Arn = (tail: string, account: boolean) =>
      JSON.stringify({
        'Fn::Join': [
          '',
          account
            ? ['arn:', { Ref: 'AWS::Partition' }, ':ec2:eu-west-1:', { Ref: 'AWS::AccountId' }, tail]
            : ['arn:', { Ref: 'AWS::Partition' }, `:ec2:eu-west-1:${tail}`],
        ],
      });
    expect(statements).toEqual([
      {
        Action: 'ec2:CreateSnapshots',
        Resource: ec2Arn(':instance/*', true),
        Condition: { StringEquals: { 'aws:ResourceTag/rbp:primary': 'true' } },
      },
      {
        Action: ['ec2:CreateSnapshots', 'ec2:CreateSnapshot'],
        Resource: ec2Arn(':volume/*', true),
        Condition: { StringEquals: { 'aws:ResourceTag/rbp:primary': 'true' } },
      },
      {
        Action: ['ec2:CreateSnapshots', 'ec2:CreateSnapshot'],
        Resource: ec2Arn(':snapshot/*', false),
        Condition: { StringEquals: { 'aws:RequestTag/rbp:managed': 'true' } },
      },
      {
        Action: 'ec2:CreateTags',
        Resource: ec2Arn(':snapshot/*', false),
        Condition: { StringEquals: { 'ec2:CreateAction': ['CreateSnapshots', 'CreateSnapshot'] } },
      },
      {
        Action: 'ec2:CreateTags',
        Resource: ec2Arn(':snapshot/*', false),
        Condition: {
          StringEquals: { 'aws:ResourceTag/rbp:managed': 'true' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['rbp:volume-id', 'rbp:primary-volume'] },
        },
      },
      { Action: ['ec2:DescribeVolumes', 'ec2:DescribeInstances'], Resource: '"*"', Condition: undefined },
    ]);
  });

  it('is the only grant of CreateSnapshots in the stack, and every snapshot-creating grant has a condition', () => {
    const grants = policies().flatMap(([id, policy]) =>
      statementsOf(policy)
        .filter((s) => actions(s).includes('ec2:CreateSnapshots'))
        .map(() => id),
    );
    expect(new Set(grants.map((id) => id.replace(/[0-9A-F]{8}$/, '')))).toEqual(
      new Set(['ReplicaBackupPrimarySnapshotsPolicy']),
    );
    for (const [, policy] of policies()) {
      for (const s of statementsOf(policy)) {
        if (actions(s).some((a) => a === 'ec2:CreateSnapshots' || a === 'ec2:CreateSnapshot'))
          expect(s.Condition).toBeDefined();
      }
    }
  });

  it('passes cdk-nag: its wildcards are acknowledged with reasons in the template', () => {
    const [, policy] = policies().find(([id]) => id.startsWith('ReplicaBackupPrimarySnapshotsPolicy'))!;
    const metadata = (
      policy as unknown as { Metadata?: { cdk_nag?: { rules_to_suppress: { id: string }[] } } }
    ).Metadata;
    const ids = metadata?.cdk_nag?.rules_to_suppress.map((r) => r.id) ?? [];
    for (const id of [
      'AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:eu-west-1::snapshot/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:eu-west-1:<AWS::AccountId>:instance/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:eu-west-1:<AWS::AccountId>:volume/*]',
    ])
      expect(ids).toContain(id);
  });
});
