/**
 * DynamoDB adapter of the RecoveryPointStore port (single table; docs/recovery-points.md):
 *
 *   pk RP#<recoveryPointId>   sk RP                                  the record (one GetItem by id)
 *   pk RP#SERVER#<serverId>   sk AT#<createdAt>#<recoveryPointId>     the same record (a Query lists a server's points in time order)
 *
 * Both are written in one transaction, each conditional on not existing, so a recovery point id can
 * never get a second record and the listing never shows a point that GET cannot find. The record is
 * kept as one JSON attribute (`record`), with `version` beside it.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { RecoveryPoint, RecoveryPointStore } from '../core/recovery-points/recovery-points.ts';
import {
  readRecoveryPoint,
  recoveryPointErrors,
  sameRecoveryPoint,
} from '../core/recovery-points/recovery-points.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { callSdk } from './sdk-errors.ts';

export const RECOVERY_POINT_ENTITY = 'recovery-point';
export const RECOVERY_POINT_SERVER_ENTITY = 'recovery-point-of-server';
/** The key prefix of every item of this store (the IAM `dynamodb:LeadingKeys` pattern is `RP#*`). */
export const RECOVERY_POINT_KEY_PREFIX = 'RP#';

export function recoveryPointKey(recoveryPointId: string): { pk: string; sk: string } {
  return { pk: `${RECOVERY_POINT_KEY_PREFIX}${recoveryPointId}`, sk: 'RP' };
}

export function serverRecoveryPointKey(
  point: Pick<RecoveryPoint, 'serverId' | 'createdAt' | 'recoveryPointId'>,
): {
  pk: string;
  sk: string;
} {
  return {
    pk: serverPartitionKey(point.serverId),
    sk: `AT#${point.createdAt}#${point.recoveryPointId}`,
  };
}

function serverPartitionKey(serverId: string): string {
  return `${RECOVERY_POINT_KEY_PREFIX}SERVER#${serverId}`;
}

interface CancellationShape {
  readonly name?: string;
  readonly CancellationReasons?: readonly { readonly Code?: string }[];
}

function recordOfItem(recoveryPointId: string, item: Record<string, unknown>): RecoveryPoint {
  const text = item.record;
  let raw: unknown;
  try {
    raw = typeof text === 'string' ? JSON.parse(text) : undefined;
  } catch {
    raw = undefined;
  }
  return readRecoveryPoint(recoveryPointId, raw);
}

function pointOfServerItem(item: Record<string, unknown>): RecoveryPoint {
  const sk = String(item.sk);
  return recordOfItem(sk.slice(sk.lastIndexOf('#') + 1), item);
}

export class DynamoDbRecoveryPointStore implements RecoveryPointStore {
  private readonly pager: DynamoDbPager;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {
    this.pager = new DynamoDbPager(ddb);
  }

  private serverQuery(serverId: string, newestFirst: boolean) {
    return {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :at)',
      ExpressionAttributeValues: { ':pk': serverPartitionKey(serverId), ':at': 'AT#' },
      ScanIndexForward: !newestFirst,
      ConsistentRead: true,
    };
  }

  async put(point: RecoveryPoint): Promise<'created' | 'exists'> {
    const context = { recoveryPointId: point.recoveryPointId, serverId: point.serverId };
    const attributes = { version: point.version, record: JSON.stringify(point) };
    const written = await callSdk('TransactWriteItems', context, async () => {
      try {
        await this.ddb.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    ...recoveryPointKey(point.recoveryPointId),
                    entity: RECOVERY_POINT_ENTITY,
                    ...attributes,
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
              {
                Put: {
                  TableName: this.tableName,
                  Item: {
                    ...serverRecoveryPointKey(point),
                    entity: RECOVERY_POINT_SERVER_ENTITY,
                    ...attributes,
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        return true;
      } catch (error) {
        const shape = error as CancellationShape;
        if (
          shape.name === 'TransactionCanceledException' &&
          (shape.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed')
        ) {
          return false;
        }
        throw error;
      }
    });
    if (written) return 'created';
    const existing = await this.get(point.recoveryPointId).catch(() => undefined);
    if (existing !== undefined && sameRecoveryPoint(existing, point)) return 'exists';
    throw recoveryPointErrors.different(point.recoveryPointId);
  }

  async get(recoveryPointId: string): Promise<RecoveryPoint> {
    const found = await callSdk('GetItem', { recoveryPointId }, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: recoveryPointKey(recoveryPointId),
          ConsistentRead: true,
        }),
      ),
    );
    if (found.Item === undefined) throw recoveryPointErrors.missing(recoveryPointId);
    return recordOfItem(recoveryPointId, found.Item);
  }

  async listByServer(serverId: string): Promise<RecoveryPoint[]> {
    const items = await this.pager.queryAll('Query', { serverId }, this.serverQuery(serverId, false));
    return items.map(pointOfServerItem);
  }

  async pageByServer(
    serverId: string,
    page: { readonly limit: number; readonly token?: string | undefined },
  ): Promise<{ readonly points: RecoveryPoint[]; readonly nextToken?: string }> {
    const found = await this.pager.queryPage('Query', { serverId }, this.serverQuery(serverId, true), page);
    const points = found.items.map(pointOfServerItem);
    return found.nextToken === undefined ? { points } : { points, nextToken: found.nextToken };
  }
}
