/**
 * `npm run demo`: the product end to end on this machine, as an operator would use it.
 *
 * Starts the local stack in a temporary state directory, deploys the product (local/deploy.ts),
 * makes a replica from a sample tree as a real ext4 image, runs the FULL backup as a protection
 * plan run through the REST API (POST /plans, POST /plans/demo/runs, poll GET /plan-runs/{id}: the
 * run's task starts the backup state machine), changes files on the replica (debugfs on a copy of the
 * disk, then the changed 512 KiB blocks replicated through the replica simulator), runs an
 * INCREMENTAL, reads the catalog (a directory as of each image, the versions of the changed file,
 * the applications), restores the changed file from the older image (POST /restores, presigned
 * URL) and the whole volume (a new EBS snapshot, read back through the EBS direct API), checks both
 * against the source byte for byte; a LiveClone workflow over the demo server clones the full image
 * and, after the incremental, refreshes the clone (POST /workflows, POST /workflows/demo/runs, poll
 * GET /workflow-runs/{id}): the refreshed clone equals the replica block for block and the refresh
 * put exactly the blocks of the changed chunks (gateway request stats); then a second replica, a
 * Windows data disk (GPT + NTFS, made by mkntfs and ntfs-3g: local/demo-ntfs.ts), goes through the
 * same backup, catalog and file restore.
 * Prints a short report and stops everything it started.
 * Exits 0, or 1 with `demo FAILED: <what differed>`.
 */
import { copyFile, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../lambdas/core/geometry.ts';
import { deltaRestoreBlocks } from './clone-oracle.ts';
import { deployProduct } from './deploy.ts';
import type { FaultConfig } from './gateway/faults.ts';
import {
  ADDED_FILE,
  APPLICATION_NAME,
  CHANGED_FILE,
  changedFileContent,
  debugfsWrite,
  makeExt4Image,
  SAMPLE_DATA_FILE_COUNT,
  writeSampleTree,
} from './demo-sample.ts';
import { makeNtfsDisk, NTFS_LISTED_DIR, NTFS_PARTITION, NTFS_RESTORED_FILES } from './demo-ntfs.ts';
import { startLocalStack, type LocalStack } from './stack.ts';

/** The ext4 filesystem's size: room for the sample tree, small enough to copy and compare quickly. */
export const DEMO_IMAGE_BYTES = 64 * 1024 * 1024;
/** The demo's protection plan: every server named demo-server, run once by hand. */
const DEMO_PLAN = 'demo';
/** The demo's LiveClone workflow over demo-server, run on demand. */
const DEMO_WORKFLOW = 'demo';
/** How often the demo polls a backup or a restore, as `rbp ... --wait` does. */
const POLL_INTERVAL_MS = 250;
/** A backup or restore that has not finished by then has hung: fail the demo rather than wait forever. */
const STEP_TIMEOUT_MS = 90_000;
/** Seed of the sample tree: the same tree on every run. */
const SAMPLE_SEED = 2026;

export class DemoMismatchError extends Error {
  override readonly name = 'DemoMismatchError';
}

export interface DemoStepTiming {
  readonly step: string;
  readonly ms: number;
}

export interface DemoReport {
  readonly volumeId: string;
  readonly volumeSizeBytes: number;
  readonly imageFileBytes: number;
  readonly sourceFiles: number;
  readonly fullImageId: string;
  readonly incrementalImageId: string;
  readonly changedBlocks: number;
  readonly storedBytes: number;
  readonly storedObjects: number;
  readonly catalog: {
    readonly dataDirEntriesFull: number;
    readonly dataDirEntriesIncremental: number;
    readonly changedFileVersions: number;
    readonly applications: readonly string[];
  };
  readonly fileRestoreBytes: number;
  readonly volumeRestore: {
    readonly snapshotId: string;
    readonly blocks: number;
    readonly comparedBytes: number;
  };
  /** The LiveClone workflow: its first clone (of the full image) and the refresh (of the incremental). */
  readonly liveClone: {
    readonly firstRunId: string;
    readonly refreshRunId: string;
    readonly snapshotId: string;
    /** PutSnapshotBlock calls of the refresh (gateway request stats): the changed chunks' blocks. */
    readonly refreshPutBlocks: number;
    readonly blocks: number;
  };
  /** The second replica: a Windows data disk (GPT + NTFS). */
  readonly ntfs: {
    readonly volumeId: string;
    readonly imageId: string;
    readonly files: number;
    readonly listedNames: readonly string[];
    readonly restoredBytes: number;
  };
  readonly requests: Readonly<Record<string, number>>;
  readonly steps: readonly DemoStepTiming[];
  readonly totalMs: number;
}

export interface DemoOptions {
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Faults the gateway injects once the product is deployed (a flaky AWS; docs/local-stack.md). */
  readonly faults?: FaultConfig;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new DemoMismatchError(message);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A minimal operator's client of the REST API (the local API is not signed). */
class DemoApi {
  constructor(private readonly base: string) {}

  async call<T>(method: 'GET' | 'POST', route: string, body?: object): Promise<T> {
    const response = await fetch(`${this.base}${route}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  /** Every item of a paginated listing. */
  async all<T>(route: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const separator = route.includes('?') ? '&' : '?';
      const page = await this.call<{ items: T[]; nextCursor?: string }>(
        'GET',
        `${route}${separator}limit=1000${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return items;
  }

  async poll<T extends { status: string }>(route: string, what: string): Promise<T> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const answer = await this.call<T>('GET', route);
      if (answer.status !== 'RUNNING' && answer.status !== 'PENDING') return answer;
      if (Date.now() > deadline)
        throw new DemoMismatchError(`${what} still ${answer.status} after ${STEP_TIMEOUT_MS} ms`);
      await sleep(POLL_INTERVAL_MS);
    }
  }
}

interface BackupAnswer {
  status: string;
  imageId?: string;
  error?: string;
  cause?: string;
}
interface RestoreAnswer {
  status: string;
  downloadUrl?: string;
  snapshotId?: string;
  error?: string;
}

interface PlanRunAnswer {
  status: string;
  reason?: string;
  tasks: { server: string; status: string; reason?: string; imageIds?: string[] }[];
}

/**
 * The full backup as an operator schedules it: a protection plan over the demo's server, run now
 * (POST /plans/{name}/runs), polled until it finishes; its one task's image.
 */
async function runPlanBackup(api: DemoApi, server: string): Promise<string> {
  await api.call('POST', '/plans', { name: DEMO_PLAN, activities: [{ servers: server }] });
  const accepted = await api.call<{ runId: string }>('POST', `/plans/${DEMO_PLAN}/runs`, {});
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let run = await api.call<PlanRunAnswer>('GET', `/plan-runs/${accepted.runId}`);
  while (run.status === 'Running') {
    if (Date.now() > deadline)
      throw new DemoMismatchError(`plan run ${accepted.runId} still Running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_INTERVAL_MS);
    run = await api.call<PlanRunAnswer>('GET', `/plan-runs/${accepted.runId}`);
  }
  const imageId = run.tasks[0]?.imageIds?.[0];
  check(
    run.status === 'Succeeded' && imageId !== undefined,
    `plan run ${accepted.runId} ended ${run.status}: ${run.reason ?? run.tasks[0]?.reason ?? ''}`.trim(),
  );
  return imageId;
}

interface WorkflowRunAnswer {
  runId: string;
  status: string;
  reason?: string;
  snapshotIds: string[];
  replacesRunId?: string;
  volumes: { restoreId?: string; parentRestoreId?: string; changedBlocksCount?: number }[];
}

/** Starts a run of the demo's workflow (POST /workflows/{name}/runs) and polls it until it ends. */
async function runWorkflow(api: DemoApi, what: string): Promise<WorkflowRunAnswer> {
  const accepted = await api.call<{ runId: string }>('POST', `/workflows/${DEMO_WORKFLOW}/runs`, {});
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let run = await api.call<WorkflowRunAnswer>('GET', `/workflow-runs/${accepted.runId}`);
  while (run.status === 'Running') {
    if (Date.now() > deadline)
      throw new DemoMismatchError(`${what} ${accepted.runId} still Running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_INTERVAL_MS);
    run = await api.call<WorkflowRunAnswer>('GET', `/workflow-runs/${accepted.runId}`);
  }
  check(
    run.status === 'Succeeded' && run.snapshotIds.length === 1,
    `${what} ${run.runId} ended ${run.status}: ${run.reason ?? ''}`.trim(),
  );
  return run;
}

async function runBackup(api: DemoApi, volumeId: string, full: boolean): Promise<string> {
  const accepted = await api.call<{ backupId: string }>('POST', '/backups', { volumeId, full });
  const done = await api.poll<BackupAnswer>(`/backups/${accepted.backupId}`, `backup ${accepted.backupId}`);
  check(
    done.status === 'SUCCEEDED' && done.imageId !== undefined,
    `backup ${accepted.backupId} ended ${done.status}: ${done.error ?? ''} ${done.cause ?? ''}`.trim(),
  );
  return done.imageId;
}

async function runRestore(api: DemoApi, body: object, what: string): Promise<RestoreAnswer> {
  const accepted = await api.call<{ restoreId: string }>('POST', '/restores', body);
  const done = await api.poll<RestoreAnswer>(`/restores/${accepted.restoreId}`, what);
  check(done.status === 'SUCCEEDED', `${what} ended ${done.status}: ${done.error ?? ''}`);
  return done;
}

/** Indexes of the 512 KiB blocks in which two equally long disk images differ. */
async function changedBlocks(before: string, after: string): Promise<number[]> {
  const [a, b] = await Promise.all([readFile(before), readFile(after)]);
  check(a.length === b.length, `the changed disk is ${b.length} bytes, the replica ${a.length}`);
  const blocks: number[] = [];
  for (let offset = 0; offset < a.length; offset += EBS_BLOCK_SIZE_BYTES) {
    const end = Math.min(offset + EBS_BLOCK_SIZE_BYTES, a.length);
    if (!a.subarray(offset, end).equals(b.subarray(offset, end))) blocks.push(offset / EBS_BLOCK_SIZE_BYTES);
  }
  return blocks;
}

/** Reads a restored snapshot through the EBS direct API and compares it with `expectedImage`. */
async function compareSnapshot(
  stack: LocalStack,
  snapshotId: string,
  expectedImage: string,
  volumeSizeBytes: number,
): Promise<{ blocks: number; comparedBytes: number }> {
  const ebs = new EBSClient({ endpoint: stack.endpoint, region: stack.env.AWS_REGION! });
  const expected = await readFile(expectedImage);
  const listed = new Map<number, string>();
  try {
    let token: string | undefined;
    let blockSize = EBS_BLOCK_SIZE_BYTES;
    do {
      const page = await ebs.send(
        new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: token }),
      );
      blockSize = page.BlockSize ?? blockSize;
      check(blockSize === EBS_BLOCK_SIZE_BYTES, `the restored snapshot has ${blockSize}-byte blocks`);
      check(
        page.VolumeSize === undefined || page.VolumeSize * GIB_BYTES === volumeSizeBytes,
        `the restored snapshot is ${page.VolumeSize} GiB, the volume ${volumeSizeBytes} bytes`,
      );
      for (const block of page.Blocks ?? []) listed.set(block.BlockIndex!, block.BlockToken!);
      token = page.NextToken;
    } while (token !== undefined);
    let compared = 0;
    const zeros = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
    const blockCount = Math.ceil(volumeSizeBytes / EBS_BLOCK_SIZE_BYTES);
    for (let index = 0; index < blockCount; index += 1) {
      const offset = index * EBS_BLOCK_SIZE_BYTES;
      const want = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
      if (offset < expected.length)
        expected.copy(want, 0, offset, Math.min(offset + EBS_BLOCK_SIZE_BYTES, expected.length));
      const token = listed.get(index);
      compared += want.length;
      if (token === undefined) {
        check(
          want.equals(zeros),
          `block ${index} holds data in the image but is missing from the restored snapshot`,
        );
        continue;
      }
      const block = await ebs.send(
        new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: index, BlockToken: token }),
      );
      const got = Buffer.from(await block.BlockData!.transformToByteArray());
      check(
        got.equals(want),
        `block ${index} of the restored snapshot differs from the image at the backup time`,
      );
    }
    return { blocks: listed.size, comparedBytes: compared };
  } finally {
    ebs.destroy();
  }
}

async function storedBytes(stack: LocalStack, bucket: string): Promise<{ bytes: number; objects: number }> {
  const s3 = new S3Client({ endpoint: stack.endpoint, region: stack.env.AWS_REGION!, forcePathStyle: true });
  let bytes = 0;
  let objects = 0;
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        bytes += object.Size ?? 0;
        objects += 1;
      }
      token = page.NextContinuationToken;
    } while (token !== undefined);
  } finally {
    s3.destroy();
  }
  return { bytes, objects };
}

/** What an interrupted demo must still stop and remove. */
let inFlight: { stack?: LocalStack; workDir?: string } = {};

/** Runs the whole demo; throws DemoMismatchError when a result differs from its source. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const log = options.log ?? ((): void => undefined);
  const started = Date.now();
  const steps: DemoStepTiming[] = [];
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    log(`… ${name}`);
    const result = await work();
    steps.push({ step: name, ms: Date.now() - t0 });
    return result;
  };

  const work = await mkdtemp(path.join(tmpdir(), 'rbp-demo-'));
  inFlight = { workDir: work };
  let stack: LocalStack | undefined;
  const savedEnv = { ...process.env };
  try {
    // The stack's credentials, not the caller's: the SDK clients below must reach only the gateway.
    stack = await step('start the local stack', () =>
      startLocalStack({ stateDir: path.join(work, 'state'), snapshotCompletionDelayMs: 0 }),
    );
    inFlight = { stack, workDir: work };
    const running = stack;
    // The handlers' own logs and metrics would drown the report (set before deploy loads them).
    Object.assign(process.env, running.env, {
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    const product = await step('deploy the product', () => deployProduct(running));
    const api = new DemoApi(product.apiUrl);
    if (options.faults !== undefined) running.gateway.setFaults(options.faults);

    const disk = path.join(work, 'replica.img');
    const sourceFiles = await step('make the replica (ext4 image)', async () => {
      const count = await writeSampleTree(path.join(work, 'source'), SAMPLE_SEED);
      await makeExt4Image(disk, path.join(work, 'source'), DEMO_IMAGE_BYTES);
      return count;
    });
    const replica = await running.replicas.create({ imagePath: disk, serverId: 'demo-server' });
    const volumeId = replica.volumeId;
    const volumeSizeBytes = replica.volumeSizeGib * GIB_BYTES;

    running.gateway.resetStats();
    const fullImageId = await step('full backup', () => runPlanBackup(api, 'demo-server'));
    // The disk as the full image holds it: the oracle of the volume restore.
    const atFull = path.join(work, 'replica-at-full.img');
    await copyFile(disk, atFull);
    // The LiveClone workflow's first run presents the full image (`latest` now); it runs while the
    // replica changes and the incremental is taken, and its step below waits for it.
    await api.call('POST', '/workflows', {
      name: DEMO_WORKFLOW,
      type: 'LiveClone',
      server: 'demo-server',
      schedule: { type: 'on-demand' },
      target: { region: running.env.AWS_REGION },
    });
    const firstClone = runWorkflow(api, 'the first LiveClone run');
    firstClone.catch(() => undefined); // awaited (and reported) by its step

    const changed = await step('change files on the replica', async () => {
      const edited = path.join(work, 'replica-edited.img');
      await copyFile(disk, edited);
      const newConf = path.join(work, 'app.conf.v2');
      await writeFile(newConf, changedFileContent(2));
      const added = path.join(work, 'added.txt');
      await writeFile(added, 'written after the full backup\n');
      await debugfsWrite(
        edited,
        [`rm ${CHANGED_FILE}`, `write ${newConf} ${CHANGED_FILE}`, `write ${added} ${ADDED_FILE}`],
        path.join(work, 'debugfs-requests'),
      );
      // Replication ships the blocks the server wrote: exactly those that differ.
      const blocks = await changedBlocks(disk, edited);
      const handle = await open(edited, 'r');
      try {
        for (const index of blocks) {
          const data = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
          const { bytesRead } = await handle.read(data, 0, data.length, index * EBS_BLOCK_SIZE_BYTES);
          await running.agent.write(volumeId, index * EBS_BLOCK_SIZE_BYTES, data.subarray(0, bytesRead));
        }
      } finally {
        await handle.close();
      }
      check((await changedBlocks(disk, edited)).length === 0, 'the replica does not match the changed disk');
      return blocks.length;
    });

    const incrementalImageId = await step('incremental backup', () => runBackup(api, volumeId, false));
    const liveClone = await step('LiveClone workflow refresh', async () => {
      const first = await firstClone;
      const atIncremental = path.join(work, 'replica-at-incremental.img');
      await copyFile(disk, atIncremental);
      await compareSnapshot(running, first.snapshotIds[0]!, atFull, volumeSizeBytes);
      const puts = (): number => running.gateway.stats().requests['ebs:PutSnapshotBlock'] ?? 0;
      const putsBefore = puts();
      const refresh = await runWorkflow(api, 'the LiveClone refresh');
      const refreshPutBlocks = puts() - putsBefore;
      check(
        refresh.replacesRunId === first.runId &&
          refresh.volumes[0]?.parentRestoreId === first.volumes[0]?.restoreId,
        `the refresh ${refresh.runId} does not start from the first clone's restore`,
      );
      const compared = await compareSnapshot(
        running,
        refresh.snapshotIds[0]!,
        atIncremental,
        volumeSizeBytes,
      );
      const [before, after] = await Promise.all([readFile(atFull), readFile(atIncremental)]);
      const expected = deltaRestoreBlocks(before, after).length;
      check(
        refreshPutBlocks === expected && refresh.volumes[0]?.changedBlocksCount === expected,
        `the refresh put ${refreshPutBlocks} blocks (the run says ${refresh.volumes[0]?.changedBlocksCount}); the changed chunks hold ${expected}`,
      );
      return {
        firstRunId: first.runId,
        refreshRunId: refresh.runId,
        snapshotId: refresh.snapshotIds[0]!,
        refreshPutBlocks,
        blocks: compared.blocks,
      };
    });
    // Stored bytes of the ext4 replica alone (its line in the report compares them with its volume).
    const stored = await storedBytes(running, product.names.imageBucket);
    // The Windows replica's disk and full backup run while the ext4 images are read and restored;
    // its step below waits for them (the demo's runtime stays near what it was with one replica).
    const ntfsBackup = (async () => {
      const windowsDisk = path.join(work, 'windows-data.img');
      const sample = await makeNtfsDisk(windowsDisk, work, SAMPLE_SEED);
      const windows = await running.replicas.create({ imagePath: windowsDisk, serverId: 'demo-windows' });
      return { sample, volumeId: windows.volumeId, imageId: await runBackup(api, windows.volumeId, true) };
    })();
    ntfsBackup.catch(() => undefined); // awaited (and reported) by its step

    const catalog = await step('list the catalog', async () => {
      const images = await api.all<{ imageId: string; kind: string; parentImageId?: string }>(
        `/volumes/${volumeId}/images`,
      );
      const kinds = images.map((image) => `${image.imageId}:${image.kind}`).sort();
      check(
        JSON.stringify(kinds) ===
          JSON.stringify([`${fullImageId}:full`, `${incrementalImageId}:incremental`].sort()),
        `the volume's images are ${kinds.join(', ')}`,
      );
      const dataDir = path.posix.dirname(ADDED_FILE);
      const fullEntries = await api.all<{ name: string }>(
        `/images/${fullImageId}/files?path=${encodeURIComponent(dataDir)}`,
      );
      const incrementalEntries = await api.all<{ name: string }>(
        `/images/${incrementalImageId}/files?path=${encodeURIComponent(dataDir)}`,
      );
      const added = path.posix.basename(ADDED_FILE);
      check(
        !fullEntries.some((e) => e.name === added) && incrementalEntries.some((e) => e.name === added),
        `${ADDED_FILE} should be listed in ${incrementalImageId} only`,
      );
      check(
        incrementalEntries.length === fullEntries.length + 1,
        `${dataDir} has ${fullEntries.length} entries in the full image, ${incrementalEntries.length} in the incremental`,
      );
      const versions = await api.all<{ sizeBytes: number }>(
        `/volumes/${volumeId}/files/versions?path=${encodeURIComponent(CHANGED_FILE)}`,
      );
      check(
        JSON.stringify(versions.map((v) => v.sizeBytes)) ===
          JSON.stringify([changedFileContent(1).length, changedFileContent(2).length]),
        `${CHANGED_FILE} versions have sizes ${versions.map((v) => v.sizeBytes).join(', ')}`,
      );
      const applications = (
        await api.call<{ items: { name: string }[] }>('GET', `/images/${incrementalImageId}/applications`)
      ).items.map((a) => a.name);
      check(applications.includes(APPLICATION_NAME), `applications in the image: ${applications.join(', ')}`);
      return {
        dataDirEntriesFull: fullEntries.length,
        dataDirEntriesIncremental: incrementalEntries.length,
        changedFileVersions: versions.length,
        applications,
      };
    });

    const fileRestoreBytes = await step('restore a file (older image)', async () => {
      const done = await runRestore(
        api,
        { imageId: fullImageId, kind: 'file', path: CHANGED_FILE },
        `restore of ${CHANGED_FILE}`,
      );
      check(done.downloadUrl !== undefined, 'the file restore has no download URL');
      const response = await fetch(done.downloadUrl);
      check(response.ok, `the download URL answered ${response.status}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      check(
        bytes.equals(changedFileContent(1)),
        `${CHANGED_FILE} restored from ${fullImageId} is not the content it had at the full backup`,
      );
      return bytes.length;
    });

    const volumeRestore = await step('restore the volume (older image)', async () => {
      const done = await runRestore(api, { imageId: fullImageId, kind: 'volume' }, 'volume restore');
      check(done.snapshotId !== undefined, 'the volume restore names no snapshot');
      const compared = await compareSnapshot(running, done.snapshotId, atFull, volumeSizeBytes);
      return { snapshotId: done.snapshotId, ...compared };
    });

    const ntfs = await step('NTFS volume (backup, restore)', async () => {
      const { sample, volumeId: windowsVolumeId, imageId } = await ntfsBackup;
      const listed = await api.all<{ name: string }>(
        `/images/${imageId}/files?path=${encodeURIComponent(NTFS_LISTED_DIR)}&partition=${NTFS_PARTITION}`,
      );
      const listedNames = listed.map((e) => e.name).sort();
      check(
        JSON.stringify(listedNames) === JSON.stringify(sample.listedNames),
        `${NTFS_LISTED_DIR} on the NTFS volume lists ${listedNames.join(', ')}`,
      );
      let restoredBytes = 0;
      for (const file of NTFS_RESTORED_FILES) {
        const done = await runRestore(
          api,
          { imageId, kind: 'file', path: file, partition: NTFS_PARTITION },
          `restore of ${file} (NTFS)`,
        );
        check(done.downloadUrl !== undefined, `the restore of ${file} has no download URL`);
        const response = await fetch(done.downloadUrl);
        check(response.ok, `the download URL of ${file} answered ${response.status}`);
        const bytes = Buffer.from(await response.arrayBuffer());
        check(
          bytes.equals(sample.contents.get(file)!),
          `${file} restored from ${imageId} differs from its source`,
        );
        restoredBytes += bytes.length;
      }
      return { volumeId: windowsVolumeId, imageId, files: sample.files, listedNames, restoredBytes };
    });

    return {
      volumeId,
      volumeSizeBytes,
      imageFileBytes: DEMO_IMAGE_BYTES,
      sourceFiles,
      fullImageId,
      incrementalImageId,
      changedBlocks: changed,
      storedBytes: stored.bytes,
      storedObjects: stored.objects,
      catalog,
      fileRestoreBytes,
      volumeRestore,
      liveClone,
      ntfs,
      requests: running.gateway.stats().requests,
      steps,
      totalMs: Date.now() - started,
    };
  } finally {
    await stack?.stop();
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    await rm(work, { recursive: true, force: true });
    inFlight = {};
  }
}

function sumRequests(requests: Readonly<Record<string, number>>, service: string): number {
  return Object.entries(requests)
    .filter(([key]) => key.startsWith(`${service}:`))
    .reduce((sum, [, count]) => sum + count, 0);
}

const MIB = 1024 * 1024;

/** The report `npm run demo` prints (the test asserts its key lines). */
export function formatReport(report: DemoReport): string {
  const r = report.requests;
  const count = (key: string): number => r[key] ?? 0;
  const lines = [
    'rbp demo: replica backup, catalog and restore on the local stack',
    `replica ${report.volumeId}: ${report.volumeSizeBytes / GIB_BYTES} GiB volume, ext4 image of ${
      report.imageFileBytes / MIB
    } MiB, ${report.sourceFiles} files (${SAMPLE_DATA_FILE_COUNT} data files, applications.json, a sparse file, a symlink)`,
    ...report.steps.map((s) => `  ${s.step.padEnd(34)} ${(s.ms / 1000).toFixed(1).padStart(6)} s`),
    `full backup: ${report.fullImageId}`,
    `incremental backup: ${report.incrementalImageId} (${report.changedBlocks} changed 512 KiB blocks)`,
    `catalog: ${path.posix.dirname(ADDED_FILE)} has ${report.catalog.dataDirEntriesFull} entries in the full image, ` +
      `${report.catalog.dataDirEntriesIncremental} in the incremental; ${CHANGED_FILE} has ` +
      `${report.catalog.changedFileVersions} versions; applications: ${report.catalog.applications.join(', ')}`,
    `file restore: ${CHANGED_FILE} from ${report.fullImageId}, ${report.fileRestoreBytes} bytes, equal to the source`,
    `volume restore: ${report.volumeRestore.snapshotId}, ${report.volumeRestore.blocks} blocks with data, ` +
      `all ${report.volumeRestore.comparedBytes} bytes equal to the image at the full backup`,
    `liveclone: workflow ${DEMO_WORKFLOW} cloned the full image (${report.liveClone.firstRunId}), ` +
      `then refreshed it to the incremental (${report.liveClone.refreshRunId}): ${report.liveClone.snapshotId}, ` +
      `${report.liveClone.blocks} blocks with data, equal to the replica; the refresh put ${report.liveClone.refreshPutBlocks} blocks (the changed chunks')`,
    `ntfs volume: ${report.ntfs.volumeId}, ${report.ntfs.files} files on a GPT + NTFS disk, image ${report.ntfs.imageId}; ` +
      `${NTFS_LISTED_DIR} lists ${report.ntfs.listedNames.length} names; ${NTFS_RESTORED_FILES.length} files restored, ` +
      `${report.ntfs.restoredBytes} bytes, equal to the source`,
    `stored: ${report.storedBytes} bytes in ${report.storedObjects} S3 objects for a ${report.volumeSizeBytes}-byte volume ` +
      `(${((100 * report.storedBytes) / report.volumeSizeBytes).toFixed(2)} %)`,
    `requests: EBS ${sumRequests(r, 'ebs')} (ListSnapshotBlocks ${count('ebs:ListSnapshotBlocks')}, ` +
      `ListChangedBlocks ${count('ebs:ListChangedBlocks')}, GetSnapshotBlock ${count('ebs:GetSnapshotBlock')}, ` +
      `PutSnapshotBlock ${count('ebs:PutSnapshotBlock')}), S3 ${sumRequests(r, 's3')} ` +
      `(PutObject ${count('s3:PutObject')}, UploadPart ${count('s3:UploadPart')}, GetObject ${count('s3:GetObject')}), ` +
      `DynamoDB ${sumRequests(r, 'dynamodb')}, Lambda ${count('lambda:Invoke')}`,
    `demo OK in ${(report.totalMs / 1000).toFixed(1)} s`,
  ];
  return `${lines.join('\n')}\n`;
}

export async function main(options: Omit<DemoOptions, 'log'> = {}): Promise<number> {
  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals): void => {
    // Ctrl-C reaches this process twice (from the terminal and relayed by tsx): stop once.
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`demo interrupted (${signal}): stopping what it started\n`);
    const { stack, workDir } = inFlight;
    void (async () => {
      await stack?.stop();
      if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
      process.exit(130);
    })();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  try {
    const report = await runDemo({ ...options, log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(formatReport(report));
    return 0;
  } catch (error) {
    // A mismatch or a failed call: its message says what; the stack adds nothing for a user.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`demo FAILED: ${message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main();
}
