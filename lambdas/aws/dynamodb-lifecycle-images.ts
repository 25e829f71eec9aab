/**
 * DynamoDB adapter of the lifecycle's LifecycleImageRecords port (lambdas/core/lifecycle/ports.ts)
 * over the same items as DynamoDbImageRecordStore (docs/image-format.md, "Image records"). Unlike
 * that store it sees records marked `deleting`, because finishing their deletion is its job.
 *
 * The mark is an UpdateItem of the record's `status` attribute, conditional on the record existing;
 * the final delete removes the record and its id guard in one transaction. Both are idempotent.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { NotFoundError } from '../core/errors.ts';
import type { LifecycleImage, LifecycleImageRecords } from '../core/lifecycle/ports.ts';
import {
  IMAGE_STATUS_DELETING,
  imageIdSortKey,
  imagePointerKey,
  volumePartitionKey,
} from './dynamodb-image-records.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { callSdk, conditionalWrite } from './sdk-errors.ts';

/** Which server a replica volume belongs to (EC2 tags), so retention can group a server's images. */
export type ServerOfVolume = (volumeId: string) => string | undefined;

/**
 * The protected volumes and the server of each (undefined when untagged), read once per listing
 * from the replica volumes' tags. listImages covers exactly these volumes.
 */
export type VolumeServers = () => Promise<ReadonlyMap<string, string | undefined>>;

function toLifecycleImage(item: Record<string, unknown>, serverOf: ServerOfVolume): LifecycleImage {
  const volumeId = String(item.volumeId);
  const serverId = serverOf(volumeId);
  const stats = item.stats as Record<string, number> | undefined;
  return {
    volumeId,
    imageId: String(item.imageId),
    createdAt: String(item.createdAt),
    manifestKey: String(item.manifestKey),
    manifestSha256: String(item.manifestSha256),
    volumeSizeBytes: Number(item.volumeSizeBytes),
    status: item.status === IMAGE_STATUS_DELETING ? 'deleting' : 'live',
    ...(item.legalHold === true ? { legalHold: true } : {}),
    ...(typeof item.lockedUntil === 'string' ? { lockedUntil: item.lockedUntil } : {}),
    // The copy it was read from: records written before sources existed are replica images.
    ...(serverId === undefined
      ? {}
      : { serverId, source: item.source === 'primary' ? ('primary' as const) : ('replica' as const) }),
    ...(typeof item.recoveryPointId === 'string' ? { recoveryPointId: item.recoveryPointId } : {}),
    ...(stats === undefined ? {} : { stats }),
  };
}

function byVolumeThenImage(a: LifecycleImage, b: LifecycleImage): number {
  const x = `${a.volumeId}\u0000${a.imageId}`;
  const y = `${b.volumeId}\u0000${b.imageId}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

export class DynamoDbLifecycleImageRecords implements LifecycleImageRecords {
  private readonly pager: DynamoDbPager;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
    private readonly volumeServers: VolumeServers = () => Promise.resolve(new Map()),
  ) {
    this.pager = new DynamoDbPager(ddb);
  }

  private async serverOf(): Promise<ServerOfVolume> {
    const servers = await this.volumeServers();
    return (volumeId) => servers.get(volumeId);
  }

  /**
   * Every image record of every protected volume (live and deleting): one Query per volume, so the
   * API's role needs no Scan and reads only VOLUME# partitions.
   */
  async listImages(): Promise<LifecycleImage[]> {
    const servers = await this.volumeServers();
    const images: LifecycleImage[] = [];
    for (const volumeId of [...servers.keys()].sort()) {
      images.push(...(await this.queryVolume(volumeId, (id) => servers.get(id))));
    }
    return images.sort(byVolumeThenImage);
  }

  /** Every image record of one volume (live and deleting), by image id. One Query per page. */
  async listVolume(volumeId: string): Promise<LifecycleImage[]> {
    return this.queryVolume(volumeId, await this.serverOf());
  }

  private async queryVolume(volumeId: string, serverOf: ServerOfVolume): Promise<LifecycleImage[]> {
    const items = await this.pager.queryAll(
      'Query',
      { volumeId },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': volumePartitionKey(volumeId), ':prefix': 'IMAGE#' },
        ConsistentRead: true,
      },
    );
    return items.map((item) => toLifecycleImage(item, serverOf)).sort(byVolumeThenImage);
  }

  async getImage(volumeId: string, imageId: string): Promise<LifecycleImage> {
    const imageSk = await this.recordSortKey(volumeId, imageId);
    const context = { volumeId, imageId };
    if (imageSk === undefined)
      throw new NotFoundError(`image ${imageId} of ${volumeId} does not exist`, { context });
    const item = await callSdk('GetItem', context, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: volumePartitionKey(volumeId), sk: imageSk },
          ConsistentRead: true,
        }),
      ),
    );
    if (item.Item === undefined)
      throw new NotFoundError(`image ${imageId} of ${volumeId} does not exist`, { context });
    return toLifecycleImage(item.Item, () => undefined);
  }

  async markDeleting(volumeId: string, imageId: string): Promise<'marked' | 'missing'> {
    const imageSk = await this.recordSortKey(volumeId, imageId);
    if (imageSk === undefined) return 'missing';
    const context = { volumeId, imageId };
    const marked = await conditionalWrite('UpdateItem', context, () =>
      this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: volumePartitionKey(volumeId), sk: imageSk },
          UpdateExpression: 'SET #status = :deleting',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':deleting': IMAGE_STATUS_DELETING },
        }),
      ),
    );
    return marked ? 'marked' : 'missing';
  }

  async deleteImage(volumeId: string, imageId: string): Promise<void> {
    const guard = await this.guardOf(volumeId, imageId);
    if (guard === undefined) return;
    const { imageSk, lineageSk } = guard;
    const pk = volumePartitionKey(volumeId);
    await callSdk('TransactWriteItems', { volumeId, imageId }, () =>
      this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName: this.tableName, Key: { pk, sk: imageSk } } },
            { Delete: { TableName: this.tableName, Key: { pk, sk: imageIdSortKey(imageId) } } },
            // The lookup items of dynamodb-image-records.ts (absent on older records: a Delete of
            // a missing item succeeds).
            { Delete: { TableName: this.tableName, Key: imagePointerKey(imageId) } },
            ...(lineageSk === undefined
              ? []
              : [{ Delete: { TableName: this.tableName, Key: { pk, sk: lineageSk } } }]),
          ],
        }),
      ),
    );
  }

  /** The record's sort key from the id guard, or undefined when the image has no guard. */
  private async recordSortKey(volumeId: string, imageId: string): Promise<string | undefined> {
    return (await this.guardOf(volumeId, imageId))?.imageSk;
  }

  /** The id guard's pointers to the record and its lineage entry (absent on older guards). */
  private async guardOf(
    volumeId: string,
    imageId: string,
  ): Promise<{ imageSk: string; lineageSk?: string } | undefined> {
    const guard = await callSdk('GetItem', { volumeId, imageId }, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: volumePartitionKey(volumeId), sk: imageIdSortKey(imageId) },
          ConsistentRead: true,
        }),
      ),
    );
    const imageSk: unknown = guard.Item?.imageSk;
    const lineageSk: unknown = guard.Item?.lineageSk;
    if (typeof imageSk !== 'string') return undefined;
    return typeof lineageSk === 'string' ? { imageSk, lineageSk } : { imageSk };
  }
}
