/**
 * The product on the local stack for end-to-end tests that drive it through `rbp`, one per test
 * file, in two forms:
 *
 * - `useLocalApiProduct(name)`: the API fixture (test/api/local-api-fixture.ts): a replica made
 *   from a generated ext4 tree, backed up twice (img-a full, img-b incremental after debugfs
 *   changed a file), catalogued, and the API with a stand-in backup state machine; with helpers
 *   to back the replica up again, to serve the lifecycle routes and to read an image back;
 * - `useDeployedProduct(name, options)`: the whole deployment (local/deploy.ts: the real state
 *   machine, handlers and API) and no replica yet; `makeReplica` registers ext4 disks of given
 *   files.
 *
 * Both give `rbp` (the CLI with the environment that reaches the API, run in the test process's
 * one `rbp` host: test/support/cli.ts), a scratch directory, and the engine's adapters over the
 * product's table and bucket.
 *
 *   const product = useLocalApiProduct('retention-local');
 *   it('...', async () => { expect(await product.rbp.json('images', 'ls', '--volume', product.api.volumeId)) ... });
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { createSdkClients, type ClientOptions, type SdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { createLifecycleApi } from '../../lambdas/aws/wiring.ts';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { DIGEST_BYTES, isZeroHash } from '../../lambdas/core/image/hashing.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import type { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { CHUNK_KEY_PREFIX, segmentEntryCount } from '../../lambdas/core/image/image-types.ts';
import type { LifecycleObjectStore } from '../../lambdas/core/lifecycle/ports.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import type { ImageRecordStore } from '../../lambdas/core/image/image-records.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { deployProduct, type DeployedProduct, type DeployOptions } from '../../local/deploy.ts';
import type { LocalStack } from '../../local/stack.ts';
import {
  LOCAL_API_NAMES,
  replicateDifferences,
  setUpLocalApi,
  snapshotOf,
  type LocalApi,
} from '../api/local-api-fixture.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { localEngine, unpacedBackupDeps, type LocalEngine } from '../engine/local-engine.ts';
import { rbpWith, type Rbp } from './cli.ts';
import { debugfs, makeExtImage, removeDir, scratchDir } from './fs-images.ts';
import { useLocalStack, type LocalStackHandle } from './local-stack.ts';
import { afterAll, beforeAll } from 'vitest';

/** The API fixture's ext4 image is 32 MiB; the rest of its 1 GiB volume was never written. */
export const API_FIXTURE_DISK_BYTES = 32 * 1024 * 1024;
/** EC2 snapshots complete this long after they start: the backups wait for it, so keep it short. */
const SNAPSHOT_COMPLETION_DELAY_MS = 100;

/** The two stores an image is read through. */
export interface ImageSource {
  readonly records: Pick<ImageRecordStore, 'getImageRecord'>;
  readonly images: ImageStore;
}

/** The first `bytes` bytes of the image's volume as the image holds them. */
export async function readImage(
  source: ImageSource,
  volumeId: string,
  imageId: string,
  bytes: number,
): Promise<Buffer> {
  const record = await source.records.getImageRecord(volumeId, imageId);
  const manifest = await source.images.getManifest(volumeId, imageId, record.manifestSha256);
  return Buffer.from(await new ImageReader(source.images, manifest).read(0, bytes));
}

/** The chunk names the image's segment tables map, once per mapped chunk (shared ones repeat). */
export async function mappedChunks(
  source: ImageSource,
  volumeId: string,
  imageId: string,
): Promise<string[]> {
  const record = await source.records.getImageRecord(volumeId, imageId);
  const manifest = await source.images.getManifest(volumeId, imageId, record.manifestSha256);
  const names: string[] = [];
  for (const [index, hash] of manifest.segments.entries()) {
    if (isZeroHash(hash)) continue;
    const table = await source.images.getSegment(hash, segmentEntryCount(manifest.volumeSizeBytes, index));
    for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
      const entry = table.subarray(offset, offset + DIGEST_BYTES);
      if (!entry.every((b) => b === 0)) names.push(entry.toString('hex'));
    }
  }
  return names;
}

/** Distinct chunk names the images' manifests reference. */
export async function referencedChunks(
  source: ImageSource,
  volumeId: string,
  imageIds: readonly string[],
): Promise<Set<string>> {
  const names = new Set<string>();
  for (const imageId of imageIds) {
    for (const name of await mappedChunks(source, volumeId, imageId)) names.add(name);
  }
  return names;
}

/** Every chunk object's key in the bucket, as listed. */
export async function chunkObjectKeys(objects: Pick<LifecycleObjectStore, 'listPage'>): Promise<string[]> {
  const keys: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await objects.listPage(CHUNK_KEY_PREFIX, startAfter, 1000);
    keys.push(...page.objects.map((o) => o.key));
    if (!page.isTruncated || page.objects.length === 0) return keys;
    startAfter = page.objects.at(-1)!.key;
  }
}

/** What `rbp scrub run --json` prints, as far as the local-stack tests read it. */
export interface ScrubRunJson {
  readonly status: string;
  readonly chunksVerified: number;
  readonly corrupt: readonly { readonly key: string; readonly images: readonly string[] }[];
  readonly missing: readonly unknown[];
}

/** `rbp scrub run --all`, waited for (polling every 0.2 s): what the finished run prints. */
export function scrubAll(rbp: Rbp): Promise<ScrubRunJson> {
  return rbp.json<ScrubRunJson>('scrub', 'run', '--all', '--wait', '--poll-interval', '0.2');
}

/** `rbp backup start --server SERVER`, waited for (at most 600 s): what the finished backup prints. */
export function backupServer<T>(rbp: Rbp, serverId: string): Promise<T> {
  return rbp.json<T>('backup', 'start', '--server', serverId, '--wait', '--timeout', '600');
}

/** What `createSdkClients` (and the local deployment's helpers) need to reach the file's local stack. */
export type LocalClientOptions = Required<Pick<ClientOptions, 'endpoint' | 'region' | 'credentials'>>;

function clientOptionsOf(local: LocalStackHandle): LocalClientOptions {
  const config = local.clientConfig();
  return { endpoint: config.endpoint, region: config.region, credentials: { ...config.credentials } };
}

/** A value set in beforeAll, read inside the tests (reading it earlier is the test's bug). */
function lateValue<T>(what: string): { get(): T; set(value: T | undefined): void } {
  let value: T | undefined;
  return {
    get: () => {
      if (value === undefined) throw new Error(`${what} exists only inside the tests of the file`);
      return value;
    },
    set: (next) => (value = next),
  };
}

/** Removes the scratch directory, if beforeAll got as far as making it. */
async function removeScratch(work: { get(): string }): Promise<void> {
  let dir: string;
  try {
    dir = work.get();
  } catch {
    return;
  }
  await removeDir(dir);
}

/** One more image of the API fixture's replica. */
export interface ApiBackup {
  readonly imageId: string;
  readonly createdAt: string;
  readonly parent: string;
}

/** One more image after debugfs wrote `text` as the file's new content. */
export interface FileVersion {
  readonly imageId: string;
  readonly createdAt: string;
  readonly text: string;
}

export interface LocalApiProduct {
  readonly local: LocalStackHandle;
  readonly stack: LocalStack;
  /** The file's scratch directory (the fixture's images and source tree are in it). */
  readonly work: string;
  readonly api: LocalApi;
  /** `rbp` against the API on the gateway. */
  readonly rbp: Rbp;
  /** Options for `createSdkClients` on this stack. */
  clientOptions(): LocalClientOptions;
  /** Serves the API with the lifecycle routes too (retention, images delete, gc, scrub, cost); returns its clients. */
  serveLifecycleApi(lifecycleFunction?: string): SdkClients;
  /** Backs the replica up as it is now (the engine in process, no catalog). */
  backUp(backup: ApiBackup): Promise<void>;
  /**
   * Backs the replica up once per version, each after debugfs wrote the version's text to `file`
   * (from the fixture's second disk on, parent img-b); returns each image's disk image file.
   */
  backUpVersions(file: string, versions: readonly FileVersion[]): Promise<Map<string, string>>;
  /** The image's first 32 MiB (the API fixture's ext4 image). */
  imageBytes(imageId: string): Promise<Buffer>;
}

/** The API fixture on the file's own local stack, set up before its tests and torn down after them. */
export function useLocalApiProduct(name: string): LocalApiProduct {
  const local = useLocalStack({ snapshotCompletionDelayMs: SNAPSHOT_COMPLETION_DELAY_MS });
  const work = lateValue<string>('the scratch directory');
  const api = lateValue<LocalApi>('the API fixture');
  beforeAll(async () => {
    work.set(await scratchDir(name));
    api.set(await setUpLocalApi(local.stack, local.clientConfig(), work.get()));
  }, 300_000);
  afterAll(async () => {
    try {
      api.get().close();
    } catch {
      // beforeAll failed before the fixture was up: nothing to close.
    }
    api.set(undefined);
    await removeScratch(work);
  });
  const rbp = rbpWith(() => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...api.get().env };
    delete env.RBP_API_URL;
    return env;
  });
  const backUp = async ({ imageId, createdAt, parent }: ApiBackup): Promise<void> => {
    const { engine, volumeId } = api.get();
    await runBackup(unpacedBackupDeps(engine), {
      volumeId,
      imageId,
      snapshotId: await snapshotOf(engine, volumeId),
      volumeSizeGib: 1,
      createdAt,
      parent: { imageId: parent },
    });
  };
  const product: LocalApiProduct = {
    local,
    get stack() {
      return local.stack;
    },
    get work() {
      return work.get();
    },
    get api() {
      return api.get();
    },
    rbp,
    clientOptions: () => clientOptionsOf(local),
    serveLifecycleApi(lifecycleFunction) {
      const control = createSdkClients('control', clientOptionsOf(local));
      const lifecycle = createLifecycleApi(
        { tableName: LOCAL_API_NAMES.table, imageBucket: LOCAL_API_NAMES.imageBucket },
        control,
        systemClock,
        ...(lifecycleFunction === undefined ? [] : [lifecycleFunction]),
      );
      local.stack.gateway.setApiHandler(createApiHandler({ ...api.get().deps, lifecycle }, () => undefined));
      return control;
    },
    backUp,
    async backUpVersions(file, versions) {
      const disks = new Map<string, string>();
      let previous = path.join(work.get(), 'changed.img');
      let parent = 'img-b';
      for (const { imageId, createdAt, text } of versions) {
        const disk = path.join(work.get(), `${imageId}.img`);
        await copyFile(previous, disk);
        const content = path.join(work.get(), `${imageId}.txt`);
        await writeFile(content, text);
        await debugfs(disk, [...(disks.size === 0 ? [] : [`rm ${file}`]), `write ${content} ${file}`]);
        await replicateDifferences(local.stack, api.get().volumeId, previous, disk);
        await backUp({ imageId, createdAt, parent });
        disks.set(imageId, disk);
        previous = disk;
        parent = imageId;
      }
      return disks;
    },
    imageBytes: (imageId) => readImage(api.get().engine, api.get().volumeId, imageId, API_FIXTURE_DISK_BYTES),
  };
  return product;
}

export interface DeployedProductOptions extends Pick<DeployOptions, 'handlerEnv' | 'objectLock'> {
  /** EC2 snapshots complete this long after they start (the stack's emulation). */
  readonly snapshotCompletionDelayMs?: number;
}

/** A replica disk: a 32 MiB ext4 image of given files, as `makeReplica` made it. */
export interface ReplicaDisk {
  readonly volumeId: string;
  /** The ext4 image file. */
  readonly image: string;
}

/** Where a replica belongs, and its filesystem's label. */
export interface ReplicaPlacement {
  readonly serverId?: string;
  readonly device?: string;
  readonly label?: string;
}

/** The API's answer to one request: its status and its JSON body. */
export interface ApiAnswer<T> {
  readonly status: number;
  readonly body: T;
}

/** Sends `method path` to the REST API at `apiUrl`, `body` (if given) as JSON, and parses the JSON answer. */
export async function callApi<T = unknown>(
  apiUrl: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<ApiAnswer<T>> {
  const answer = await fetch(`${apiUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: answer.status, body: (await answer.json()) as T };
}

export interface LocalDeployedProduct {
  readonly local: LocalStackHandle;
  readonly stack: LocalStack;
  readonly work: string;
  readonly product: DeployedProduct;
  /** The engine's adapters over the deployment's table and image bucket. */
  readonly engine: LocalEngine;
  /** The lifecycle jobs' view of the image bucket. */
  readonly objects: S3LifecycleObjectStore;
  /** `rbp` against the deployment's API. */
  readonly rbp: Rbp;
  /** One request to the deployment's REST API (`callApi` on its URL). */
  api<T = unknown>(method: string, route: string, body?: unknown): Promise<ApiAnswer<T>>;
  /** Writes `files` (path below the root → content) into a 32 MiB ext4 image and registers it as a replica. */
  makeReplica(
    name: string,
    files: Readonly<Record<string, string | Uint8Array>>,
    placement?: ReplicaPlacement,
  ): Promise<ReplicaDisk>;
}

/** Each replica disk: big enough for a real ext4 with a journal, small enough for moto on a loaded machine. */
const REPLICA_DISK_BYTES = 32 * 1024 * 1024;

/**
 * The whole product deployed on the file's own local stack before its tests. Deploying sets the
 * handlers' configuration in process.env (as Lambda's environment); it is put back after them.
 */
export function useDeployedProduct(name: string, options: DeployedProductOptions = {}): LocalDeployedProduct {
  const local = useLocalStack({
    snapshotCompletionDelayMs: options.snapshotCompletionDelayMs ?? SNAPSHOT_COMPLETION_DELAY_MS,
  });
  const savedEnv = { ...process.env };
  const work = lateValue<string>('the scratch directory');
  const product = lateValue<DeployedProduct>('the deployment');
  const engine = lateValue<LocalEngine>('the engine');
  const objects = lateValue<S3LifecycleObjectStore>('the lifecycle object store');
  beforeAll(async () => {
    work.set(await scratchDir(name));
    const deployed = await deployProduct(local.stack, {
      handlerEnv: options.handlerEnv,
      ...(options.objectLock === undefined ? {} : { objectLock: options.objectLock }),
    });
    product.set(deployed);
    const names = { bucket: deployed.names.imageBucket, table: deployed.names.table };
    engine.set(await localEngine(local.clientConfig({ maxAttempts: 3 }), names, fastRetry()));
    objects.set(new S3LifecycleObjectStore(engine.get().s3Client, deployed.names.imageBucket));
  }, 300_000);
  afterAll(async () => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    try {
      engine.get().destroy();
    } catch {
      // beforeAll failed before the engine was made.
    }
    await removeScratch(work);
  });
  return {
    local,
    get stack() {
      return local.stack;
    },
    get work() {
      return work.get();
    },
    get product() {
      return product.get();
    },
    get engine() {
      return engine.get();
    },
    get objects() {
      return objects.get();
    },
    rbp: rbpWith(() => ({ ...process.env, RBP_API_URL: product.get().apiUrl })),
    api: (method, route, body) => callApi(product.get().apiUrl, method, route, body),
    async makeReplica(diskName, files, placement = {}) {
      const source = path.join(work.get(), diskName);
      for (const [file, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(source, file)), { recursive: true });
        await writeFile(path.join(source, file), content);
      }
      const image = path.join(work.get(), `${diskName}.img`);
      await makeExtImage(image, {
        type: 'ext4',
        sizeBytes: REPLICA_DISK_BYTES,
        sourceDir: source,
        ...(placement.label === undefined ? {} : { label: placement.label }),
      });
      const { volumeId } = await local.stack.replicas.create({
        imagePath: image,
        ...(placement.serverId === undefined ? {} : { serverId: placement.serverId }),
        ...(placement.device === undefined ? {} : { device: placement.device }),
      });
      return { volumeId, image };
    },
  };
}
