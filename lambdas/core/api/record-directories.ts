/**
 * The API's volume and image directories over the product's stores: replica volumes (from EC2
 * tags, through a port) joined with their committed image records (ImageRecordStore), and the
 * catalog state of each image (catalog records) for `status`.
 */
import { NotFoundError } from '../errors.ts';
import type { ImageRecord, ImageRecordStore } from '../image/image-records.ts';
import type { ImageDirectory, VolumeDirectory } from './api-ports.ts';
import type { ProtectedVolumes } from './backup-launcher.ts';
import type { Image, Volume } from './schemas.ts';

/** A replica volume as EC2 describes it (tags set by the replication side). */
export interface ReplicaVolume {
  readonly volumeId: string;
  readonly serverId?: string;
  readonly device?: string;
  readonly sizeGib?: number;
}

export interface ReplicaVolumeSource {
  /** Every volume tagged as a replica the product may back up. */
  listReplicaVolumes(): Promise<readonly ReplicaVolume[]>;
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
    volumeSizeBytes: record.volumeSizeBytes,
    formatVersion: record.formatVersion,
    stats: { ...record.stats },
    source: record.source ?? 'replica',
  };
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
    const replicas = [...(await this.deps.replicas.listReplicaVolumes())].sort((a, b) =>
      a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0,
    );
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

  async assertProtected(volumeId: string): Promise<void> {
    const replicas = await this.deps.replicas.listReplicaVolumes();
    if (!replicas.some((replica) => replica.volumeId === volumeId)) throw volumeNotFound(volumeId);
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
