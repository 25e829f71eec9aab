/**
 * The REST API in the synthesised template: every route of the routing table is a method with IAM
 * (SigV4) authorisation and a Lambda proxy integration to the API function, nothing else is
 * exposed, and the API and restore worker functions get what they need and no more.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../lambdas/core/api/routes.ts';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import { roleStatements, type IamStatement } from '../support/iam-statements.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = IamStatement;

let template: Template;
let resources: Record<string, Resource>;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'ApiRoutesTest', {
    config: parseConfig({ servers: [] }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  template = Template.fromStack(stack);
  resources = template.toJSON()['Resources'] as Record<string, Resource>;
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** The full path of an API Gateway resource, from its PathPart chain. */
function pathOf(resourceRef: unknown): string {
  if (typeof resourceRef === 'object' && resourceRef !== null && 'Fn::GetAtt' in resourceRef) return '';
  const id = (resourceRef as { Ref: string }).Ref;
  const resource = resources[id]!;
  const parent = resource.Properties['ParentId'];
  return `${pathOf(parent)}/${resource.Properties['PathPart'] as string}`;
}

const statementsOf = (rolePrefix: string): Statement[] => roleStatements(resources, rolePrefix);

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('REST API routes', () => {
  it('has exactly the routing table’s methods (plus GET /health), each IAM-authorised', () => {
    const methods = ofType('AWS::ApiGateway::Method').map(([, m]) => ({
      route: `${m.Properties['HttpMethod'] as string} ${pathOf(m.Properties['ResourceId'])}`,
      authorization: m.Properties['AuthorizationType'],
    }));
    expect(methods.map((m) => m.route).sort()).toEqual(
      [...ROUTES.map((r) => `${r.method} ${r.path}`), 'GET /health'].sort(),
    );
    for (const method of methods) expect(method.authorization, method.route).toBe('AWS_IAM');
  });

  it('integrates every route with the API function as a Lambda proxy', () => {
    const apiFunction = ofType('AWS::Lambda::Function').find(([, f]) =>
      String(f.Properties['Description']).startsWith('The REST API'),
    )![0];
    for (const [id, method] of ofType('AWS::ApiGateway::Method')) {
      if (pathOf(method.Properties['ResourceId']) === '/health') continue;
      const integration = method.Properties['Integration'] as { Type: string; Uri: unknown };
      expect(integration.Type, id).toBe('AWS_PROXY');
      expect(JSON.stringify(integration.Uri), id).toContain(apiFunction);
    }
  });

  it('gives the API function the state machine, the restore worker and a cursor key from Secrets Manager', () => {
    const apiFunction = ofType('AWS::Lambda::Function').find(([, f]) =>
      String(f.Properties['Description']).startsWith('The REST API'),
    )![1];
    const variables = (apiFunction.Properties['Environment'] as { Variables: Record<string, unknown> })
      .Variables;
    expect(Object.keys(variables)).toEqual(
      expect.arrayContaining([
        'TABLE_NAME',
        'RESTORE_BUCKET',
        'STATE_MACHINE_ARN',
        'RESTORE_FUNCTION_NAME',
        'API_CURSOR_KEY',
      ]),
    );
    expect(JSON.stringify(variables['API_CURSOR_KEY'])).toContain('{{resolve:secretsmanager:');
  });

  it('lets the API start and describe backups of its own state machine only, and invoke only the restore worker', () => {
    const statements = statementsOf('ReplicaBackupApiRole');
    const sfn = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('states:')));
    // StartExecution also on the plan-run state machine (POST /plans/{name}/runs), a statement of its own;
    // StopExecution on backup and volume-restore executions (POST /backups|restores/{id}/cancel);
    // RedriveExecution on backup executions (POST /backups/{id}/resume).
    expect([...new Set(sfn.flatMap(actionsOf))].sort()).toEqual(
      [
        'states:DescribeExecution',
        'states:GetExecutionHistory',
        'states:ListExecutions',
        'states:RedriveExecution',
        'states:StartExecution',
        'states:StopExecution',
      ].sort(),
    );
    const redrive = sfn.filter((s) => actionsOf(s).includes('states:RedriveExecution'));
    expect(redrive.map(actionsOf)).toEqual([['states:RedriveExecution']]);
    expect(JSON.stringify(redrive[0]!.Resource)).toBe(
      JSON.stringify({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':states:eu-west-1:123456789012:execution:ApiRoutesTest-backup:*',
          ],
        ],
      }),
    );
    expect(JSON.stringify(sfn.map((s) => s.Resource))).not.toContain('"*"');
    const invoke = statements.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'));
    expect(JSON.stringify(invoke.map((s) => s.Resource))).toContain('RestoreWorkerFunction');
    // A Scan has no partition key to limit (dynamodb:LeadingKeys is absent from a Scan request), so
    // the Scans (the restore jobs' listing backfill, the image-pointer backfill) are limited to
    // reading keys and what they need instead.
    const dynamo = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('dynamodb:')));
    const scans = dynamo.filter((s) => actionsOf(s).includes('dynamodb:Scan'));
    expect(scans.map((s) => [actionsOf(s), s.Condition])).toEqual([
      [
        ['dynamodb:Scan'],
        {
          StringEquals: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
          'ForAllValues:StringLike': { 'dynamodb:Attributes': ['pk', 'sk', 'job'] },
        },
      ],
      [
        ['dynamodb:Scan'],
        {
          StringEquals: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
          'ForAllValues:StringLike': { 'dynamodb:Attributes': ['pk', 'sk', 'entity', 'volumeId', 'imageId'] },
        },
      ],
    ]);
    for (const s of dynamo.filter((st) => !scans.includes(st))) {
      expect(s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']).toBeDefined();
    }
    // Deletes only its own lock reservation when a start fails (POST /backups), workflows, image
    // records (DELETE /images/{id}, retention), plans, the record of a plan run or a workflow run
    // whose start failed, and the catalog items no live image needs any more (the pruning after
    // DELETE /images/{id} and retention apply), and the recovery point an image deletion takes the
    // image out of (its last image removes it, with its index items): never jobs or settings.
    const deletable = statements
      .filter((st) => actionsOf(st).includes('dynamodb:DeleteItem'))
      .map((s) => s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']);
    expect(deletable).toEqual([
      ['LOCK#*'],
      ['WORKFLOW#*'],
      ['VOLUME#*'],
      ['PLAN#*'],
      ['PLANRUNS#*', 'PLANRUN#*'],
      ['WORKFLOW-RUN#*', 'WORKFLOW-RUNS#*', 'WORKFLOW-START#*'],
      ['FV#*', 'CI#*', 'CA#*'],
      ['RP#*'],
    ]);
  });

  it('lets the API BatchGetItem only image records, catalog tree pages and recovery points', () => {
    // Recovery points narrowed to live images read image records; a subdirectory restore's size is
    // read from the catalog's tree pages (FV#<volume>#T#<hash prefix>) before any job starts; an
    // image deletion reads the recovery points' index items.
    const batchGets = statementsOf('ReplicaBackupApiRole')
      .filter((st) => actionsOf(st).includes('dynamodb:BatchGetItem'))
      .map((s) => [actionsOf(s), s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys']]);
    expect(batchGets).toEqual([
      [['dynamodb:BatchGetItem'], ['VOLUME#*']],
      [['dynamodb:BatchGetItem'], ['FV#*#T#*']],
      [
        [
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:DeleteItem',
          'dynamodb:BatchGetItem',
        ],
        ['RP#*'],
      ],
    ]);
  });

  it('lets the restore worker write snapshots only with its restore tag', () => {
    const ebs = statementsOf('ReplicaBackupRestoreWorkerRole').filter((s) =>
      actionsOf(s).some((a) => a.startsWith('ebs:')),
    );
    expect(ebs.map((s) => [actionsOf(s), s.Condition])).toEqual([
      [['ebs:StartSnapshot'], { StringLike: { 'aws:RequestTag/rbp:restore-id': '*' } }],
      [
        ['ebs:PutSnapshotBlock', 'ebs:CompleteSnapshot'],
        { StringLike: { 'aws:ResourceTag/rbp:restore-id': '*' } },
      ],
    ]);
  });
});
