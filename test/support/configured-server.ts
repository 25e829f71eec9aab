/**
 * The deployed product on the local stack with one replica server whose backup settings are stored
 * as the deployment stores them (lib/constructs/config-servers.ts writes the SERVER-SETTINGS item at
 * deploy time; the local stack has no CloudFormation, so the test puts it with the same adapter),
 * and a look at the backup executions a test starts: their input, error and cause.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll } from 'vitest';
import { DynamoDbServerBackupSettings } from '../../lambdas/aws/dynamodb-server-settings.ts';
import type { ServerBackupSettings } from '../../lambdas/core/orchestration/server-backup-settings.ts';
import { useDeployedProduct, type LocalDeployedProduct } from './local-product.ts';

export interface ConfiguredServerSpec {
  readonly serverId: string;
  /** /etc/hostname of the server's one replica volume (/dev/xvda). */
  readonly hostname: string;
  /** The settings stored before the tests run, given the replica volume's id. */
  readonly settings: (volumeId: string) => readonly ServerBackupSettings[];
}

export interface BackupExecution {
  readonly input: unknown;
  readonly error?: string;
  readonly cause?: string;
}

export interface ConfiguredServer {
  readonly deployment: LocalDeployedProduct;
  readonly sfn: SFNClient;
  /** The server's replica volume (set once the deployment is up). */
  readonly volumeId: string;
  /** Replaces the stored settings of every server. */
  putSettings(settings: readonly ServerBackupSettings[]): Promise<void>;
  /** The backup state machine's execution named by `backupId`. */
  execution(backupId: string): Promise<BackupExecution>;
}

export function useConfiguredServer(name: string, spec: ConfiguredServerSpec): ConfiguredServer {
  const deployment = useDeployedProduct(name, { handlerEnv: { RANGE_WORKERS: '2' } });
  let sfn: SFNClient | undefined;
  let documents: DynamoDBDocumentClient | undefined;
  let volumeId = '';
  const putSettings = (settings: readonly ServerBackupSettings[]) =>
    new DynamoDbServerBackupSettings(documents!, deployment.product.names.table).put(settings);
  beforeAll(async () => {
    sfn = new SFNClient(deployment.local.clientConfig({ maxAttempts: 3 }));
    documents = DynamoDBDocumentClient.from(
      new DynamoDBClient(deployment.local.clientConfig({ maxAttempts: 3 })),
    );
    ({ volumeId } = await deployment.makeReplica(
      'root',
      { 'etc/hostname': `${spec.hostname}\n` },
      { serverId: spec.serverId, device: '/dev/xvda' },
    ));
    await putSettings(spec.settings(volumeId));
  }, 300_000);
  afterAll(() => {
    sfn?.destroy();
    documents?.destroy();
  });
  return {
    deployment,
    get sfn() {
      return sfn!;
    },
    get volumeId() {
      return volumeId;
    },
    putSettings,
    async execution(backupId) {
      const arn = deployment.product.stateMachineArn;
      const described = await sfn!.send(
        new DescribeExecutionCommand({
          executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${backupId}`,
        }),
      );
      return {
        input: JSON.parse(described.input!) as unknown,
        ...(described.error === undefined ? {} : { error: described.error }),
        ...(described.cause === undefined ? {} : { cause: described.cause }),
      };
    },
  };
}
