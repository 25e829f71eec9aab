/**
 * The restore bucket on S3: streamed uploads (lib-storage's Upload: a single PutObject for small
 * bodies, multipart with a bounded number of parts in memory for large ones), multipart uploads
 * that a later invocation resumes (`parts`), and presigned GETs.
 */
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { NotFoundError, ValidationError } from '../core/errors.ts';
import {
  RESTORE_URL_MAX_SECONDS,
  type RestoreObjectStore,
  type ResumableUploads,
  type UploadOptions,
} from '../core/file-restore/restore-ports.ts';
import { callSdk, translateSdkError } from './sdk-errors.ts';

/** Multipart part size: 8 MiB parts reach S3's 10,000-part limit only at 78 GiB; 4 in flight = 32 MiB of memory. */
export const RESTORE_PART_BYTES = 8 * 1024 * 1024;
/** Parts uploaded in parallel. */
export const RESTORE_PART_CONCURRENCY = 4;
/** Above 10,000 × 8 MiB the part size grows: lib-storage needs to know, so very large bodies get bigger parts. */
const MAX_PARTS = 10_000;
/** ListParts returns at most 1,000 parts a page (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html). */
const LIST_PARTS_PAGE = 1_000;

export class S3RestoreObjectStore implements RestoreObjectStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly options: { readonly partBytes?: number; readonly expectedMaxBytes?: number } = {},
  ) {
    this.parts = this.resumableUploads();
  }

  readonly parts: ResumableUploads;

  private resumableUploads(): ResumableUploads {
    return {
      partBytes: this.options.partBytes ?? RESTORE_PART_BYTES,
      start: async (key, options) => {
        const created = await callSdk('CreateMultipartUpload (restore)', { key }, () =>
          this.client.send(
            new CreateMultipartUploadCommand({
              Bucket: this.bucket,
              Key: key,
              ContentType: options.contentType,
            }),
          ),
        );
        return created.UploadId!;
      },
      putPart: async (key, uploadId, partNumber, body) => {
        await callSdk('UploadPart (restore)', { key, partNumber }, () =>
          this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: body,
            }),
          ),
        );
      },
      complete: async (key, uploadId) => {
        // The parts are listed rather than kept: the job record stays small whatever their number.
        const parts: CompletedPart[] = [];
        let marker: string | undefined;
        do {
          const page = await callSdk('ListParts (restore)', { key }, () =>
            this.client.send(
              new ListPartsCommand({
                Bucket: this.bucket,
                Key: key,
                UploadId: uploadId,
                MaxParts: LIST_PARTS_PAGE,
                ...(marker === undefined ? {} : { PartNumberMarker: marker }),
              }),
            ),
          );
          for (const part of page.Parts ?? []) parts.push({ PartNumber: part.PartNumber!, ETag: part.ETag! });
          marker = page.IsTruncated === true ? page.NextPartNumberMarker : undefined;
        } while (marker !== undefined);
        await callSdk('CompleteMultipartUpload (restore)', { key, parts: parts.length }, () =>
          this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
          ),
        );
      },
      objectBytes: async (key) => {
        try {
          const head = await callSdk('HeadObject (restore)', { key }, () =>
            this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
          );
          return head.ContentLength ?? 0;
        } catch (error) {
          if (error instanceof NotFoundError) return undefined;
          throw error;
        }
      },
    };
  }

  async upload(
    key: string,
    body: AsyncIterable<Uint8Array>,
    options: UploadOptions,
  ): Promise<{ bytes: number }> {
    let bytes = 0;
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      for await (const piece of body) {
        bytes += piece.length;
        yield piece;
      }
    };
    const partSize = Math.max(
      this.options.partBytes ?? RESTORE_PART_BYTES,
      Math.ceil((this.options.expectedMaxBytes ?? 0) / MAX_PARTS),
    );
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: Readable.from(counted(), { objectMode: false }),
        ContentType: options.contentType,
      },
      partSize,
      queueSize: RESTORE_PART_CONCURRENCY,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      throw translateSdkError(error, 'S3 upload of a restore', { bucket: this.bucket, key });
    }
    return { bytes };
  }

  async presignDownload(key: string, expiresInSeconds: number, fileName: string): Promise<string> {
    if (expiresInSeconds > RESTORE_URL_MAX_SECONDS || expiresInSeconds < 1) {
      throw new ValidationError(`presigned URLs expire within ${RESTORE_URL_MAX_SECONDS} seconds`);
    }
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ResponseContentDisposition: `attachment; filename="${fileName.replace(/["\\]/g, '_')}"`,
      }),
      { expiresIn: expiresInSeconds },
    );
  }
}
