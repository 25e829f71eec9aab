import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { BACKUP_ASL_PATH } from '../../lib/constructs/replica-backup.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import { productTableDefinition } from '../../local/product-table.ts';
import { manifestEntries } from '../../lib/function-manifest.ts';
import { roleStatements, type IamStatement } from '../support/iam-statements.ts';

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };
type Statement = IamStatement;

let template: Template;
let resources: Record<string, Resource>;

const config = parseConfig({
  servers: [
    {
      serverId: 'web-1',
      volumeIds: ['vol-0123456789abcdef0'],
    },
    {
      serverId: 'db-1',
      volumeSelector: { tagKey: 'rbp:source-server', tagValue: 'db-1' },
      probe: { kind: 'drs', sourceServerId: 's-0123456789abcdef0' },
    },
  ],
  objectLock: { mode: 'GOVERNANCE', days: 30 },
  notificationEmails: ['ops@example.com'],
});

beforeAll(() => {
  // One synth for the whole file; esbuild bundling is skipped (test/infra/nag.test.ts bundles).
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'InfraTest', {
    config,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  template = Template.fromStack(stack);
  resources = template.toJSON()['Resources'] as Record<string, Resource>;
});

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

const statementsOf = (logicalIdPrefix: string): Statement[] => roleStatements(resources, logicalIdPrefix);

function actions(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

describe('storage', () => {
  it('has one KMS key, with rotation, kept on stack deletion', () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
    });
  });

  it('lets CloudWatch alarms use the key to publish to the encrypted topic, for this account only', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
            Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
          },
        ]),
      },
    });
  });

  it('encrypts image, work and restore buckets with the key and a bucket key; blocks public access; logs access', () => {
    const kmsBuckets = ofType('AWS::S3::Bucket').filter(([, r]) =>
      JSON.stringify(r.Properties).includes('aws:kms'),
    );
    expect(kmsBuckets).toHaveLength(3);
    for (const [, bucket] of kmsBuckets) {
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(bucket.Properties['BucketEncryption']).toEqual({
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: {
                'Fn::GetAtt': [expect.stringMatching(/^ReplicaBackupKey/) as unknown, 'Arn'],
              },
            },
          },
        ],
      });
      expect(bucket.Properties['PublicAccessBlockConfiguration']).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties['LoggingConfiguration']).toMatchObject({
        DestinationBucketName: { Ref: expect.stringMatching(/AccessLogBucket/) as unknown },
      });
    }
  });

  it('versions the image bucket, turns on Object Lock as configured, aborts incomplete uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 30 } },
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('expires restored files after the configured days and the work area after 30', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({
            ExpirationInDays: 7,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          }),
        ],
      },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({
            ExpirationInDays: 30,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
          }),
        ],
      },
    });
  });

  it('denies every request without TLS on all four buckets', () => {
    const policies = ofType('AWS::S3::BucketPolicy');
    expect(policies).toHaveLength(4);
    for (const [, policy] of policies) {
      const statements = (policy.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('keeps the table with PITR, the customer key, TTL, deletion protection and the catalog GSIs', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'GSI1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
          }),
          Match.objectLike({
            IndexName: 'GSI2',
            KeySchema: [
              { AttributeName: 'gsi2pk', KeyType: 'HASH' },
              { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
            ],
          }),
          // The name-search index (files find): version items by volume and name.
          Match.objectLike({
            IndexName: 'GSI3',
            KeySchema: [
              { AttributeName: 'volumeId', KeyType: 'HASH' },
              { AttributeName: 'name', KeyType: 'RANGE' },
            ],
            Projection: Match.objectLike({ ProjectionType: 'INCLUDE' }),
          }),
        ],
        Replicas: [
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
            SSESpecification: { KMSMasterKeyId: Match.anyValue() },
          }),
        ],
      }),
    });
  });
});

describe('the local stack', () => {
  it('creates the table with the same keys and indexes as the stack', () => {
    const tables = ofType('AWS::DynamoDB::GlobalTable');
    expect(tables).toHaveLength(1);
    const props = tables[0]![1].Properties as {
      KeySchema: unknown;
      GlobalSecondaryIndexes: { IndexName: string; KeySchema: unknown }[];
    };
    const local = productTableDefinition('t');
    expect(local.KeySchema).toEqual(props.KeySchema);
    expect(
      local.GlobalSecondaryIndexes?.map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema })),
    ).toEqual(props.GlobalSecondaryIndexes.map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema })));
  });
});

describe('Lambdas', () => {
  it('run nodejs22.x on arm64 with active tracing, an explicit memory and timeout, and their own log group', () => {
    // Besides the manifest's, CDK's custom-resource provider writes db-1's stored probe at deploy
    // time (config-servers.ts; test/infra/config-servers.test.ts checks it).
    const functions = ofType('AWS::Lambda::Function').filter(([id]) => !id.startsWith('AWS679f53fa'));
    expect(functions).toHaveLength(manifestEntries().length);
    for (const [id, fn] of functions) {
      expect(fn.Properties, id).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
      });
      expect(typeof fn.Properties['MemorySize']).toBe('number');
      expect(typeof fn.Properties['Timeout']).toBe('number');
      expect(fn.Properties['LoggingConfig']).toMatchObject({
        LogGroup: { Ref: expect.stringMatching(/Logs/) as unknown },
      });
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1769,
      Timeout: 900,
      Description: Match.stringLikeRegexp('^Copy one block range'),
    });
    // One per function, one per state machine (backup, plan run, volume restore, workflow run), the
    // API's access log and the deploy-time writer's.
    template.resourcePropertiesCountIs(
      'AWS::Logs::LogGroup',
      { RetentionInDays: 365 },
      manifestEntries().length + 4 + 1 + 1,
    );
  });

  it('use no AWS managed policy', () => {
    for (const [id, role] of ofType('AWS::IAM::Role')) {
      if (id.includes('CloudWatchRole')) continue; // API Gateway's account-level logging role
      expect(role.Properties['ManagedPolicyArns'], id).toBeUndefined();
    }
  });
});

describe('IAM scoping', () => {
  it('snapshots only volumes tagged rbp:replica=true, creating snapshots tagged rbp:managed=true', () => {
    const statements = statementsOf('ReplicaBackupReplicaSnapshotsRole').filter((s) =>
      actions(s).includes('ec2:CreateSnapshot'),
    );
    expect(statements.map((s) => s.Condition)).toEqual([
      { StringEquals: { 'aws:ResourceTag/rbp:replica': 'true' } },
      { StringEquals: { 'aws:RequestTag/rbp:managed': 'true' } },
    ]);
  });

  it('deletes and re-tags only managed snapshots, and tags at creation only through CreateSnapshot', () => {
    for (const role of ['ReplicaBackupReplicaSnapshotsRole', 'ReplicaBackupCleanupBackupRole']) {
      const statements = statementsOf(role);
      const deletes = statements.filter((s) => actions(s).includes('ec2:DeleteSnapshot'));
      expect(
        deletes.map((s) => s.Condition),
        role,
      ).toEqual([{ StringEquals: { 'aws:ResourceTag/rbp:managed': 'true' } }]);
      const tagging = statements.filter((s) => actions(s).includes('ec2:CreateTags'));
      for (const s of tagging) {
        expect(
          s.Condition?.['StringEquals']?.['aws:ResourceTag/rbp:managed'] === 'true' ||
            s.Condition?.['StringEquals']?.['ec2:CreateAction'] === 'CreateSnapshot',
          role,
        ).toBe(true);
      }
    }
    for (const [, policy] of ofType('AWS::IAM::Policy')) {
      for (const s of (policy.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement) {
        if (actions(s).some((a) => a === 'ec2:DeleteSnapshot' || a === 'ec2:CreateSnapshot'))
          expect(s.Condition).toBeDefined();
      }
    }
  });

  it('reads EBS blocks only of managed snapshots, and only in the range worker', () => {
    const ebs = ofType('AWS::IAM::Policy')
      .flatMap(([id, p]) =>
        (p.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement.filter((s) =>
          actions(s).some((a) => a.startsWith('ebs:')),
        ).map((s) => [id, s] as const),
      )
      // The restore worker and the volume-restore steps write restores (test/infra/api-routes.test.ts).
      .filter(
        ([id]) =>
          !id.startsWith('ReplicaBackupRestoreWorkerRole') &&
          !id.startsWith('ReplicaBackupVolumeRestoreStepRole'),
      );
    expect(ebs).toHaveLength(1);
    expect(ebs[0]![0]).toMatch(/^ReplicaBackupCopyRangeRole/);
    expect(ebs[0]![1]).toMatchObject({
      Action: ['ebs:ListSnapshotBlocks', 'ebs:ListChangedBlocks', 'ebs:GetSnapshotBlock'],
      Condition: { StringEquals: { 'aws:ResourceTag/rbp:managed': 'true' } },
    });
  });

  it('limits lock access to LOCK# items and image records to VOLUME# items', () => {
    const lock = statementsOf('ReplicaBackupBackupLockRole').find((s) =>
      actions(s).includes('dynamodb:PutItem'),
    );
    expect(lock?.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['LOCK#*'] } });
    const commit = statementsOf('ReplicaBackupCommitImageRole').find((s) =>
      actions(s).includes('dynamodb:PutItem'),
    );
    expect(commit?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['VOLUME#*'] },
    });
    // The range worker reaches only the account's request budgets (docs/scale.md).
    const budget = statementsOf('ReplicaBackupCopyRangeRole').find((s) =>
      actions(s).includes('dynamodb:PutItem'),
    );
    expect(budget).toMatchObject({
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['BUDGET#*'] } },
    });
    for (const s of statementsOf('ReplicaBackup')) {
      if (actions(s).some((a) => a.startsWith('dynamodb:')))
        expect(s.Condition?.['ForAllValues:StringLike']).toBeDefined();
    }
  });
});

describe('state machine', () => {
  it('is the ASL file with exactly its placeholders substituted, logged at ALL and traced', () => {
    const placeholders = [...readFileSync(BACKUP_ASL_PATH, 'utf8').matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map(
      (m) => m[1]!,
    );
    const [[, machine]] = ofType('AWS::StepFunctions::StateMachine') as [[string, Resource]];
    expect(Object.keys(machine.Properties['DefinitionSubstitutions'] as object).sort()).toEqual(
      [...new Set(placeholders)].sort(),
    );
    expect(machine.Properties).toMatchObject({
      StateMachineType: 'STANDARD',
      StateMachineName: 'InfraTest-backup',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
      DefinitionS3Location: expect.anything() as unknown,
    });
  });

  it('may start its own child executions (Distributed Map) and nothing else', () => {
    const starts = statementsOf('ReplicaBackupBackupStateMachineRole').filter((s) =>
      actions(s).includes('states:StartExecution'),
    );
    expect(starts).toHaveLength(1);
    expect(JSON.stringify(starts[0]!.Resource)).toContain(':stateMachine:InfraTest-backup');
  });
});

describe('schedules', () => {
  it('start no backup: scheduled backups are plans (test/infra/config-plans.test.ts)', () => {
    // The lifecycle's GC, scrub and restore-test schedules start the lifecycle job, the RPO check
    // invokes the plan-run function (test/infra/plan-rpo-monitoring.test.ts); no plans are configured here.
    expect(ofType('AWS::Scheduler::Schedule')).toHaveLength(4);
    expect(
      ofType('AWS::Scheduler::Schedule').filter(([, s]) =>
        JSON.stringify(s.Properties['Target']).includes('BackupStateMachine'),
      ),
    ).toEqual([]);
  });
});

/** The properties of every alarm on the product metric `metricName`. */
function alarmsOn(metricName: string): Record<string, unknown>[] {
  return ofType('AWS::CloudWatch::Alarm')
    .filter(([, a]) => a.Properties['MetricName'] === metricName)
    .map(([, a]) => a.Properties);
}

/** The dimensions the lifecycle job's metrics carry. */
const LIFECYCLE_JOB_DIMENSIONS = [
  { Name: 'service', Value: 'rbp' },
  { Name: 'step', Value: 'lifecycle-job' },
];

/** An alarm to the topic when a count summed over `periodSeconds` reaches 1; missing data is not breaching. */
function countAlarm(dimensions: readonly { Name: string; Value: string }[], periodSeconds: number): unknown {
  return expect.objectContaining({
    Namespace: 'ReplicaBackupProxy',
    Dimensions: dimensions,
    Statistic: 'Sum',
    Period: periodSeconds,
    Threshold: 1,
    EvaluationPeriods: 1,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    TreatMissingData: 'notBreaching',
    AlarmActions: [{ Ref: expect.stringMatching(/OutcomeTopic/) as unknown }],
  });
}

describe('restore tests', () => {
  it('run daily at 07:00 UTC with the configured sample, alarm on RestoreTestFailures and may read catalog records', () => {
    const [schedule] = ofType('AWS::Scheduler::Schedule').filter(([id]) =>
      id.includes('RestoreTestSchedule'),
    );
    expect(schedule![1].Properties).toMatchObject({
      ScheduleExpression: 'cron(0 7 * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
    });
    const target = schedule![1].Properties['Target'] as { Input: string; Arn: unknown };
    expect(JSON.parse(target.Input)).toEqual({ kind: 'restore-test', files: 16, wholeVolume: false });
    expect(JSON.stringify(target.Arn)).toContain('LifecycleJob');
    expect(alarmsOn('RestoreTestFailures')).toEqual([countAlarm(LIFECYCLE_JOB_DIMENSIONS, 86_400)]);
    const catalogReads = ofType('AWS::IAM::Policy')
      .filter(([id]) => id.includes('LifecycleJob'))
      .flatMap(([, r]) => (r.Properties['PolicyDocument'] as { Statement: Statement[] }).Statement)
      .filter((s) => JSON.stringify(s.Condition ?? {}).includes('"CI#*"'));
    expect(catalogReads.map((s) => actions(s).sort())).toContainEqual(['dynamodb:GetItem']);
    for (const s of catalogReads) expect(actions(s)).not.toContain('dynamodb:PutItem');
  });
});

describe('lifecycle jobs', () => {
  it('alarm when a collection or a plan-run expiry ended failed: LifecycleJobsFailed of the lifecycle job, sum over a day, at least 1', () => {
    expect(alarmsOn('LifecycleJobsFailed')).toEqual([countAlarm(LIFECYCLE_JOB_DIMENSIONS, 86_400)]);
  });
});

describe('file catalogs', () => {
  it('alarm when a succeeded backup reports a failed or partial catalog: FileCatalogsDegraded, sum over 5 minutes, at least 1, missing data not breaching', () => {
    expect(alarmsOn('FileCatalogsDegraded')).toEqual([countAlarm([{ Name: 'service', Value: 'rbp' }], 300)]);
  });
});

describe('REST API', () => {
  it('requires IAM authorisation on every method and validates requests', () => {
    const methods = ofType('AWS::ApiGateway::Method');
    expect(methods.length).toBeGreaterThan(0);
    for (const [id, method] of methods) {
      expect(method.Properties['AuthorizationType'], id).toBe('AWS_IAM');
      expect(method.Properties['RequestValidatorId'], id).toBeDefined();
    }
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
  });

  it('throttles, traces and writes access logs on its stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: [
        Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40, LoggingLevel: 'ERROR' }),
      ],
    });
  });
});

describe('notifications and monitoring', () => {
  it('encrypts the outcome topic with the key, requires TLS and subscribes the configured address', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('alarms to the topic on failed, timed-out and aborted executions and on every Lambda error and throttle', () => {
    // The RPO alarms: the per-server ones below, the plans' one in test/infra/plan-rpo-monitoring.test.ts;
    // the file-catalog one under 'file catalogs'; the schedules' dead-letter ones in
    // test/infra/schedule-failures.test.ts, the lifecycle heartbeats in lifecycle-heartbeats.test.ts.
    const alarms = ofType('AWS::CloudWatch::Alarm').filter(
      ([id, a]) =>
        !id.startsWith('ReplicaBackupScheduleDeadLetter') &&
        !id.includes('HeartbeatAlarm') &&
        ![
          'BackupSucceeded',
          'ServersRpoBreached',
          'CollectionFenceHeldSeconds',
          'FileCatalogsDegraded',
        ].includes(a.Properties['MetricName'] as string),
    );
    // The scrub-findings, restore-test and failed-lifecycle-job alarms, three execution alarms, and errors and throttles of every function.
    // ... and failed and timed-out executions of the plan-run, workflow-run and volume-restore machines.
    expect(alarms).toHaveLength(3 + 3 + 2 * 3 + 2 * manifestEntries().length);
    const metrics = alarms.map(
      ([, a]) => `${a.Properties['Namespace'] as string}/${a.Properties['MetricName'] as string}`,
    );
    expect(metrics.filter((m) => m.startsWith('AWS/States/')).sort()).toEqual([
      'AWS/States/ExecutionsAborted',
      ...Array<string>(4).fill('AWS/States/ExecutionsFailed'),
      ...Array<string>(4).fill('AWS/States/ExecutionsTimedOut'),
    ]);
    const machineOf = (id: string) =>
      JSON.stringify(
        ofType('AWS::CloudWatch::Alarm').find(([alarmId]) => alarmId.includes(id))?.[1].Properties[
          'Dimensions'
        ] ?? null,
      );
    for (const [label, machine] of [
      ['PlanRunFailedAlarm', 'PlanRun'],
      ['WorkflowRunTimedOutAlarm', 'WorkflowRun'],
      ['VolumeRestoreFailedAlarm', 'VolumeRestore'],
    ] as const) {
      expect(machineOf(label)).toContain('StateMachineArn');
      expect(machineOf(label)).toMatch(new RegExp(`${machine}[A-Za-z0-9]*StateMachine`));
    }
    // Commit Image's errors alarm is a metric-math one without its waits for a collection
    // (test/infra/collection-fence-alarm.test.ts).
    expect(metrics.filter((m) => m === 'AWS/Lambda/Errors')).toHaveLength(manifestEntries().length - 1);
    expect(metrics.filter((m) => m === 'AWS/Lambda/Throttles')).toHaveLength(manifestEntries().length);
    for (const [, alarm] of alarms) {
      expect(alarm.Properties).toMatchObject({
        Threshold: 1,
        EvaluationPeriods: 1,
        AlarmActions: [{ Ref: expect.stringMatching(/OutcomeTopic/) as unknown }],
      });
    }
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('has one "RPO breached" alarm per server: no BackupSucceeded datapoint of it for a day raises it', () => {
    const rpo = ofType('AWS::CloudWatch::Alarm').filter(
      ([, a]) => a.Properties['MetricName'] === 'BackupSucceeded',
    );
    expect(rpo.map(([, a]) => a.Properties)).toEqual(
      ['web-1', 'db-1'].map(
        (serverId) =>
          expect.objectContaining({
            Namespace: 'ReplicaBackupProxy',
            Dimensions: [
              { Name: 'ServerId', Value: serverId },
              { Name: 'service', Value: 'rbp' },
            ],
            Statistic: 'Sum',
            Period: 300,
            EvaluationPeriods: 288,
            DatapointsToAlarm: 288,
            Threshold: 1,
            ComparisonOperator: 'LessThanThreshold',
            TreatMissingData: 'breaching',
            AlarmDescription: `RPO breached: no successful backup of ${serverId} within 1440 minutes`,
            AlarmActions: [{ Ref: expect.stringMatching(/OutcomeTopic/) as unknown }],
          }) as unknown,
      ),
    );
  });
});
