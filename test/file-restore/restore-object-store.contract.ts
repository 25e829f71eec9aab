/** What every RestoreObjectStore must do: run against the in-memory fake and S3 on moto. */
import { describe, expect, it } from 'vitest';
import {
  RESTORE_URL_MAX_SECONDS,
  type RestoreObjectStore,
} from '../../lambdas/core/file-restore/restore-ports.ts';

/** A store under test and how to read an uploaded object back through its presigned URL. */
export interface RestoreObjectsUnderTest {
  readonly store: RestoreObjectStore;
  download(url: string, key: string): Promise<Buffer>;
}

async function* pieces(total: number, pieceBytes: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < total; offset += pieceBytes) {
    const piece = new Uint8Array(Math.min(pieceBytes, total - offset));
    for (let i = 0; i < piece.length; i += 1) piece[i] = (offset + i) % 251;
    yield await Promise.resolve(piece);
  }
}

function expected(total: number): Buffer {
  const bytes = Buffer.alloc(total);
  for (let i = 0; i < total; i += 1) bytes[i] = i % 251;
  return bytes;
}

export function restoreObjectStoreContract(name: string, make: () => Promise<RestoreObjectsUnderTest>): void {
  describe(`RestoreObjectStore contract: ${name}`, () => {
    it.each([
      ['an empty body', 0, 1],
      ['a small body in pieces', 100_000, 7_000],
      ["a body larger than the S3 adapter's 8 MiB part (multipart)", 9 * 1024 * 1024 + 12_345, 1024 * 1024],
    ])(
      'uploads %s, counts its bytes and serves it back through a presigned URL',
      async (_what, total, piece) => {
        const { store, download } = await make();
        const key = `restores/rs-${total}-token/file.bin`;
        expect(
          await store.upload(key, pieces(total, piece), { contentType: 'application/octet-stream' }),
        ).toEqual({
          bytes: total,
        });
        const url = await store.presignDownload(key, 60, 'file.bin');
        expect((await download(url, key)).equals(expected(total))).toBe(true);
      },
    );

    it(`refuses a URL that lives longer than ${RESTORE_URL_MAX_SECONDS} seconds`, async () => {
      const { store } = await make();
      await expect(store.presignDownload('restores/x/f', RESTORE_URL_MAX_SECONDS + 1, 'f')).rejects.toThrow(
        `presigned URLs expire within ${RESTORE_URL_MAX_SECONDS} seconds`,
      );
    });
  });
}
