/**
 * The grants of backups from the primary (lambdas/core/backup/primary-source.ts): the Create
 * Snapshots step snapshots a source server's own EBS volumes with EC2 CreateSnapshots (one
 * crash-consistent set per instance) or CreateSnapshot (a primary attached to no instance), then
 * tags each snapshot with the replica volume it stands for.
 *
 * One policy of its own on the step's role, so the replica grants (backup-functions.ts) stay as
 * they are and every primary grant is in one place:
 * - CreateSnapshots on instances and CreateSnapshot(s) on volumes tagged `rbp:primary=true` only:
 *   the operator marks the primaries the product may snapshot;
 * - both only as snapshots tagged `rbp:managed=true` on creation (aws:RequestTag), and tagging at
 *   creation only through those two actions (ec2:CreateAction);
 * - CreateTags afterwards only on managed snapshots and only of the two keys the step writes
 *   (`rbp:volume-id`, `rbp:primary-volume`);
 * - DescribeVolumes/DescribeInstances, which support no resource-level permissions.
 *
 * Resource types and condition keys of these actions:
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html;
 * tag-on-create needs ec2:CreateTags with ec2:CreateAction:
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html.
 */
import { Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { PRIMARY_OPT_IN_TAG, PRIMARY_VOLUME_TAG } from '../../lambdas/core/backup/primary-source.ts';
import { MANAGED_TAG, VOLUME_ID_TAG } from '../../lambdas/core/orchestration/replica-snapshots.ts';
import { anyEc2Arn } from './ec2-arns.ts';

/** The statements of the primary-snapshots policy (exported for the infra test's expectations). */
export function primarySnapshotStatements(scope: Construct): iam.PolicyStatement[] {
  const snapshotArn = anyEc2Arn(scope, 'snapshot');
  const optedIn = { StringEquals: { [`aws:ResourceTag/${PRIMARY_OPT_IN_TAG}`]: 'true' } };
  return [
    new iam.PolicyStatement({
      actions: ['ec2:CreateSnapshots'],
      resources: [anyEc2Arn(scope, 'instance')],
      conditions: optedIn,
    }),
    new iam.PolicyStatement({
      actions: ['ec2:CreateSnapshots', 'ec2:CreateSnapshot'],
      resources: [anyEc2Arn(scope, 'volume')],
      conditions: optedIn,
    }),
    new iam.PolicyStatement({
      actions: ['ec2:CreateSnapshots', 'ec2:CreateSnapshot'],
      resources: [snapshotArn],
      conditions: { StringEquals: { [`aws:RequestTag/${MANAGED_TAG}`]: 'true' } },
    }),
    new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [snapshotArn],
      conditions: { StringEquals: { 'ec2:CreateAction': ['CreateSnapshots', 'CreateSnapshot'] } },
    }),
    new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [snapshotArn],
      conditions: {
        StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: 'true' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [VOLUME_ID_TAG, PRIMARY_VOLUME_TAG] },
      },
    }),
    new iam.PolicyStatement({
      actions: ['ec2:DescribeVolumes', 'ec2:DescribeInstances'],
      resources: ['*'],
    }),
  ];
}

/** Attaches the primary-snapshots policy to `role` (the Create Snapshots step's). */
export function grantPrimarySnapshots(scope: Construct, role: iam.IRole): iam.Policy {
  const policy = new iam.Policy(scope, 'PrimarySnapshotsPolicy', {
    statements: primarySnapshotStatements(scope),
  });
  policy.attachToRole(role);
  const stack = Stack.of(scope);
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const tagged = `only with the tag ${PRIMARY_OPT_IN_TAG}=true (aws:ResourceTag condition): the primaries the operator marked.`;
  Validations.of(policy).acknowledge(
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${region}:${account}:instance/*]`,
      reason: `CreateSnapshots of a source server's instance, ${tagged}`,
    },
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${region}:${account}:volume/*]`,
      reason: `CreateSnapshots/CreateSnapshot of a source server's own volumes, ${tagged}`,
    },
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${region}::snapshot/*]`,
      reason:
        'New snapshots only tagged rbp:managed=true on creation; later tags only on managed snapshots and only rbp:volume-id and rbp:primary-volume.',
    },
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'EC2 DescribeVolumes and DescribeInstances support no resource-level permissions.',
    },
  );
  return policy;
}
