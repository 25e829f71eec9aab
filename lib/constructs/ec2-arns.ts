/**
 * The ARN that stands for every EC2 resource of one type in the stack's region, for IAM statements
 * that a tag condition narrows. A snapshot's (and an AMI's) ARN has no account field
 * (`arn:aws:ec2:region::snapshot/snap-…`), so a pattern with the account never matches one; volumes
 * and instances carry the account. The EBS direct APIs authorize on the same snapshot ARN.
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-resources-for-iam-policies
 */
import { Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

export type Ec2ResourceType = 'snapshot' | 'image' | 'volume' | 'instance';

/** Resource types whose ARNs leave the account field empty. */
const ACCOUNTLESS: ReadonlySet<Ec2ResourceType> = new Set(['snapshot', 'image']);

/** `arn:<partition>:ec2:<region>:<account or empty>:<type>/*` of the scope's stack. */
export function anyEc2Arn(scope: Construct, type: Ec2ResourceType): string {
  return Stack.of(scope).formatArn({
    service: 'ec2',
    ...(ACCOUNTLESS.has(type) ? { account: '' } : {}),
    resource: type,
    resourceName: '*',
  });
}
