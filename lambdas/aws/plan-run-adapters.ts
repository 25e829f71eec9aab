/**
 * AWS adapters of the plan-run ports (core/plans/plan-ports.ts, run-service.ts):
 *
 * - the destination: a probe object written to and deleted from the image bucket (the bucket's
 *   default SSE-KMS encryption makes the put exercise the key), stored bytes and snapshot slots;
 * - hooks: Lambda Invoke, RequestResponse, aborted after the hook's timeout;
 * - the quiesce agent: `Quiesce Requested` / `Release Requested` events to the replication agent
 *   on EventBridge, and its answers as tags on the server's replica volumes (below);
 * - backups: one execution of the backup state machine over the server's replica volumes;
 * - the outcome: `Plan Task Failed` / `Plan Run Finished` (and the RPO check's `RPO Breached` /
 *   `RPO Recovered` / `RPO Unwatched`) on EventBridge (source `rbp.plans`) and the SNS topic.
 *
 * The agent's answers (tags on every replica volume of the server, set by the agent):
 * - `rbp:quiesced`: the applications quiesced right now, comma-separated (`*`: the whole server);
 * - `rbp:quiesce-confirmed`: the id of the last quiesce request the agent completed;
 * - `rbp:release-confirmed`: the id of the last release request the agent completed.
 */
import { DescribeExecutionCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { DescribeSnapshotsCommand, DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import {
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { describeError, PermanentError, RetryableError } from '../core/errors.ts';
import type {
  BackupProgress,
  BackupStart,
  BackupStarter,
  Destination,
  DestinationUsage,
  HookInvoker,
  HookPayload,
  QuiesceAgent,
  QuiesceRequest,
  ServerDirectory,
} from '../core/plans/plan-ports.ts';
import type { PlanEventPublisher } from '../core/plans/run-service.ts';
import {
  PLAN_EVENT_SOURCE,
  PLAN_RUN_FINISHED,
  PLAN_TASK_FAILED,
  type PlanEvent,
} from '../core/plans/run-engine.ts';
import { RPO_BREACHED, RPO_RECOVERED, RPO_UNWATCHED } from '../core/plans/rpo.ts';
import { SNS_SUBJECT_MAX_CHARS } from '../core/orchestration/backup-outcome.ts';
import { planTrigger } from '../core/orchestration/backup-request.ts';
import {
  serverBackupSettingsInput,
  type ServerBackupSettingsReader,
} from '../core/orchestration/server-backup-settings.ts';
import { executionArnOf } from './sfn-backup-executions.ts';
import { invokeForAnswer } from './lambda-request-response.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

export { PLAN_EVENT_SOURCE };
export const QUIESCE_REQUESTED = 'Quiesce Requested';
export const RELEASE_REQUESTED = 'Release Requested';
/** Version of the quiesce event detail; bumped only for incompatible changes. */
export const QUIESCE_EVENT_VERSION = 1;
export const QUIESCED_TAG = 'rbp:quiesced';
export const QUIESCE_CONFIRMED_TAG = 'rbp:quiesce-confirmed';
export const RELEASE_CONFIRMED_TAG = 'rbp:release-confirmed';
/** The probe object's key: one fixed key, so an interrupted probe leaves at most one small object. */
export const DESTINATION_PROBE_KEY = 'probes/plan-run-probe';
/**
 * Snapshots that may be pending at once before a plan stops starting backups. EC2 limits
 * concurrent snapshots per volume and, as a quota, per account
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html); 100 stays below the
 * account quota's default and above what a plan's bounded task concurrency starts.
 */
export const MAX_PENDING_SNAPSHOTS = 100;
/** S3 ListObjectsV2 pages summed at most for stored bytes (1,000 keys a page): beyond, the sum is a floor. */
export const MAX_USAGE_LIST_PAGES = 1_000;

/** The probe write and delete, and the usage the capacity checks compare. */
export class S3Ec2Destination implements Destination {
  constructor(
    private readonly s3: S3Client,
    private readonly ec2: EC2Client,
    private readonly bucket: string,
  ) {}

  async probeWritable(): Promise<string | undefined> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: DESTINATION_PROBE_KEY, Body: 'rbp plan-run probe' }),
      );
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: DESTINATION_PROBE_KEY }));
      return undefined;
    } catch (error) {
      return describeError(translateSdkError(error, 'image bucket probe', { bucket: this.bucket }));
    }
  }

  async usage(): Promise<DestinationUsage> {
    let storedBytes = 0;
    let token: string | undefined;
    for (let page = 0; page < MAX_USAGE_LIST_PAGES; page += 1) {
      const current = token;
      const answer = await callSdk('ListObjectsV2 (usage)', { bucket: this.bucket }, () =>
        this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            ...(current === undefined ? {} : { ContinuationToken: current }),
          }),
        ),
      );
      for (const object of answer.Contents ?? []) storedBytes += object.Size ?? 0;
      token = answer.NextContinuationToken;
      if (token === undefined) break;
    }
    const pending = await callSdk('DescribeSnapshots (pending)', {}, () =>
      this.ec2.send(
        new DescribeSnapshotsCommand({
          OwnerIds: ['self'],
          Filters: [{ Name: 'status', Values: ['pending'] }],
        }),
      ),
    );
    return {
      storedBytes,
      freeSnapshotSlots: Math.max(0, MAX_PENDING_SNAPSHOTS - (pending.Snapshots ?? []).length),
    };
  }
}

/**
 * Hooks through Lambda Invoke (RequestResponse): a function error (`FunctionError` set) or no
 * answer within the timeout is a failure; throttling stays retryable
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
 */
export class LambdaHookInvoker implements HookInvoker {
  constructor(private readonly lambda: LambdaClient) {}

  invoke(functionName: string, payload: HookPayload, timeoutSeconds: number): Promise<unknown> {
    return invokeForAnswer(this.lambda, functionName, payload, timeoutSeconds, 'Invoke (hook)');
  }
}

function tagsOf(volume: { Tags?: { Key?: string; Value?: string }[] }): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of volume.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  return tags;
}

/** The quiesce agent over EventBridge requests and the agent's tags on the replica volumes. */
export class TagQuiesceAgent implements QuiesceAgent {
  constructor(
    private readonly events: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly ec2: EC2Client,
    private readonly servers: ServerDirectory,
    private readonly clock: { now(): Date },
  ) {}

  async quiescedApplications(server: string): Promise<readonly string[]> {
    const found = await this.servers.get(server);
    const quiesced = new Set<string>();
    for (const volume of found?.volumes ?? []) {
      for (const name of (volume.tags[QUIESCED_TAG] ?? '').split(',')) {
        if (name.trim() !== '') quiesced.add(name.trim());
      }
    }
    return [...quiesced];
  }

  requestQuiesce(request: QuiesceRequest): Promise<void> {
    return this.send(QUIESCE_REQUESTED, request);
  }

  requestRelease(request: QuiesceRequest): Promise<void> {
    return this.send(RELEASE_REQUESTED, request);
  }

  isQuiesced(requestId: string): Promise<boolean> {
    return this.confirmed(QUIESCE_CONFIRMED_TAG, requestId);
  }

  isReleased(requestId: string): Promise<boolean> {
    return this.confirmed(RELEASE_CONFIRMED_TAG, requestId);
  }

  private async confirmed(tag: string, requestId: string): Promise<boolean> {
    const answer = await callSdk('DescribeVolumes (agent confirmation)', { requestId }, () =>
      this.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: `tag:${tag}`, Values: [requestId] }] })),
    );
    return (answer.Volumes ?? []).some((volume) => tagsOf(volume)[tag] === requestId);
  }

  private async send(detailType: string, request: QuiesceRequest): Promise<void> {
    const server = await this.servers.get(request.server);
    const detail = {
      version: QUIESCE_EVENT_VERSION,
      requestId: request.requestId,
      serverId: request.server,
      ...(request.application === undefined ? {} : { application: request.application }),
      volumeIds: (server?.volumes ?? []).map((v) => v.volumeId),
      timeoutSeconds: request.timeoutSeconds,
      requestedAt: this.clock.now().toISOString(),
    };
    await putEvents(this.events, this.eventBusName, [{ detailType, detail }]);
  }
}

async function putEvents(
  events: EventBridgeClient,
  eventBusName: string,
  entries: readonly { detailType: string; detail: object }[],
): Promise<void> {
  const answer = await callSdk('PutEvents (plans)', {}, () =>
    events.send(
      new PutEventsCommand({
        Entries: entries.map((e) => ({
          EventBusName: eventBusName,
          Source: PLAN_EVENT_SOURCE,
          DetailType: e.detailType,
          Detail: JSON.stringify(e.detail),
        })),
      }),
    ),
  );
  if ((answer.FailedEntryCount ?? 0) > 0) {
    const failed = answer.Entries?.find((e) => e.ErrorCode !== undefined);
    throw new RetryableError(
      `PutEvents refused ${answer.FailedEntryCount} plan event(s): ${failed?.ErrorCode ?? '?'} ${failed?.ErrorMessage ?? ''}`.trimEnd(),
    );
  }
}

/** What a plan task's backup executions are started with besides the volumes (polling of the waits). */
export interface PlanBackupOptions {
  /** Merged into every execution input (e.g. `syncWait`, `snapshotWait` on the local stack). */
  readonly inputDefaults?: Readonly<Record<string, unknown>>;
  /**
   * The servers' configured `probe`, `syncWait` and `snapshotWait` (lib/config.ts `servers[]`),
   * merged over inputDefaults: a server's own settings win over the deployment's defaults. A
   * server's configured `volumeIds` that are not its tagged volumes fail the start.
   */
  readonly serverSettings?: ServerBackupSettingsReader;
}

/**
 * A task's backup: one execution of the backup state machine over every replica volume of the
 * server (one checkpoint, one recovery point), named by the backup id so that starting it again
 * is a no-op (ExecutionAlreadyExists).
 */
export class SfnPlanBackups implements BackupStarter {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string,
    private readonly servers: ServerDirectory,
    private readonly options: PlanBackupOptions = {},
  ) {}

  async start(request: BackupStart): Promise<void> {
    const server = await this.servers.get(request.server);
    if (server === undefined || server.volumes.length === 0) {
      throw new PermanentError(`server ${request.server} has no replica volumes`, {
        context: { server: request.server },
      });
    }
    const volumeIds = server.volumes.map((v) => v.volumeId);
    // Refuses (ServerVolumesMismatchError, the task's failure) a configured list the tags do not match.
    const settings = await serverBackupSettingsInput(this.options.serverSettings, request.server, volumeIds);
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: request.backupId,
          input: JSON.stringify({
            ...this.options.inputDefaults,
            ...settings,
            serverId: request.server,
            volumeIds,
            // The replica is the backup state machine's default source; only the primary is named.
            ...(request.source === 'primary' ? { source: 'primary' } : {}),
            // Stored on the recovery point: the plan's expiry deletes only its own tasks' points,
            // and a task whose server a running backup holds is skipped as a scheduled run is.
            trigger: planTrigger(request.plan),
          }),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionAlreadyExists') return;
      throw translateSdkError(error, 'StartExecution (plan task)', { backupId: request.backupId });
    }
  }

  async progress(backupId: string): Promise<BackupProgress> {
    let answer;
    try {
      answer = await this.sfn.send(
        new DescribeExecutionCommand({ executionArn: executionArnOf(this.stateMachineArn, backupId) }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionDoesNotExist') {
        return {
          state: 'failed',
          errorName: 'NotFoundError',
          reason: `backup ${backupId} was never started`,
        };
      }
      throw translateSdkError(error, 'DescribeExecution (plan task)', { backupId });
    }
    if (answer.status === 'RUNNING' || answer.status === 'PENDING_REDRIVE') return { state: 'running' };
    if (answer.status !== 'SUCCEEDED') {
      const error = answer.error ?? answer.status ?? 'Failed';
      return {
        state: 'failed',
        errorName: error,
        reason: `backup ${backupId} ${String(answer.status).toLowerCase()}: ${error}${answer.cause === undefined ? '' : ` (${answer.cause})`}`,
      };
    }
    const skipped = skipReasonOfOutput(answer.output);
    if (skipped !== undefined) return { state: 'skipped', reason: `backup ${backupId} skipped: ${skipped}` };
    return { state: 'succeeded', imageIds: imageIdsOfOutput(answer.output) };
  }
}

/**
 * Why a backup execution that succeeded was skipped (`$.acquired.result.skipped.reason` of
 * backup.asl.json's "Backup Skipped": a running backup held the server's volumes), else undefined.
 */
export function skipReasonOfOutput(output: string | undefined): string | undefined {
  if (output === undefined) return undefined;
  try {
    const parsed = JSON.parse(output) as {
      acquired?: { result?: { skipped?: { reason?: unknown } } };
    };
    const reason = parsed.acquired?.result?.skipped?.reason;
    return typeof reason === 'string' ? reason : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The image ids of a succeeded backup execution, in volume order: the recovery point's
 * (`$.recoveryPoint.result.imageIds` of backup.asl.json), else the one image's (`$.image.result.imageId`).
 */
export function imageIdsOfOutput(output: string | undefined): string[] {
  if (output === undefined) return [];
  try {
    const parsed = JSON.parse(output) as {
      recoveryPoint?: { result?: { imageIds?: unknown } };
      image?: { result?: { imageId?: unknown } };
    };
    const ids = parsed.recoveryPoint?.result?.imageIds;
    if (Array.isArray(ids) && ids.every((id) => typeof id === 'string')) return ids;
    const id = parsed.image?.result?.imageId;
    return typeof id === 'string' ? [id] : [];
  } catch {
    return [];
  }
}

/** Plan events on EventBridge (source `rbp.plans`) and on the SNS topic, one message per event. */
export class PlanOutcomePublisher implements PlanEventPublisher {
  constructor(
    private readonly events: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(events: readonly PlanEvent[]): Promise<void> {
    if (events.length === 0) return;
    await putEvents(this.events, this.eventBusName, events);
    for (const event of events) {
      await callSdk('SNS Publish (plans)', { topicArn: this.topicArn }, () =>
        this.sns.send(
          new PublishCommand({
            TopicArn: this.topicArn,
            Subject: subjectOf(event),
            Message: JSON.stringify({ detailType: event.detailType, ...event.detail }, null, 2),
          }),
        ),
      );
    }
  }
}

function subjectOf(event: PlanEvent): string {
  return textOf(event).slice(0, SNS_SUBJECT_MAX_CHARS);
}

function textOf(event: PlanEvent): string {
  switch (event.detailType) {
    case PLAN_RUN_FINISHED:
      return `rbp plan ${event.detail.plan}: run ${event.detail.status}`;
    case PLAN_TASK_FAILED:
      return `rbp plan ${event.detail.plan}: task ${event.detail.task.server} failed`;
    case RPO_BREACHED:
      return `rbp RPO breached: ${event.detail.server} (target ${event.detail.targetMinutes} min, plan ${event.detail.plan})`;
    case RPO_RECOVERED:
      return `rbp RPO recovered: ${event.detail.server} (target ${event.detail.targetMinutes} min, plan ${event.detail.plan})`;
    case RPO_UNWATCHED:
      return `rbp RPO unwatched: ${event.detail.server} is no longer watched while in breach (${event.detail.why}, plan ${event.detail.plan})`;
  }
}
