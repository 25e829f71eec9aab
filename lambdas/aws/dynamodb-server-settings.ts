/**
 * DynamoDB adapter of the configured servers' backup settings (ServerBackupSettingsReader,
 * core/orchestration/server-backup-settings.ts) in the product's table, one item for all of them:
 *
 *   pk SERVER-SETTINGS#  sk CONFIG  { entity, formatVersion, servers (JSON array, serverSettingsJson) }
 *
 * Written at deploy time by lib/constructs/config-servers.ts with this file's item builder (one
 * item, so one custom resource however many servers are configured) and read with one consistent
 * GetItem when a backup of a server starts. The readers' and the writer's IAM policies name the
 * `SERVER-SETTINGS#` leading key (SERVER_SETTINGS_TABLE_KEYS).
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { PermanentError } from '../core/errors.ts';
import {
  serverBackupSettingsSchema,
  serverSettingsJson,
  type ServerBackupSettings,
  type ServerBackupSettingsReader,
} from '../core/orchestration/server-backup-settings.ts';
import { callSdk } from './sdk-errors.ts';

export const SERVER_SETTINGS_PARTITION = 'SERVER-SETTINGS#';
export const SERVER_SETTINGS_SORT_KEY = 'CONFIG';
/** The key a reader's or the deploy-time writer's table policy allows (`dynamodb:LeadingKeys`). */
export const SERVER_SETTINGS_TABLE_KEYS = [SERVER_SETTINGS_PARTITION] as const;
/**
 * Version of the stored item; bumped only for incompatible changes. A server's `volumeIds` came
 * later as an optional field: an item without it reads as no list (no check).
 */
export const SERVER_SETTINGS_FORMAT_VERSION = 1;

const storedServersSchema = z.array(serverBackupSettingsSchema);

export function serverSettingsKey(): { pk: string; sk: string } {
  return { pk: SERVER_SETTINGS_PARTITION, sk: SERVER_SETTINGS_SORT_KEY };
}

/** The item every configured server's settings are stored as (string and number attributes only). */
export function serverSettingsItem(
  settings: readonly ServerBackupSettings[],
): Record<string, string | number> {
  return {
    ...serverSettingsKey(),
    entity: 'server-backup-settings',
    formatVersion: SERVER_SETTINGS_FORMAT_VERSION,
    servers: serverSettingsJson(storedServersSchema.parse(settings)),
  };
}

export class DynamoDbServerBackupSettings implements ServerBackupSettingsReader {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  async get(serverId: string): Promise<ServerBackupSettings | undefined> {
    const answer = await callSdk('GetItem (server backup settings)', { serverId }, () =>
      this.ddb.send(
        new GetCommand({ TableName: this.tableName, Key: serverSettingsKey(), ConsistentRead: true }),
      ),
    );
    if (answer.Item === undefined) return undefined;
    return parseStored(answer.Item).find((s) => s.serverId === serverId);
  }

  /** Writes every server's settings as the deployment does (tests; AWS writes through CloudFormation). */
  async put(settings: readonly ServerBackupSettings[]): Promise<void> {
    await callSdk('PutItem (server backup settings)', {}, () =>
      this.ddb.send(new PutCommand({ TableName: this.tableName, Item: serverSettingsItem(settings) })),
    );
  }
}

function parseStored(item: Record<string, unknown>): ServerBackupSettings[] {
  const servers = item['servers'];
  let json: unknown;
  try {
    json = typeof servers === 'string' ? JSON.parse(servers) : undefined;
  } catch {
    json = undefined;
  }
  const parsed = storedServersSchema.safeParse(json);
  if (item['formatVersion'] !== SERVER_SETTINGS_FORMAT_VERSION || !parsed.success) {
    throw new PermanentError(
      `the stored backup settings of the configured servers (${SERVER_SETTINGS_PARTITION} ${SERVER_SETTINGS_SORT_KEY}) do not parse`,
      {
        ...(parsed.success ? {} : { cause: parsed.error }),
        context: { formatVersion: String(item['formatVersion']) },
      },
    );
  }
  return parsed.data;
}
