/** Helpers for acknowledging cdk-nag findings. */
import { Stack, type CfnResource } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** `<LogicalId.Arn>`: a resource's ARN as cdk-nag prints it in a finding. */
export function nagArnToken(construct: Construct): string {
  const stack = Stack.of(construct);
  return `<${stack.resolve((construct.node.defaultChild as CfnResource).logicalId) as string}.Arn>`;
}
