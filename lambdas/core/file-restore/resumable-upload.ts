/**
 * A restore's object written part by part so that the work can stop between two parts and go on
 * in another invocation: the parts already stored stay in the open multipart upload, the job
 * record keeps how many there are and how many bytes they hold (a checkpoint after every part),
 * and the next invocation produces the same bytes again, drops that prefix and uploads the rest.
 * A part that was being written when a worker died is simply written again (UploadPart of the
 * same number replaces it: https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html).
 *
 * A body that fits in its first part is one plain upload, as before.
 */
import { NotFoundError, PermanentError } from '../errors.ts';
import type { RestoreObjectStore, ResumableUploads, UploadOptions } from './restore-ports.ts';

/**
 * Parts of one size before the size doubles: S3 allows 10,000 parts per upload
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html), and four steps of 2,500
 * parts of 8, 16, 32 and 64 MiB hold 293 GiB without knowing the size in advance.
 */
export const PARTS_PER_SIZE_STEP = 2_500;
/** Parts uploaded at once: 4 keeps S3's latency off the critical path; memory is 4 parts. */
export const RESUMABLE_PART_CONCURRENCY = 4;

/** S3's most parts in one upload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
export const MAX_UPLOAD_PARTS = 10_000;

/** The size of part `partNumber` (1-based) when the first parts have `base` bytes. */
export function partBytesOf(base: number, partNumber: number): number {
  return base * 2 ** Math.floor((partNumber - 1) / PARTS_PER_SIZE_STEP);
}

/** The largest object MAX_UPLOAD_PARTS parts hold when the first parts have `base` bytes. */
export function maxResumableBytes(base: number): number {
  let total = 0;
  for (let step = 0; step * PARTS_PER_SIZE_STEP < MAX_UPLOAD_PARTS; step += 1) {
    const parts = Math.min(PARTS_PER_SIZE_STEP, MAX_UPLOAD_PARTS - step * PARTS_PER_SIZE_STEP);
    total += parts * base * 2 ** step;
  }
  return total;
}

/** The object is larger than one multipart upload holds: refused before part MAX_UPLOAD_PARTS + 1 is sent. */
export class RestoreTooLargeError extends PermanentError {}

/**
 * Completes the upload; when it no longer exists (NoSuchUpload: an earlier invocation or a
 * duplicate one completed it, or it was aborted), the object at `key` decides: there with `bytes`
 * bytes, the restore is done; otherwise the failure says what happened.
 */
async function completeOnce(
  parts: ResumableUploads,
  key: string,
  uploadId: string,
  bytes: number,
): Promise<void> {
  try {
    await parts.complete(key, uploadId);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    const found = await parts.objectBytes(key);
    if (found === bytes) return;
    throw new NotFoundError(
      found === undefined
        ? `the multipart upload of ${key} no longer exists and the object is absent (aborted, or expired by the bucket's lifecycle rule); start the restore again`
        : `the multipart upload of ${key} no longer exists and the object holds ${found} bytes, not the ${bytes} of this restore; start the restore again`,
      { cause: error, context: { key, uploadId, bytes, ...(found === undefined ? {} : { found }) } },
    );
  }
}

/** An open upload: parts 1..`parts` are stored and hold the first `bytes` bytes of the object. */
export interface UploadCheckpoint {
  readonly uploadId: string;
  readonly parts: number;
  readonly bytes: number;
}

export interface ResumableUploadOptions extends UploadOptions {
  /** The upload to go on with; its body starts at byte `resume.bytes` of the object. */
  readonly resume?: UploadCheckpoint;
  /** Records a checkpoint (after every stored part, in order). */
  save(checkpoint: UploadCheckpoint): Promise<void>;
  /** Asked before each new part: true stops after the parts in flight and leaves the upload open. */
  stop(): boolean;
}

export type ResumableOutcome =
  | { readonly done: true; readonly bytes: number }
  | { readonly done: false; readonly checkpoint: UploadCheckpoint };

/** Up to `size` bytes of the body in one buffer; undefined when it has ended. */
async function nextPart(
  iterator: AsyncIterator<Uint8Array>,
  carry: { rest: Uint8Array | undefined },
  size: number,
): Promise<Uint8Array | undefined> {
  const part = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    let piece = carry.rest;
    carry.rest = undefined;
    if (piece === undefined) {
      const next = await iterator.next();
      if (next.done === true) break;
      piece = next.value;
    }
    const take = Math.min(piece.length, size - filled);
    part.set(piece.subarray(0, take), filled);
    filled += take;
    if (take < piece.length) carry.rest = piece.subarray(take);
  }
  return filled === 0 ? undefined : part.subarray(0, filled);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield await Promise.resolve(bytes);
}

/**
 * Writes `body` (the object from `options.resume.bytes` on) to `key`. Stores without resumable
 * uploads take it in one `upload`.
 */
export async function uploadResumable(
  objects: RestoreObjectStore,
  key: string,
  body: AsyncIterable<Uint8Array>,
  options: ResumableUploadOptions,
): Promise<ResumableOutcome> {
  const { contentType } = options;
  const parts = objects.parts;
  if (parts === undefined) return { done: true, ...(await objects.upload(key, body, { contentType })) };
  const iterator = body[Symbol.asyncIterator]();
  const carry: { rest: Uint8Array | undefined } = { rest: undefined };
  let uploadId = options.resume?.uploadId;
  let stored = { parts: options.resume?.parts ?? 0, bytes: options.resume?.bytes ?? 0 };
  let queued = stored.parts;
  const inFlight: { done: Promise<void>; bytes: number }[] = [];
  const settleOldest = async (id: string) => {
    const oldest = inFlight.shift()!;
    await oldest.done;
    stored = { parts: stored.parts + 1, bytes: stored.bytes + oldest.bytes };
    await options.save({ uploadId: id, ...stored });
  };
  const finish = async (id: string): Promise<ResumableOutcome> => {
    while (inFlight.length > 0) await settleOldest(id);
    await completeOnce(parts, key, id, stored.bytes);
    return { done: true, bytes: stored.bytes };
  };
  try {
    for (;;) {
      if (uploadId !== undefined && options.stop()) {
        while (inFlight.length > 0) await settleOldest(uploadId);
        return { done: false, checkpoint: { uploadId, ...stored } };
      }
      const size = partBytesOf(parts.partBytes, queued + 1);
      const part = await nextPart(iterator, carry, size);
      if (uploadId === undefined) {
        if (part === undefined || part.length < size) {
          const { bytes } = await objects.upload(key, once(part ?? new Uint8Array(0)), { contentType });
          return { done: true, bytes };
        }
        uploadId = await parts.start(key, { contentType });
      }
      if (part === undefined) return await finish(uploadId);
      queued += 1;
      if (queued > MAX_UPLOAD_PARTS) {
        throw new RestoreTooLargeError(
          `the restore is larger than ${maxResumableBytes(parts.partBytes)} bytes, the most one upload of ${MAX_UPLOAD_PARTS} parts holds; restore a smaller file or directory`,
          { context: { key, parts: MAX_UPLOAD_PARTS, bytes: stored.bytes } },
        );
      }
      const done = parts.putPart(key, uploadId, queued, part);
      done.catch(() => undefined); // awaited in order by settleOldest; no unhandled rejection meanwhile
      inFlight.push({ done, bytes: part.length });
      if (inFlight.length >= RESUMABLE_PART_CONCURRENCY) await settleOldest(uploadId);
      if (part.length < size) return await finish(uploadId);
    }
  } finally {
    await iterator.return?.();
  }
}

/** `body` without its first `bytes` bytes. */
export async function* dropPrefix(
  body: AsyncIterable<Uint8Array>,
  bytes: number,
): AsyncGenerator<Uint8Array> {
  let left = bytes;
  for await (const piece of body) {
    if (left >= piece.length) {
      left -= piece.length;
      continue;
    }
    yield left === 0 ? piece : piece.subarray(left);
    left = 0;
  }
}
