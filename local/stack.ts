/**
 * The embedded local AWS stack: moto (S3, DynamoDB, EC2, Step Functions, Scheduler, ...) behind the
 * local gateway (EBS direct API emulator, in-process Lambda handlers, API adapter, faults), with
 * replica volumes backed by raw image files. Everything it starts is stopped by stop().
 *
 *   const stack = await startLocalStack({ stateDir });
 *   const ec2 = new EC2Client({});   // with stack.env in process.env, or { endpoint: stack.endpoint, ... }
 *   const replica = await stack.replicas.create({ imagePath });
 *   ...
 *   await stack.stop();
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import type { Clock } from '../lambdas/core/ports.ts';
import { EbsEmulator } from './ebs/ebs-emulator.ts';
import { LocalGateway } from './gateway/local-gateway.ts';
import { LOCAL_ACCESS_KEY_ID, LOCAL_REGION, LOCAL_SECRET_ACCESS_KEY } from './gateway/local-account.ts';
import { MotoAdmin } from './moto/moto-admin.ts';
import { startMoto, type MotoServer } from './moto/moto-server.ts';
import { ReplicaRegistry } from './replica/replica-registry.ts';
import { ReplicaSimulator } from './replica/replica-simulator.ts';
import { ReplicaVolumes } from './replica/replica-volumes.ts';

/**
 * Time from EC2 CreateSnapshot of a replica until the snapshot is `completed`: long enough that a
 * client polling every few hundred ms sees `pending` (as it would in AWS), short for local runs.
 */
export const DEFAULT_SNAPSHOT_COMPLETION_DELAY_MS = 1_000;

/** moto's saved state inside the state directory (moto itself keeps everything in memory). */
export const MOTO_STATE_FILE = 'moto-state.pickle';
/**
 * How often a stack that keeps its state saves moto's when requests were served since the last
 * save: a crash loses at most this much; a save of a small stack takes milliseconds.
 */
export const MOTO_STATE_SAVE_INTERVAL_MS = 5_000;
/** Saves tried when the stack stops before giving up (a save races the last requests' handlers). */
const STOP_SAVE_ATTEMPTS = 3;

export interface LocalStackOptions {
  /** Images, EBS emulator data, the replica registry, the command functions and moto's log live here. */
  readonly stateDir: string;
  /** The gateway's port; default a free one. */
  readonly port?: number;
  readonly snapshotCompletionDelayMs?: number;
  /** The EBS emulator's and the snapshot bridge's time (tests freeze it); default the system clock. */
  readonly clock?: Clock;
  /**
   * Keep moto's state (tables, buckets, state machines and executions, schedules) across a
   * restart in the state directory: loaded at start, saved every MOTO_STATE_SAVE_INTERVAL_MS while
   * requests arrive and at stop. Default false: moto starts empty (the replicas and the emulator's
   * snapshots are kept either way).
   */
  readonly keepState?: boolean;
}

export interface LocalStack {
  /** The gateway: http://127.0.0.1:PORT (an IP, so the S3 client uses path-style addressing). */
  readonly endpoint: string;
  /** What a client process needs: AWS_ENDPOINT_URL, region, dummy credentials, no IMDS. */
  readonly env: Readonly<Record<string, string>>;
  readonly gateway: LocalGateway;
  readonly emulator: EbsEmulator;
  readonly replicas: ReplicaVolumes;
  /** The replica simulator: writes, discards, checkpoint and sync tags. */
  readonly agent: ReplicaSimulator;
  readonly moto: MotoServer;
  readonly stateDir: string;
  /** Saves moto's state now (a no-op unless the stack keeps its state). */
  saveState(): Promise<void>;
  stop(): Promise<void>;
}

export function localClientEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: LOCAL_SECRET_ACCESS_KEY,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const stateDir = resolve(options.stateDir);
  await mkdir(stateDir, { recursive: true });
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error('[local stack] stop step failed', error);
      }
    }
  };
  try {
    const gateway = await LocalGateway.listen(options.port === undefined ? {} : { port: options.port });
    cleanups.push(() => gateway.close());
    // moto's start-up (Python imports) dominates; load the emulator's and the registry's state meanwhile.
    const [motoResult, emulatorResult, registryResult] = await Promise.allSettled([
      startMoto({
        callbackPort: gateway.port,
        logPath: join(stateDir, 'moto.log'),
        ...(options.keepState === true ? { statePath: join(stateDir, MOTO_STATE_FILE) } : {}),
      }),
      EbsEmulator.open({
        stateDir: join(stateDir, 'ebs'),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      }),
      ReplicaRegistry.open(stateDir),
    ]);
    if (motoResult.status === 'fulfilled') {
      const started = motoResult.value;
      cleanups.push(() => started.stop());
    }
    if (motoResult.status === 'rejected') throw motoResult.reason;
    if (emulatorResult.status === 'rejected') throw emulatorResult.reason;
    if (registryResult.status === 'rejected') throw registryResult.reason;
    const moto = motoResult.value;
    const emulator = emulatorResult.value;
    const registry = registryResult.value;

    const ec2 = new EC2Client({
      endpoint: moto.endpoint,
      region: LOCAL_REGION,
      credentials: { accessKeyId: LOCAL_ACCESS_KEY_ID, secretAccessKey: LOCAL_SECRET_ACCESS_KEY },
    });
    cleanups.push(() => Promise.resolve(ec2.destroy()));
    const motoAdmin = new MotoAdmin(moto.endpoint);
    const replicas = new ReplicaVolumes({ registry, ec2 });
    const agent = new ReplicaSimulator(replicas, emulator);
    cleanups.push(() => Promise.resolve(agent.stop()));

    // moto keeps nothing across restarts: re-create the registered replica volumes under their ids.
    for (const record of registry.list()) {
      await motoAdmin.putVolume({
        volumeId: record.volumeId,
        sizeGib: record.volumeSizeGib,
        tags: record.tags,
      });
    }
    gateway.connect({
      motoEndpoint: moto.endpoint,
      motoPid: moto.pid,
      moto: motoAdmin,
      emulator,
      replicas,
      agent,
      snapshotCompletionDelayMs: options.snapshotCompletionDelayMs ?? DEFAULT_SNAPSHOT_COMPLETION_DELAY_MS,
      volumeImageDir: join(stateDir, 'volumes'),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    await gateway.snapshots!.registerExisting();
    // `rbp local function create` functions are kept in the state directory, as the replicas are.
    await gateway.commandFunctions.openState(stateDir);

    const saveState =
      options.keepState === true ? keepSavingState(gateway, motoAdmin, cleanups) : () => Promise.resolve();
    return {
      endpoint: gateway.endpoint,
      env: localClientEnv(gateway.endpoint),
      gateway,
      emulator,
      replicas,
      agent,
      moto,
      stateDir,
      saveState,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function requestsServed(gateway: Pick<LocalGateway, 'stats'>): number {
  return Object.values(gateway.stats().requests).reduce((sum, count) => sum + count, 0);
}

/**
 * Saves moto's state every MOTO_STATE_SAVE_INTERVAL_MS when requests were served since the last
 * save, and once more when the stack stops (before moto does: the cleanup is pushed after moto's).
 * Saves never overlap. Returns the save-now function.
 */
export function keepSavingState(
  gateway: Pick<LocalGateway, 'stats'>,
  moto: Pick<MotoAdmin, 'saveState'>,
  cleanups: (() => Promise<void>)[],
): () => Promise<void> {
  let saving: Promise<void> = Promise.resolve();
  let savedAt = requestsServed(gateway);
  const save = (): Promise<void> => {
    // After the previous save, failed or not: a failed save must not fail every later one.
    saving = saving
      .catch(() => undefined)
      .then(async () => {
        const served = requestsServed(gateway);
        await moto.saveState();
        savedAt = served;
      });
    return saving;
  };
  const timer = setInterval(() => {
    if (requestsServed(gateway) === savedAt) return;
    save().catch((error: unknown) => console.error('[local stack] saving moto state failed', error));
  }, MOTO_STATE_SAVE_INTERVAL_MS);
  timer.unref();
  cleanups.push(async () => {
    clearInterval(timer);
    await saving.catch(() => undefined);
    // The last save decides what a restart sees: a failed one would bring back the state of up to
    // MOTO_STATE_SAVE_INTERVAL_MS earlier (an execution that has since succeeded comes back ABORTED).
    for (let attempt = 1; ; attempt += 1) {
      try {
        await save();
        return;
      } catch (error) {
        if (attempt >= STOP_SAVE_ATTEMPTS) throw error;
        console.error(
          `[local stack] saving moto state at stop failed (attempt ${attempt}), trying again`,
          error,
        );
      }
    }
  });
  return save;
}
