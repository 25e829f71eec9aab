/**
 * DynamoDB adapter of the lifecycle's LifecycleImageRecords port (lambdas/core/lifecycle/ports.ts)
 * over the same items as DynamoDbImageRecordStore (docs/image-format.md, "Image records"). Unlike
 * that store it sees records marked `deleting`, because finishing their deletion is its job.
 *
 * The mark is an UpdateItem of the record's `status` attribute, conditional on the record existing
 * and not being under legal hold; a legal hold is an UpdateItem of `legalHold` (with
 * `legalHoldReason`, `legalHoldChangedAt`, `legalHoldChangedBy`) conditional on the record being
 * live. Each condition is evaluated atomically with its write, so a hold and a deletion never both
 * win. The final delete removes the record and its id guard in one transaction. Both are idempotent.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  GetCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { NotFoundError } from '../core/errors.ts';
import type {
  LegalHoldChange,
  LegalHoldWrite,
  LifecycleImage,
  LifecycleImageRecords,
} from '../core/lifecycle/ports.ts';
import { type ProtectedVolume, protectedVolumeServers } from '../core/lifecycle/protected-volumes.ts';
import type { RegisteredServerPage } from '../core/api/server-pages.ts';
import {
  IMAGE_ID_INDEX,
  IMAGE_STATUS_DELETING,
  PROTECTED_VOLUMES_PARTITION,
  PROTECTED_VOLUME_ENTITY,
  REGISTRY_BY_SERVER_KEY,
  imageIdSortKey,
  imagePointerKey,
  registryItemAttributes,
  registryServerSortKey,
  volumePartitionKey,
} from './dynamodb-image-records.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { callSdk, conditionalWrite } from './sdk-errors.ts';

/** Which server a volume belongs to, so retention can group a server's images. */
export type ServerOfVolume = (volumeId: string) => string | undefined;

/**
 * The replica volumes EC2 tags now and the server of each (undefined when untagged), read once
 * per listing. listImages covers these and every registered volume (protected-volumes.ts).
 */
export type VolumeServers = () => Promise<ReadonlyMap<string, string | undefined>>;

export interface LifecycleImageRecordsOptions {
  /**
   * Run the registry's one-time backfill before listing (the lifecycle jobs only: it is a Scan,
   * which API requests never make).
   */
  readonly backfill?: boolean;
  /** Items a backfill Scan page evaluates (tests shrink it to exercise resumption). */
  readonly backfillScanItems?: number;
  /**
   * The server EC2's tag names for one replica volume (undefined when untagged or gone), so that
   * listVolume reads one volume's tag instead of the fleet's; absent: looked up in volumeServers.
   */
  readonly taggedServerOf?: (volumeId: string) => Promise<string | undefined>;
}

/** The registry backfill's progress; "~" sorts after every volume id, and no volume id is "~BACKFILL". */
export const REGISTRY_BACKFILL_MARKER_KEY = { pk: PROTECTED_VOLUMES_PARTITION, sk: '~BACKFILL' };
const REGISTRY_BACKFILL_ENTITY = 'protected-volume-backfill';
/**
 * Items a backfill Scan page evaluates: 1,000 keys of ~100 bytes stay far below the 1 MB page, and
 * progress is saved after each page, so a run cut short loses at most one page of work.
 */
export const REGISTRY_BACKFILL_SCAN_ITEMS = 1000;
/**
 * The registry's index by server (REGISTRY_BY_SERVER_KEY on GSI2): its backfill's progress, the
 * last volume id it went through; "~" sorts after every volume id, and no volume id is "~BY-SERVER".
 */
export const REGISTRY_SERVER_INDEX_MARKER_KEY = { pk: PROTECTED_VOLUMES_PARTITION, sk: '~BY-SERVER' };
const REGISTRY_SERVER_INDEX_ENTITY = 'protected-volume-server-index';
/**
 * Registry items one page of the index backfill reads (a Query): 1,000 items of ~150 bytes stay far
 * below the 1 MB page, and progress is saved after each page.
 */
export const REGISTRY_SERVER_INDEX_PAGE_ITEMS = 1000;
/**
 * Registry items read per server asked for in one Query of the index: a replicated server has a
 * few disks, so a page of servers usually takes one read and at most a few more.
 */
export const REGISTRY_VOLUMES_PER_SERVER_READ = 4;
/** DynamoDB's Limit on one Query read of the index (far below the 1 MB page). */
const REGISTRY_SERVER_READ_MAX_ITEMS = 1000;

/** Partition keys under VOLUME# that are not volumes: the registry itself and the id pointers. */
const NOT_A_VOLUME = ['~', 'BY-ID#'];

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
    private readonly options: LifecycleImageRecordsOptions = {},
  ) {
    this.pager = new DynamoDbPager(ddb);
  }

  /** The registered volumes and the tagged ones, each with its server (protected-volumes.ts). */
  private async protectedVolumes(): Promise<ReadonlyMap<string, string | undefined>> {
    const tagged = await this.volumeServers();
    if (this.options.backfill === true) {
      await this.backfillRegistry(tagged);
      await this.backfillServerIndex();
    }
    return protectedVolumeServers(await this.registeredVolumes(), tagged);
  }

  /**
   * Files every registry item under its server on GSI2 (REGISTRY_BY_SERVER_KEY, sort key from its
   * `serverId`, else its volume id), once per table: the registry's partition a page at a time
   * (Query), an UpdateItem of each item whose index keys are missing or name another server,
   * conditional on its server being the one read (a commit in between files it itself), and the
   * position saved after every page in a marker. Commits file the items they write; this covers
   * those written before. Afterwards it costs the marker's GetItem.
   */
  async backfillServerIndex(): Promise<{ readonly indexed: number }> {
    const context = { pass: 'protected-volume-server-index' };
    const marker = await this.serverIndexMarker();
    if (marker?.done === true) return { indexed: 0 };
    let after = typeof marker?.next === 'string' && marker.next !== '' ? marker.next : undefined;
    let indexed = 0;
    for (;;) {
      const from = after;
      const page = await callSdk('Query (registry server index backfill)', context, () =>
        this.ddb.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: from === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
            ExpressionAttributeValues: {
              ':pk': PROTECTED_VOLUMES_PARTITION,
              ...(from === undefined ? {} : { ':after': from }),
            },
            Limit: REGISTRY_SERVER_INDEX_PAGE_ITEMS,
            ConsistentRead: true,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        if (await this.fileUnderServer(item)) indexed += 1;
      }
      const last: unknown = page.LastEvaluatedKey?.['sk'];
      after = typeof last === 'string' ? last : undefined;
      await callSdk('UpdateItem (registry server index backfill)', context, () =>
        this.ddb.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: REGISTRY_SERVER_INDEX_MARKER_KEY,
            UpdateExpression: 'SET #entity = :entity, #done = :done, #next = :next',
            ExpressionAttributeNames: { '#entity': 'entity', '#done': 'done', '#next': 'next' },
            ExpressionAttributeValues: {
              ':entity': REGISTRY_SERVER_INDEX_ENTITY,
              ':done': after === undefined,
              ':next': after ?? '',
            },
          }),
        ),
      );
      if (after === undefined) return { indexed };
    }
  }

  private async serverIndexMarker(): Promise<Record<string, unknown> | undefined> {
    const marker = await callSdk('GetItem (registry server index)', {}, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: REGISTRY_SERVER_INDEX_MARKER_KEY,
          ConsistentRead: true,
        }),
      ),
    );
    return marker.Item;
  }

  /**
   * At most `limit` registered servers whose names sort after `after`, each with every volume the
   * registry files under it, from the index by server (GSI2): the marker's GetItem, then Queries
   * of `limit` × REGISTRY_VOLUMES_PER_SERVER_READ items until the server after the last one shows
   * (so the last is whole) or the index ends. Undefined while the index backfill has not finished
   * (a table from before the index): the caller reads the whole registry instead. A GSI is read
   * eventually consistent: a volume registered a moment ago may show on the next read.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Reads
   */
  async pageRegisteredServers(page: {
    readonly after?: string;
    readonly limit: number;
  }): Promise<RegisteredServerPage | undefined> {
    if ((await this.serverIndexMarker())?.done !== true) return undefined;
    const servers: { name: string; volumeIds: string[] }[] = [];
    let start: Record<string, unknown> | undefined;
    // Every key of a name sorts below NUL + U+FFFF after it (volume ids are ASCII).
    const from = page.after === undefined ? undefined : `${registryServerSortKey(page.after, '')}\uffff`;
    for (;;) {
      const startKey = start;
      const answer = await callSdk('Query (registered servers)', { after: page.after ?? '' }, () =>
        this.ddb.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: IMAGE_ID_INDEX,
            KeyConditionExpression: from === undefined ? 'gsi2pk = :key' : 'gsi2pk = :key AND gsi2sk > :from',
            ExpressionAttributeValues: {
              ':key': REGISTRY_BY_SERVER_KEY,
              ...(from === undefined ? {} : { ':from': from }),
            },
            Limit: Math.min(REGISTRY_SERVER_READ_MAX_ITEMS, page.limit * REGISTRY_VOLUMES_PER_SERVER_READ),
            ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
          }),
        ),
      );
      for (const item of answer.Items ?? []) {
        if (item.entity !== PROTECTED_VOLUME_ENTITY || typeof item.gsi2sk !== 'string') continue;
        const name = item.gsi2sk.slice(0, item.gsi2sk.lastIndexOf('\u0000'));
        const volumeId = String(item.volumeId);
        const current = servers.at(-1);
        if (current?.name === name) current.volumeIds.push(volumeId);
        else if (servers.length === page.limit) return { servers, more: true };
        else servers.push({ name, volumeIds: [volumeId] });
      }
      start = answer.LastEvaluatedKey;
      if (start === undefined) return { servers, more: false };
    }
  }

  /** The registry's volumes: one Query of its partition (a page holds thousands). */
  async registeredVolumes(): Promise<ProtectedVolume[]> {
    const items = await this.pager.queryAll(
      'Query (protected volumes)',
      {},
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': PROTECTED_VOLUMES_PARTITION },
        ConsistentRead: true,
      },
    );
    return items.flatMap((item) =>
      item.entity !== PROTECTED_VOLUME_ENTITY || typeof item.volumeId !== 'string'
        ? []
        : [
            {
              volumeId: item.volumeId,
              ...(typeof item.serverId === 'string' ? { serverId: item.serverId } : {}),
            },
          ],
    );
  }

  /**
   * One page of the registry: at most `limit` items after volume id `after` (one Query with Limit;
   * the backfill marker, which sorts after every volume id, is left out of the answer), and the
   * last volume id read when more may follow.
   */
  async pageRegisteredVolumes(page: {
    readonly limit: number;
    readonly after?: string;
  }): Promise<{ readonly volumes: ProtectedVolume[]; readonly last?: string }> {
    const answer = await callSdk('Query (protected volumes page)', { after: page.after ?? '' }, () =>
      this.ddb.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: page.after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
          ExpressionAttributeValues: {
            ':pk': PROTECTED_VOLUMES_PARTITION,
            ...(page.after === undefined ? {} : { ':after': page.after }),
          },
          Limit: page.limit,
          ConsistentRead: true,
        }),
      ),
    );
    const volumes = (answer.Items ?? []).flatMap((item) =>
      item.entity !== PROTECTED_VOLUME_ENTITY || typeof item.volumeId !== 'string'
        ? []
        : [
            {
              volumeId: item.volumeId,
              ...(typeof item.serverId === 'string' ? { serverId: item.serverId } : {}),
            },
          ],
    );
    const last: unknown = answer.LastEvaluatedKey?.['sk'];
    return typeof last === 'string' ? { volumes, last } : { volumes };
  }

  /**
   * Registers every volume that has image records, once per table: a Scan of keys only (the
   * lifecycle role may read no other attribute in a Scan), one UpdateItem per volume found, the
   * position saved after every page in a marker, so a run cut short resumes where it stopped. A
   * volume's server comes from `tagged` when it is still tagged, and is never overwritten (a
   * commit's is newer). Afterwards it costs the marker's GetItem.
   * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html
   */
  async backfillRegistry(
    tagged: ReadonlyMap<string, string | undefined>,
  ): Promise<{ readonly registered: number }> {
    const context = { pass: 'protected-volume-backfill' };
    const marker = await callSdk('GetItem (registry backfill)', context, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: REGISTRY_BACKFILL_MARKER_KEY,
          ConsistentRead: true,
        }),
      ),
    );
    if (marker.Item?.done === true) return { registered: 0 };
    let next: Record<string, unknown> | undefined =
      typeof marker.Item?.next === 'string'
        ? (JSON.parse(marker.Item.next) as Record<string, unknown>)
        : undefined;
    let registered = 0;
    do {
      const startKey = next;
      const page = await callSdk('Scan (registry backfill)', context, () =>
        this.ddb.send(
          new ScanCommand({
            TableName: this.tableName,
            ProjectionExpression: 'pk, sk',
            FilterExpression: 'begins_with(pk, :volume) AND begins_with(sk, :image)',
            ExpressionAttributeValues: { ':volume': volumePartitionKey(''), ':image': 'IMAGE#' },
            Limit: this.options.backfillScanItems ?? REGISTRY_BACKFILL_SCAN_ITEMS,
            ConsistentRead: true,
            ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
          }),
        ),
      );
      const volumes = new Set<string>();
      for (const item of page.Items ?? []) {
        const volumeId = String(item.pk).slice(volumePartitionKey('').length);
        if (!NOT_A_VOLUME.some((prefix) => volumeId.startsWith(prefix))) volumes.add(volumeId);
      }
      for (const volumeId of [...volumes].sort()) {
        await this.register(volumeId, tagged.get(volumeId));
        registered += 1;
      }
      next = page.LastEvaluatedKey;
      const done = next === undefined;
      await callSdk('UpdateItem (registry backfill)', context, () =>
        this.ddb.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: REGISTRY_BACKFILL_MARKER_KEY,
            UpdateExpression: 'SET #entity = :entity, #done = :done, #next = :next',
            ExpressionAttributeNames: { '#entity': 'entity', '#done': 'done', '#next': 'next' },
            ExpressionAttributeValues: {
              ':entity': REGISTRY_BACKFILL_ENTITY,
              ':done': done,
              ':next': done ? '' : JSON.stringify(next),
            },
          }),
        ),
      );
    } while (next !== undefined);
    return { registered };
  }

  /**
   * One registry item (UpdateItem: the lifecycle role writes VOLUME# items only by update), filed
   * on GSI2 like every registry item (REGISTRY_BY_SERVER_KEY): its index keys are set in the same
   * update when it has none (under `serverId`, else its volume id), so an item this backfill
   * writes after the server index backfill has finished still shows in GET /servers' pages. An
   * item that keeps another server than `serverId` (if_not_exists: a commit's is newer) and was
   * filed under the wrong one is filed again under its own (fileUnderServer).
   */
  private async register(volumeId: string, serverId: string | undefined): Promise<void> {
    const written = await callSdk('UpdateItem (protected volume)', { volumeId }, () =>
      this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: PROTECTED_VOLUMES_PARTITION, sk: volumeId },
          UpdateExpression: `SET #entity = :entity, #volumeId = :volumeId, #gpk = :gpk, #gsk = if_not_exists(#gsk, :gsk)${
            serverId === undefined ? '' : ', #serverId = if_not_exists(#serverId, :serverId)'
          }`,
          ...registryItemAttributes(volumeId, serverId),
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    if (written.Attributes !== undefined) await this.fileUnderServer(written.Attributes);
  }

  /**
   * Files one registry item on GSI2 under its server (else its volume id) when its index keys are
   * missing or name another; conditional on its server being the one read (a commit in between
   * files it itself). Answers whether it wrote.
   */
  private async fileUnderServer(item: Record<string, unknown>): Promise<boolean> {
    if (item.entity !== PROTECTED_VOLUME_ENTITY || typeof item.volumeId !== 'string') return false;
    const volumeId = item.volumeId;
    const serverId = typeof item.serverId === 'string' ? item.serverId : undefined;
    const sortKey = registryServerSortKey(serverId ?? volumeId, volumeId);
    if (item.gsi2pk === REGISTRY_BY_SERVER_KEY && item.gsi2sk === sortKey) return false;
    await conditionalWrite('UpdateItem (registry server index)', { volumeId }, () =>
      this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: PROTECTED_VOLUMES_PARTITION, sk: volumeId },
          UpdateExpression: 'SET #gpk = :gpk, #gsk = :gsk',
          ConditionExpression:
            serverId === undefined
              ? 'attribute_exists(pk) AND attribute_not_exists(#serverId)'
              : 'attribute_exists(pk) AND #serverId = :serverId',
          ExpressionAttributeNames: { '#gpk': 'gsi2pk', '#gsk': 'gsi2sk', '#serverId': 'serverId' },
          ExpressionAttributeValues: {
            ':gpk': REGISTRY_BY_SERVER_KEY,
            ':gsk': sortKey,
            ...(serverId === undefined ? {} : { ':serverId': serverId }),
          },
        }),
      ),
    );
    return true;
  }

  /**
   * Every image record of every protected volume (live and deleting): the registry's volumes and
   * the tagged ones, one Query per volume, so the API's role needs no Scan and reads only VOLUME#
   * partitions. A volume stays listed after its replica volume is gone from EC2.
   */
  async listImages(): Promise<LifecycleImage[]> {
    const servers = await this.protectedVolumes();
    const images: LifecycleImage[] = [];
    for (const volumeId of [...servers.keys()].sort()) {
      images.push(...(await this.queryVolume(volumeId, (id) => servers.get(id))));
    }
    return images.sort(byVolumeThenImage);
  }

  /**
   * Every image record of one volume (live and deleting), by image id: one Query per page of the
   * volume's partition, its registry item (one GetItem) and its tag; its server is the tag's, else
   * the registry's, as listImages has it (protectedVolumeServers).
   */
  async listVolume(volumeId: string): Promise<LifecycleImage[]> {
    const tagged =
      this.options.taggedServerOf === undefined
        ? (await this.volumeServers()).get(volumeId)
        : await this.options.taggedServerOf(volumeId);
    const serverId = tagged ?? (await this.registeredServerOf(volumeId));
    return this.queryVolume(volumeId, () => serverId);
  }

  /**
   * Every image record of the volumes whose server (tag, else registry) is `serverId`: the
   * registry's Query and one Query per page of each of those volumes, none of another server's.
   */
  async listServer(serverId: string): Promise<LifecycleImage[]> {
    const servers = await this.protectedVolumes();
    const images: LifecycleImage[] = [];
    for (const [volumeId, server] of servers) {
      if (server === serverId) images.push(...(await this.queryVolume(volumeId, () => server)));
    }
    return images.sort(byVolumeThenImage);
  }

  /** The server the volume's registry item names (one GetItem); undefined when it has none. */
  private async registeredServerOf(volumeId: string): Promise<string | undefined> {
    const item = await callSdk('GetItem (protected volume)', { volumeId }, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: PROTECTED_VOLUMES_PARTITION, sk: volumeId },
          ConsistentRead: true,
        }),
      ),
    );
    return item.Item?.entity === PROTECTED_VOLUME_ENTITY && typeof item.Item.serverId === 'string'
      ? item.Item.serverId
      : undefined;
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

  async markDeleting(volumeId: string, imageId: string): Promise<'marked' | 'missing' | 'held'> {
    const imageSk = await this.recordSortKey(volumeId, imageId);
    if (imageSk === undefined) return 'missing';
    const context = { volumeId, imageId };
    const key = { pk: volumePartitionKey(volumeId), sk: imageSk };
    // DynamoDB evaluates the condition and applies the update as one atomic step, so a hold
    // written after the caller read the record refuses the mark:
    // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
    // A record already deleting is marked again (idempotent) whatever it says.
    const marked = await conditionalWrite('UpdateItem', context, () =>
      this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET #status = :deleting',
          ConditionExpression:
            'attribute_exists(pk) AND (#status = :deleting OR attribute_not_exists(#legalHold) OR #legalHold <> :held)',
          ExpressionAttributeNames: { '#status': 'status', '#legalHold': 'legalHold' },
          ExpressionAttributeValues: { ':deleting': IMAGE_STATUS_DELETING, ':held': true },
        }),
      ),
    );
    if (marked) return 'marked';
    // Refused: either the record is gone or it was under legal hold when DynamoDB evaluated it.
    return (await this.recordExists(key, context)) ? 'held' : 'missing';
  }

  async setLegalHold(volumeId: string, imageId: string, change: LegalHoldChange): Promise<LegalHoldWrite> {
    const imageSk = await this.recordSortKey(volumeId, imageId);
    if (imageSk === undefined) return 'missing';
    const context = { volumeId, imageId };
    const key = { pk: volumePartitionKey(volumeId), sk: imageSk };
    const reason = change.legalHold ? change.reason : undefined;
    // Conditional on the record being live, evaluated atomically with the write: a hold is never
    // written on a record whose deletion has begun (markDeleting's own condition covers the other
    // order). A record without `status` is live (docs/image-format.md).
    const written = await conditionalWrite('UpdateItem', context, () =>
      this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `SET #legalHold = :held, #changedAt = :changedAt, #changedBy = :changedBy${
            reason === undefined ? ' REMOVE #reason' : ', #reason = :reason'
          }`,
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(#status) OR #status <> :deleting)',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#legalHold': 'legalHold',
            '#changedAt': 'legalHoldChangedAt',
            '#changedBy': 'legalHoldChangedBy',
            '#reason': 'legalHoldReason',
          },
          ExpressionAttributeValues: {
            ':deleting': IMAGE_STATUS_DELETING,
            ':held': change.legalHold,
            ':changedAt': change.changedAt,
            ':changedBy': change.changedBy,
            ...(reason === undefined ? {} : { ':reason': reason }),
          },
        }),
      ),
    );
    if (written) return 'changed';
    return (await this.recordExists(key, context)) ? 'deleting' : 'missing';
  }

  /** Whether the item at `key` exists (a strongly consistent GetItem of its key only). */
  private async recordExists(
    key: { pk: string; sk: string },
    context: { volumeId: string; imageId: string },
  ): Promise<boolean> {
    const item = await callSdk('GetItem', context, () =>
      this.ddb.send(
        new GetCommand({
          TableName: this.tableName,
          Key: key,
          ConsistentRead: true,
          ProjectionExpression: 'pk',
        }),
      ),
    );
    return item.Item !== undefined;
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
