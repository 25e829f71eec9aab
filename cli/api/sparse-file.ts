/**
 * A download sink that leaves holes where the data is zeros, as `cp --sparse=always` does: runs
 * of whole SPARSE_BLOCK_BYTES blocks of zeros are skipped (not written), and the file is
 * truncated to its full length at the end, so a restored sparse file is sparse again on a
 * filesystem that supports holes (https://man7.org/linux/man-pages/man2/lseek.2.html). The bytes
 * read back are the same either way.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** The hole granularity: the block size of ext4/XFS/APFS by default; smaller holes are not worth it. */
export const SPARSE_BLOCK_BYTES = 4096;

function isZero(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

/** Writes `data` at `position`, skipping its whole zero blocks; `data` starts on a block boundary. */
async function writeSkippingZeros(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let runStart = -1;
  for (let at = 0; at < data.length; at += SPARSE_BLOCK_BYTES) {
    const block = data.subarray(at, at + SPARSE_BLOCK_BYTES);
    const zero = block.length === SPARSE_BLOCK_BYTES && isZero(block);
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await handle.write(data, runStart, at - runStart, position + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await handle.write(data, runStart, data.length - runStart, position + runStart);
}

/** A Writable that creates (or truncates) `path` and writes the stream into it with holes. */
export function sparseFileSink(path: string): Writable {
  let handle: FileHandle | undefined;
  let position = 0;
  let carry = new Uint8Array(0);
  const opened = async (): Promise<FileHandle> => (handle ??= await open(path, 'w'));
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const joined = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      const whole = joined.length - (joined.length % SPARSE_BLOCK_BYTES);
      carry = Uint8Array.from(joined.subarray(whole));
      opened()
        .then(async (h) => {
          await writeSkippingZeros(h, joined.subarray(0, whole), position);
          position += whole;
        })
        .then(
          () => callback(),
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
    },
    final(callback) {
      opened()
        .then(async (h) => {
          if (carry.length > 0 && !isZero(carry)) await h.write(carry, 0, carry.length, position);
          position += carry.length;
          await h.truncate(position);
          await h.close();
          handle = undefined;
        })
        .then(
          () => callback(),
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
    },
    destroy(error, callback) {
      const open = handle;
      handle = undefined;
      if (open === undefined) callback(error);
      else
        open.close().then(
          () => callback(error),
          () => callback(error),
        );
    },
  });
}
