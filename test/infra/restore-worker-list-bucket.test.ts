/**
 * The restore worker may list the restore bucket under `restores/` only: with s3:ListBucket, S3
 * answers HeadObject of a missing key with 404 rather than 403
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html), which the worker's
 * completed-upload check after a crash relies on.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import { roleStatements, type IamStatement } from '../support/iam-statements.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

let resources: Record<string, Resource>;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'RestoreListBucketTest', {
    config: parseConfig({ servers: [] }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  resources = Template.fromStack(stack).toJSON()['Resources'] as Record<string, Resource>;
});

const actionsOf = (s: IamStatement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

it('lets the restore worker list the restore bucket only under restores/', () => {
  const listing = roleStatements(resources, 'ReplicaBackupRestoreWorkerRole').filter((s) =>
    actionsOf(s).includes('s3:ListBucket'),
  );
  expect(listing).toHaveLength(1);
  const bucket = Object.entries(resources).find(
    ([id, r]) => r.Type === 'AWS::S3::Bucket' && id.startsWith('ReplicaBackupRestoreBucket'),
  )![0];
  expect(listing[0]).toMatchObject({
    Action: 's3:ListBucket',
    Effect: 'Allow',
    Resource: { 'Fn::GetAtt': [bucket, 'Arn'] },
    Condition: { StringLike: { 's3:prefix': ['restores/*'] } },
  });
});
