/** A RandomAccessSink over a local file: a sparse file whose zero chunks stay holes. */
import { open, type FileHandle } from 'node:fs/promises';
import type { RandomAccessSink } from './volume-restore.ts';

export class FileSink implements RandomAccessSink {
  private constructor(private readonly handle: FileHandle) {}

  /** Creates (or truncates) the file. */
  static async create(path: string): Promise<FileSink> {
    return new FileSink(await open(path, 'w'));
  }

  async setSize(bytes: number): Promise<void> {
    await this.handle.truncate(bytes);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(
        data,
        written,
        data.length - written,
        offset + written,
      );
      written += bytesWritten;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
