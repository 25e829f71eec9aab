/**
 * The API's volume and image directories over the product's stores: replica volumes (from EC2
 * tags, through a port) joined with their committed image records (ImageRecordStore), and the
 * catalog state of each image (catalog records) for `status`.
 */
import { NotFoundError, ValidationError } from '../errors.ts';
import type { ImageRecord, ImageRecordStore } from '../image/image-records.ts';
import type {
  ImageDirectory,
  ImageListFilter,
  PageRequest,
  StorePage,
  VolumeDirectory,
} from './api-ports.ts';
import type { ProtectedVolumes } from './backup-launcher.ts';
import type { Image, Volume } from './schemas.ts';
import { positionOf, tokenOf } from './source-position.ts';

/**
 * The state of a protected volume whose replica EC2 no longer has (deleted when AWS Elastic
 * Disaster Recovery disconnected its source server, or no longer tagged `rbp:replica=true`): its
 * backups stay, reachable by image id, recovery point and file search.
 */
export const REPLICA_GONE = 'REPLICA GONE' as const;

/** A replica volume as EC2 describes it (tags set by the replication side). */
export interface ReplicaVolume {
  readonly volumeId: string;
  readonly serverId?: string;
  readonly device?: string;
  readonly sizeGib?: number;
  /** Present only on a registered volume EC2 no longer has (then serverId is the registry's). */
  readonly state?: typeof REPLICA_GONE;
}

/** One page of replica volumes in the source's own order (EC2's DescribeVolumes order). */
export interface ReplicaVolumeSourcePage {
  readonly volumes: readonly ReplicaVolume[];
  /** Where the next page starts; absent after the last page. */
  readonly nextToken?: string;
}

export interface ReplicaVolumeSource {
  /** Every volume tagged as a replica the product may back up. */
  listReplicaVolumes(): Promise<readonly ReplicaVolume[]>;
  /**
   * At most `limit` (5–500) replica volumes from `token` (the first page without one). Absent:
   * `GET /volumes` pages the whole list in memory.
   */
  pageReplicaVolumes?(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumeSourcePage>;
  /**
   * The replica volume `volumeId`, undefined when no replica volume has that id. Absent: looked
   * up in the whole list.
   */
  findReplicaVolume?(volumeId: string): Promise<ReplicaVolume | undefined>;
  /**
   * The protected-volume registry's volumes (lifecycle/protected-volumes.ts) that EC2 no longer
   * has as replicas, each with state REPLICA_GONE, one registry page of at most `limit` volumes at
   * a time in volume-id order (a page can hold fewer, even none, with a next token). Absent:
   * `GET /volumes` lists EC2's replica volumes only.
   */
  pageGoneVolumes?(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumeSourcePage>;
}

/**
 * Source pages read at most for one page of volumes. A source page can hold fewer volumes than
 * asked (EC2 applies filters to a page it has cut), even none with a next token: the answer then
 * holds fewer volumes than asked, with a cursor, and a page never costs more than this many reads.
 */
export const MAX_SOURCE_PAGES_PER_PAGE = 3;

function byVolumeId<T extends { readonly volumeId: string }>(volumes: readonly T[]): T[] {
  return [...volumes].sort((a, b) => (a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0));
}

/** Whether an image's catalog is complete enough to search (complete or partial). */
export type CatalogState = (record: ImageRecord) => Promise<boolean>;

export function imageOf(record: ImageRecord, cataloged: boolean): Image {
  return {
    imageId: record.imageId,
    volumeId: record.volumeId,
    createdAt: record.createdAt,
    kind: record.kind,
    status: cataloged ? 'cataloged' : 'committed',
    snapshotId: record.snapshotId,
    ...(record.parentImageId === undefined ? {} : { parentImageId: record.parentImageId }),
    ...(record.fullReadReason === undefined ? {} : { fullReadReason: record.fullReadReason }),
    volumeSizeBytes: record.volumeSizeBytes,
    formatVersion: record.formatVersion,
    stats: { ...record.stats },
    source: record.source ?? 'replica',
    ...(record.legalHold === true
      ? {
          legalHold: true as const,
          ...(record.legalHoldReason === undefined ? {} : { legalHoldReason: record.legalHoldReason }),
        }
      : {}),
  };
}

/**
 * One page cut from the source's pages (see source-position.ts for the token). Each source page
 * is taken by volume id (so a page that stops inside one resumes at the same place); the answer is
 * ordered by volume id, and across pages volumes follow the source's order. After the source's
 * last page come the registered volumes it no longer has (`gone`, in registry pages), so every
 * protected volume is listed once; the registry pages count against MAX_SOURCE_PAGES_PER_PAGE.
 */
async function pageOfSourcePages(
  read: NonNullable<ReplicaVolumeSource['pageReplicaVolumes']>,
  gone: ReplicaVolumeSource['pageGoneVolumes'],
  page: PageRequest,
): Promise<StorePage<ReplicaVolume>> {
  let position = positionOf(page.pageToken, page.limit);
  if (position.g === 1 && gone === undefined) {
    throw new ValidationError('invalid cursor: unreadable position', { context: { field: 'cursor' } });
  }
  const replicas: ReplicaVolume[] = [];
  for (let round = 1; ; round += 1) {
    const found = await (position.g === 1 ? gone! : read)({
      limit: position.n,
      ...(position.t === undefined ? {} : { token: position.t }),
    });
    const rest = byVolumeId(found.volumes).slice(position.s);
    const taken = rest.slice(0, page.limit - replicas.length);
    replicas.push(...taken);
    if (taken.length < rest.length) {
      return {
        items: byVolumeId(replicas),
        nextToken: tokenOf({ ...position, s: position.s + taken.length }),
      };
    }
    if (found.nextToken !== undefined) {
      position = { ...(position.g === 1 ? { g: 1 as const } : {}), t: found.nextToken, s: 0, n: position.n };
    } else if (position.g === 1 || gone === undefined) {
      return { items: byVolumeId(replicas) };
    } else {
      position = { g: 1, s: 0, n: position.n };
    }
    if (replicas.length >= page.limit || round >= MAX_SOURCE_PAGES_PER_PAGE) {
      return { items: byVolumeId(replicas), nextToken: tokenOf(position) };
    }
  }
}

export class RecordDirectories implements VolumeDirectory, ImageDirectory, ProtectedVolumes {
  constructor(
    private readonly deps: {
      readonly replicas: ReplicaVolumeSource;
      readonly records: ImageRecordStore;
      readonly cataloged: CatalogState;
    },
  ) {}

  async listVolumes(): Promise<readonly Volume[]> {
    const replicas = byVolumeId(await this.deps.replicas.listReplicaVolumes());
    const volumes: Volume[] = [];
    for (const replica of replicas) {
      const records = await this.deps.records.listImageRecords(replica.volumeId);
      const latest = records.at(-1);
      volumes.push({
        ...replica,
        imageCount: records.length,
        ...(latest === undefined ? {} : { latestImageId: latest.imageId, latestImageAt: latest.createdAt }),
      });
    }
    return volumes;
  }

  async pageVolumes(page: PageRequest): Promise<StorePage<Volume>> {
    const source = this.deps.replicas;
    const read = source.pageReplicaVolumes?.bind(source);
    const found =
      read === undefined
        ? await this.pageOfWholeList(page)
        : await pageOfSourcePages(read, source.pageGoneVolumes?.bind(source), page);
    return { ...found, items: await this.withImages(found.items) };
  }

  /** One page of the whole list by volume id; the token is the page's last volume id. */
  private async pageOfWholeList(page: PageRequest): Promise<StorePage<ReplicaVolume>> {
    const after = page.pageToken;
    const replicas = byVolumeId(await this.deps.replicas.listReplicaVolumes()).filter(
      (replica) => after === undefined || replica.volumeId > after,
    );
    const items = replicas.slice(0, page.limit);
    return replicas.length > page.limit ? { items, nextToken: items.at(-1)!.volumeId } : { items };
  }

  /** The page's volumes with their image count and newest image. */
  private async withImages(replicas: readonly ReplicaVolume[]): Promise<Volume[]> {
    const volumes: Volume[] = [];
    for (const replica of replicas) {
      // Two requests per volume whatever its number of images: a count and the newest record.
      const imageCount = await this.deps.records.countImageRecords(replica.volumeId);
      const latest = imageCount === 0 ? undefined : await this.newestRecord(replica.volumeId);
      volumes.push({
        ...replica,
        imageCount,
        ...(latest === undefined ? {} : { latestImageId: latest.imageId, latestImageAt: latest.createdAt }),
      });
    }
    return volumes;
  }

  private async newestRecord(volumeId: string): Promise<ImageRecord | undefined> {
    let token: string | undefined;
    do {
      const page = await this.deps.records.pageImageRecords(volumeId, { limit: 1, token, newestFirst: true });
      if (page.records[0] !== undefined) return page.records[0];
      token = page.nextToken;
    } while (token !== undefined);
    return undefined;
  }

  async pageImages(volumeId: string, filter: ImageListFilter, page: PageRequest): Promise<StorePage<Image>> {
    const images: Image[] = [];
    let token = page.pageToken;
    // Each request asks for no more than the page lacks, so the store's token is always where the
    // next page starts, also when the status (from the catalog) leaves records out.
    do {
      const found = await this.deps.records.pageImageRecords(volumeId, {
        limit: page.limit - images.length,
        token,
        newestFirst: true,
        from: filter.from,
        to: filter.to,
        kind: filter.kind,
      });
      for (const record of found.records) {
        const image = imageOf(record, await this.deps.cataloged(record));
        if (filter.status === undefined || image.status === filter.status) images.push(image);
      }
      token = found.nextToken;
    } while (token !== undefined && images.length < page.limit);
    if (images.length === 0 && page.pageToken === undefined) {
      const any = await this.deps.records.pageImageRecords(volumeId, { limit: 1 });
      if (any.records.length === 0 && any.nextToken === undefined) await this.assertProtected(volumeId);
    }
    return token === undefined ? { items: images } : { items: images, nextToken: token };
  }

  async serverOfVolume(volumeId: string): Promise<string | undefined> {
    const replica = await this.replicaVolume(volumeId);
    return replica === undefined ? undefined : (replica.serverId ?? replica.volumeId);
  }

  async assertProtected(volumeId: string): Promise<void> {
    if ((await this.replicaVolume(volumeId)) === undefined) throw volumeNotFound(volumeId);
  }

  /** One replica volume: one lookup when the source has it, else from the whole list. */
  private async replicaVolume(volumeId: string): Promise<ReplicaVolume | undefined> {
    const source = this.deps.replicas;
    if (source.findReplicaVolume !== undefined) return source.findReplicaVolume(volumeId);
    return (await source.listReplicaVolumes()).find((replica) => replica.volumeId === volumeId);
  }

  async listImages(volumeId: string): Promise<readonly Image[]> {
    const records = await this.deps.records.listImageRecords(volumeId);
    if (records.length === 0) await this.assertProtected(volumeId);
    return Promise.all(records.map(async (record) => imageOf(record, await this.deps.cataloged(record))));
  }

  async getImage(imageId: string): Promise<Image> {
    // One key lookup by image id (GSI2 in DynamoDB): constant in the number of volumes, and an
    // image of a retired or replaced replica volume stays reachable.
    const found = await this.deps.records.findImageRecord(imageId);
    if (found !== undefined) return imageOf(found, await this.deps.cataloged(found));
    throw new NotFoundError(`image ${imageId} does not exist`, { context: { imageId } });
  }
}

export function volumeNotFound(volumeId: string): NotFoundError {
  return new NotFoundError(`volume ${volumeId} is not a protected replica volume`, { context: { volumeId } });
}
