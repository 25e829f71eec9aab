/** A ByteRangeReader over a local image file, with request counters for tests and benchmarks. */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';

export class FileByteRangeReader implements ByteRangeReader {
  reads = 0;
  bytesRead = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<FileByteRangeReader> {
    const handle = await open(path, 'r');
    const { size } = await handle.stat();
    return new FileByteRangeReader(handle, size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  /** read() into the caller's buffer (the filesystem readers' page cache reuses its pages). */
  async readInto(offset: number, out: Uint8Array): Promise<void> {
    const length = out.length;
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`read ${offset}+${length} outside ${this.size}-byte file`);
    }
    this.reads += 1;
    this.bytesRead += length;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`short read at ${offset + done}`);
      done += bytesRead;
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** An in-memory ByteRangeReader (fuzzed images). */
export class MemoryByteRangeReader implements ByteRangeReader {
  reads = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get size(): number {
    return this.bytes.length;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      return Promise.reject(
        new RangeError(`read ${offset}+${length} outside ${this.bytes.length}-byte image`),
      );
    }
    this.reads += 1;
    return Promise.resolve(this.bytes.slice(offset, offset + length));
  }
}
