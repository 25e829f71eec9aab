/**
 * The small ports a plan run works over. Adapters (AWS, the local stack) and test fakes implement
 * them; the run engine (run-engine.ts) is pure apart from calling these.
 */
import type { Clock } from '../ports.ts';
import type { BackupSource } from './source-selection.ts';
import type { ServerView } from './servers.ts';
import type { PlanSettings } from './settings.ts';

/** The global settings (`GET/PUT /settings`). */
export interface SettingsReader {
  read(): Promise<PlanSettings>;
}

/** Reads and replaces the global settings (`PUT /settings`); the API applies the update. */
export interface SettingsStore extends SettingsReader {
  write(settings: PlanSettings): Promise<void>;
}

/** What the destination holds and can take. */
export interface DestinationUsage {
  /** Bytes stored in the image bucket. */
  readonly storedBytes: number;
  /** Snapshots that may still be started before EC2's concurrent-snapshot limit is reached. */
  readonly freeSnapshotSlots: number;
}

export interface Destination {
  /**
   * Writes and deletes a probe object in the image bucket with its KMS key. Undefined when both
   * worked, else why not (e.g. `AccessDenied on kms:GenerateDataKey`).
   */
  probeWritable(): Promise<string | undefined>;
  usage(): Promise<DestinationUsage>;
}

export interface ServerDirectory {
  /** Every protected server. */
  list(): Promise<readonly ServerView[]>;
  /** One server by its source-server id; undefined when there is none. */
  get(name: string): Promise<ServerView | undefined>;
}

/** The JSON a hook function receives (docs/plans.md, "Hooks"). */
export interface HookPayload {
  readonly version: 1;
  readonly phase: 'pre-plan' | 'pre-task' | 'post-task';
  readonly plan: string;
  readonly run: string;
  readonly server?: string;
  readonly task?: {
    readonly index: number;
    readonly server: string;
    readonly application?: string;
    readonly status: string;
    readonly reason?: string;
    readonly source?: BackupSource;
    readonly backupId?: string;
    readonly imageIds?: readonly string[];
  };
}

export interface HookInvoker {
  /**
   * Invokes the function synchronously and returns what it returned (parsed JSON; null when it
   * returned nothing). Throws when the function fails or does not answer within `timeoutSeconds`;
   * a retryable RbpError (throttling) is retried by the run, anything else fails the hook.
   */
  invoke(functionName: string, payload: HookPayload, timeoutSeconds: number): Promise<unknown>;
}

export interface QuiesceRequest {
  /** Unique per task and attempt; the agent treats a repeated id as the same request. */
  readonly requestId: string;
  readonly server: string;
  /** The application to quiesce; the whole server when absent. */
  readonly application?: string;
  readonly timeoutSeconds: number;
}

export interface QuiesceAgent {
  /** Applications of the server that are quiesced right now (by anyone). */
  quiescedApplications(server: string): Promise<readonly string[]>;
  requestQuiesce(request: QuiesceRequest): Promise<void>;
  /** True once the agent confirmed the quiesce of this request. */
  isQuiesced(requestId: string): Promise<boolean>;
  requestRelease(request: QuiesceRequest): Promise<void>;
  /** True once the agent confirmed the release of this request. */
  isReleased(requestId: string): Promise<boolean>;
}

export interface BackupStart {
  /** Deterministic per task and attempt, so a repeated start is the same backup. */
  readonly backupId: string;
  readonly plan: string;
  readonly runId: string;
  readonly taskIndex: number;
  readonly server: string;
  readonly application?: string;
  readonly source: BackupSource;
}

export type BackupProgress =
  | { readonly state: 'running' }
  | { readonly state: 'succeeded'; readonly imageIds: readonly string[] }
  /** It ended without a backup: a running backup held the server's volumes (the task is Skipped). */
  | { readonly state: 'skipped'; readonly reason: string }
  | { readonly state: 'failed'; readonly errorName: string; readonly reason: string };

export interface BackupStarter {
  /** Starts the backup state machine; starting the same backupId again is a no-op. */
  start(request: BackupStart): Promise<void>;
  progress(backupId: string): Promise<BackupProgress>;
}

export interface PlanRunPorts {
  readonly clock: Clock;
  readonly settings: SettingsReader;
  readonly destination: Destination;
  readonly servers: ServerDirectory;
  readonly hooks: HookInvoker;
  readonly quiesce: QuiesceAgent;
  readonly backups: BackupStarter;
}
