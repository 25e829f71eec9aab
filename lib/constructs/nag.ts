/** Helpers for acknowledging cdk-nag findings. */
import { Stack, type CfnResource } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** `<LogicalId.Arn>`: a resource's ARN as cdk-nag prints it in a finding. */
export function nagArnToken(construct: Construct): string {
  const stack = Stack.of(construct);
  return `<${stack.resolve((construct.node.defaultChild as CfnResource).logicalId) as string}.Arn>`;
}

/**
 * The wildcard actions of CDK's read/put grants on a bucket and its KMS key (grantRead, grantPut,
 * grantEncryptDecrypt), as cdk-nag's AwsSolutions-IAM5 names them.
 */
export const CDK_GRANT_WILDCARD_FINDINGS = [
  'Action::kms:GenerateDataKey*',
  'Action::kms:ReEncrypt*',
  'Action::s3:GetObject*',
  'Action::s3:GetBucket*',
  'Action::s3:List*',
  'Action::s3:Abort*',
] as const;
