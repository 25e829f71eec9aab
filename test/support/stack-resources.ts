/**
 * The resources of the product's stack synthesised for one server with one replica volume, for
 * tests that read its grants (with roleStatements in iam-statements.ts). Lambda bundling is off.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import type { TemplateResource } from './iam-statements.ts';

export function oneServerStackResources(): Record<string, TemplateResource> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'InfraTest', {
    config: parseConfig({ servers: [{ serverId: 'web-1', volumeIds: ['vol-0123456789abcdef0'] }] }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  return Template.fromStack(stack).toJSON()['Resources'] as Record<string, TemplateResource>;
}
