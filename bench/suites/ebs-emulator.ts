/**
 * EBS emulator figures: freezing a dense image (against reading, hashing and storing it in-process,
 * the floor of any freeze), freezing a big sparse image (hole skipping), and PutSnapshotBlock /
 * GetSnapshotBlock throughput through the real SDK (against bare HTTP servers doing the least work).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EBSClient,
  GetSnapshotBlockCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { startEbsEmulatorServer } from '../../local/ebs/ebs-server.ts';
import { makeSparseImage } from '../../test/local/ebs-test-support.ts';
import { round, timeMs, type BenchResult, type BenchSuite } from '../harness.ts';

/** Dense data written into the 1 GiB image: 256 MiB, enough to time without a long run. */
const DENSE_BLOCKS = 512;
/** A big sparse image: 64 GiB volume with one written block every GiB. */
const SPARSE_VOLUME_GIB = 64;
/** Blocks written through PutSnapshotBlock: 128 MiB. */
const PUT_BLOCKS = 256;
/** Parallel GetSnapshotBlock / PutSnapshotBlock requests, as one backup worker would keep in flight. */
const READ_CONCURRENCY = 16;
/**
 * The real service's GetSnapshotBlock quota per snapshot, requests per second
 * (https://docs.aws.amazon.com/general/latest/gr/ebs-service.html).
 */
const REAL_PER_SNAPSHOT_READS_PER_SECOND = 1_000;

/** Share of the bare baseline's rate the emulator must reach: its HTTP and bookkeeping may at most halve it. */
const BASELINE_SHARE_GOAL = 0.5;

/** A rate measured against a bare baseline: met when it reaches BASELINE_SHARE_GOAL of it. */
function againstBaseline(
  name: string,
  unit: string,
  digits: number,
  rate: number,
  baselineRate: number,
  what: { readonly goal: string; readonly details: BenchResult['details'] },
): BenchResult {
  return {
    name,
    value: round(rate, digits),
    unit,
    baseline: round(baselineRate, digits),
    ratio: round(rate / baselineRate),
    goal: `>= ${BASELINE_SHARE_GOAL} of ${what.goal}`,
    met: rate >= BASELINE_SHARE_GOAL * baselineRate,
    details: what.details,
  };
}

/** The least a content-addressed freeze must do: read each block, hash it, write it to a file of its own. */
async function readHashAndStore(path: string, blocks: number, storeDir: string): Promise<void> {
  await mkdir(storeDir, { recursive: true });
  const file = await open(path, 'r');
  const buffer = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
  try {
    for (let blockIndex = 0; blockIndex < blocks; blockIndex += 1) {
      await file.read(buffer, 0, buffer.length, blockIndex * EBS_BLOCK_SIZE_BYTES);
      const digest = createHash('sha256').update(buffer).digest('hex');
      await writeFile(join(storeDir, digest), buffer);
    }
  } finally {
    await file.close();
  }
}

/**
 * A bare HTTP server: a GET gets one 512 KiB block read from a file; a PUT's body is hashed and
 * written to a file of its own. The least an emulator of GetSnapshotBlock / PutSnapshotBlock does.
 */
async function bareBlockServer(
  blockPath: string,
  storeDir: string,
): Promise<{ url: string; close(): Promise<void> }> {
  await mkdir(storeDir, { recursive: true });
  const server = createServer((req, res) => {
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const digest = createHash('sha256').update(body).digest('hex');
        writeFile(join(storeDir, digest), body).then(
          () => res.writeHead(201).end(),
          () => res.writeHead(500).end(),
        );
      });
      return;
    }
    readFile(blockPath).then(
      (data) => {
        res.writeHead(200, { 'content-length': String(data.length) });
        res.end(data);
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Requests per second over `total` requests with `concurrency` in flight. */
async function requestsPerSecond(
  total: number,
  concurrency: number,
  request: (n: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const elapsedMs = await timeMs(() =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) await request(next++);
      }),
    ),
  );
  return total / (elapsedMs / 1000);
}

export const suite: BenchSuite = {
  name: 'ebs-emulator',
  async run(): Promise<readonly BenchResult[]> {
    const dir = await mkdtemp(join(tmpdir(), 'bench-ebs-'));
    const server = await startEbsEmulatorServer({ stateDir: join(dir, 'state') });
    const ebs = new EBSClient({
      region: 'us-east-1',
      endpoint: server.endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    try {
      const results: BenchResult[] = [];
      const dense = join(dir, 'dense.img');
      await makeSparseImage(
        dense,
        1,
        new Map(Array.from({ length: DENSE_BLOCKS }, (_, i) => [i, randomBytes(EBS_BLOCK_SIZE_BYTES)])),
      );
      const denseMiB = (DENSE_BLOCKS * EBS_BLOCK_SIZE_BYTES) / 2 ** 20;
      const baselineMs = await timeMs(() =>
        readHashAndStore(dense, DENSE_BLOCKS, join(dir, 'baseline-store')),
      );
      const freezeMs = await timeMs(() =>
        server.emulator.freezeVolumeImage({
          snapshotId: 'snap-0000000000000001',
          volumeId: 'vol-dense',
          imagePath: dense,
          volumeSizeGib: 1,
          completeAfterMs: 0,
        }),
      );
      const freezeRate = denseMiB / (freezeMs / 1000);
      const baselineRate = denseMiB / (baselineMs / 1000);
      results.push(
        againstBaseline('ebs-emulator/freeze-dense-256MiB', 'MiB/s', 1, freezeRate, baselineRate, {
          goal: 'read + SHA-256 + one file per block, in-process',
          details: { blocks: DENSE_BLOCKS, freezeMs: round(freezeMs, 1) },
        }),
      );

      const sparse = join(dir, 'sparse.img');
      const blocksPerGib = GIB_BYTES / EBS_BLOCK_SIZE_BYTES;
      await makeSparseImage(
        sparse,
        SPARSE_VOLUME_GIB,
        new Map(
          Array.from({ length: SPARSE_VOLUME_GIB }, (_, gib) => [
            gib * blocksPerGib + 17,
            randomBytes(EBS_BLOCK_SIZE_BYTES),
          ]),
        ),
      );
      const sparseMs = await timeMs(() =>
        server.emulator.freezeVolumeImage({
          snapshotId: 'snap-0000000000000002',
          volumeId: 'vol-sparse',
          imagePath: sparse,
          volumeSizeGib: SPARSE_VOLUME_GIB,
          completeAfterMs: 0,
        }),
      );
      results.push({
        name: 'ebs-emulator/freeze-sparse-64GiB',
        value: round(sparseMs, 1),
        unit: 'ms',
        goal: '< 1000 ms (holes are skipped, not read)',
        met: sparseMs < 1_000,
        details: { writtenBlocks: SPARSE_VOLUME_GIB },
      });

      const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001' }));
      const blocks = listed.Blocks ?? [];
      const readsPerSecond = await requestsPerSecond(blocks.length, READ_CONCURRENCY, async (n) => {
        const block = blocks[n]!;
        const answer = await ebs.send(
          new GetSnapshotBlockCommand({
            SnapshotId: 'snap-0000000000000001',
            BlockIndex: block.BlockIndex,
            BlockToken: block.BlockToken,
          }),
        );
        await answer.BlockData!.transformToByteArray();
      });
      const blockPath = join(dir, 'one-block');
      await writeFile(blockPath, randomBytes(EBS_BLOCK_SIZE_BYTES));
      const bare = await bareBlockServer(blockPath, join(dir, 'bare-store'));
      const bareRate = await requestsPerSecond(blocks.length, READ_CONCURRENCY, async () => {
        const answer = await fetch(bare.url);
        await answer.arrayBuffer();
      });
      const puts = Array.from({ length: PUT_BLOCKS }, () => randomBytes(EBS_BLOCK_SIZE_BYTES));
      const started = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
      const putsPerSecond = await requestsPerSecond(PUT_BLOCKS, READ_CONCURRENCY, async (n) => {
        const data = puts[n]!;
        await ebs.send(
          new PutSnapshotBlockCommand({
            SnapshotId: started.SnapshotId,
            BlockIndex: n,
            BlockData: data,
            DataLength: EBS_BLOCK_SIZE_BYTES,
            Checksum: createHash('sha256').update(data).digest('base64'),
            ChecksumAlgorithm: 'SHA256',
          }),
        );
      });
      const barePutRate = await requestsPerSecond(PUT_BLOCKS, READ_CONCURRENCY, async (n) => {
        const answer = await fetch(bare.url, { method: 'PUT', body: puts[n] });
        await answer.arrayBuffer();
      });
      await bare.close();
      results.push(
        againstBaseline('ebs-emulator/put-snapshot-block', 'blocks/s', 0, putsPerSecond, barePutRate, {
          goal: 'a bare HTTP server hashing and storing 512 KiB bodies',
          details: { blocks: PUT_BLOCKS, concurrency: READ_CONCURRENCY },
        }),
      );
      results.push(
        againstBaseline('ebs-emulator/get-snapshot-block', 'blocks/s', 0, readsPerSecond, bareRate, {
          goal: 'a bare HTTP server sending 512 KiB from a file',
          details: {
            blocks: blocks.length,
            concurrency: READ_CONCURRENCY,
            MiBps: round((readsPerSecond * EBS_BLOCK_SIZE_BYTES) / 2 ** 20, 1),
            realPerSnapshotCap: REAL_PER_SNAPSHOT_READS_PER_SECOND,
          },
        }),
      );
      return results;
    } finally {
      ebs.destroy();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
