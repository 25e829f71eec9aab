/**
 * The servers' backup settings of the configuration (`servers[]` in lib/config.ts: `probe`,
 * `syncWait`, `snapshotWait`, `volumeIds`), written at deploy time as one item of the product
 * table, the item lambdas/aws/dynamodb-server-settings.ts reads when a backup of a server starts:
 * a plan task's (SfnPlanBackups) and `POST /backups` with a `serverId`
 * (RecoveryPointService.startServerBackup), which refuse a server whose tagged volumes are not its
 * configured `volumeIds`.
 *
 * Written as the configuration's plans are (config-plans.ts, whose header says why a custom
 * resource making one DynamoDB call): PutItem on create and update, DeleteItem when no server
 * names a setting any more, by the shared writer of config-writer.ts. One item for every server,
 * not one per server, so a deployment adds one resource however many servers it configures
 * (CloudFormation allows 500 per stack); MAX_SERVER_SETTINGS_CHARS bounds its size at synth.
 *
 * Why not environment variables of the reading functions: Lambda allows 4 KB of them per function
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html), about 14 servers with
 * every setting at its longest (292 characters each), and the API and plan-run functions would both
 * carry them.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import {
  SERVER_SETTINGS_TABLE_KEYS,
  serverSettingsItem,
  serverSettingsKey,
} from '../../lambdas/aws/dynamodb-server-settings.ts';
import type { ServerBackupSettings } from '../../lambdas/core/orchestration/server-backup-settings.ts';
import { attributeValues, configWriter, conformProvider, CONFIG_WRITER_MEMORY_MB } from './config-writer.ts';

export interface ConfigServersProps {
  /** The settings to store (lib/config.ts configuredServerSettings); none: no item, no resource. */
  readonly settings: readonly ServerBackupSettings[];
  readonly table: dynamodb.TableV2;
  /** Encrypts the table. */
  readonly key: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class ConfigServers {
  /** The custom resource writing the item; undefined when no server names a setting. */
  readonly resource?: cr.AwsCustomResource;

  constructor(scope: Construct, props: ConfigServersProps) {
    if (props.settings.length === 0) return;
    const { role, logGroup } = configWriter(scope, props);
    const put: cr.AwsSdkCall = {
      service: 'DynamoDB',
      action: 'PutItem',
      parameters: {
        TableName: props.table.tableName,
        Item: attributeValues(serverSettingsItem(props.settings)),
      },
      physicalResourceId: cr.PhysicalResourceId.of('server-backup-settings'),
    };
    this.resource = new cr.AwsCustomResource(scope, 'ConfigServerSettings', {
      onCreate: put,
      onUpdate: put,
      onDelete: {
        service: 'DynamoDB',
        action: 'DeleteItem',
        parameters: { TableName: props.table.tableName, Key: attributeValues(serverSettingsKey()) },
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
          resources: [props.table.tableArn],
          conditions: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...SERVER_SETTINGS_TABLE_KEYS] },
          },
        }),
        new iam.PolicyStatement({
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
      ]),
      role,
      logGroup,
      memorySize: CONFIG_WRITER_MEMORY_MB,
      installLatestAwsSdk: false,
    });
    conformProvider(scope);
  }
}
