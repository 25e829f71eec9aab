/**
 * AWS adapters of the workflow-run ports (core/workflows/workflow-run-ports.ts): the run records
 * in the product table (workflow-run-store.ts), the run state machine's executions, EC2 snapshots, volumes and
 * attachments, and masking hooks through Lambda Invoke.
 */
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError, PermanentError } from '../core/errors.ts';
import type { WorkflowRunStore } from '../core/workflows/workflow-run.ts';
import type {
  CloneResources,
  CloneSnapshotState,
  CloneVolume,
  WorkflowRunExecutions,
} from '../core/workflows/workflow-run-ports.ts';
import type { MaskingHookEvent, MaskingHookInvoker } from '../core/workflows/masking.ts';
import { RUN_ID_TAG } from '../core/workflows/workflow-run-engine.ts';
import { DynamoDbWorkflowRuns } from './workflow-run-store.ts';
import { Ec2WorkflowResources } from './ec2-workflow-resources.ts';
import { invokeForAnswer } from './lambda-request-response.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

export {
  DynamoDbWorkflowRuns,
  WORKFLOW_RUN_PARTITION,
  WORKFLOW_RUN_RECORDS,
  WORKFLOW_RUN_TABLE_KEYS,
  WORKFLOW_RUNS_PARTITION_PREFIX,
} from './workflow-run-store.ts';

/** The run store: records by run id, and each workflow's runs newest first (workflow-run-store.ts). */
export function dynamoDbWorkflowRuns(documents: DynamoDBDocumentClient, tableName: string): WorkflowRunStore {
  return new DynamoDbWorkflowRuns(documents, tableName);
}

/** Starts the run state machine, the execution named by the run id (input `{runId}`). */
export class SfnWorkflowRunExecutions implements WorkflowRunExecutions {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(runId: string): Promise<void> {
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: runId,
          input: JSON.stringify({ runId }),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionAlreadyExists') {
        throw new ConflictError(`workflow run ${runId} already has an execution`, {
          cause: error,
          context: { runId },
        });
      }
      throw translateSdkError(error, 'StartExecution (workflow run)', { runId });
    }
  }
}

/** EC2 error codes of a resource that does not exist (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html). */
const ABSENT_SNAPSHOT_ERRORS = new Set(['InvalidSnapshot.NotFound', 'InvalidSnapshotID.Malformed']);
const ABSENT_VOLUME_ERRORS = new Set(['InvalidVolume.NotFound', 'InvalidVolumeID.Malformed']);

function tagList(tags: Readonly<Record<string, string>>): { Key: string; Value: string }[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export class Ec2CloneResources implements CloneResources {
  constructor(private readonly ec2: EC2Client) {}

  async snapshotState(snapshotId: string): Promise<CloneSnapshotState> {
    let answer;
    try {
      answer = await this.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    } catch (error) {
      if (ABSENT_SNAPSHOT_ERRORS.has(sdkErrorName(error) ?? '')) return 'absent';
      throw translateSdkError(error, 'DescribeSnapshots (clone)', { snapshotId });
    }
    const state = answer.Snapshots?.[0]?.State;
    if (state === undefined) return 'absent';
    return state === 'completed' || state === 'error' ? state : 'pending';
  }

  async tag(resourceIds: readonly string[], tags: Readonly<Record<string, string>>): Promise<void> {
    if (resourceIds.length === 0) return;
    await callSdk('CreateTags (clone)', { resources: resourceIds.join(',') }, () =>
      this.ec2.send(new CreateTagsCommand({ Resources: [...resourceIds], Tags: tagList(tags) })),
    );
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    try {
      await this.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    } catch (error) {
      if (ABSENT_SNAPSHOT_ERRORS.has(sdkErrorName(error) ?? '')) return;
      throw translateSdkError(error, 'DeleteSnapshot (clone)', { snapshotId });
    }
  }

  async createVolume(request: {
    readonly snapshotId: string;
    readonly availabilityZone: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly clientToken: string;
  }): Promise<string> {
    const answer = await callSdk('CreateVolume (clone)', { snapshotId: request.snapshotId }, () =>
      this.ec2.send(
        new CreateVolumeCommand({
          SnapshotId: request.snapshotId,
          AvailabilityZone: request.availabilityZone,
          VolumeType: 'gp3',
          ClientToken: request.clientToken,
          TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(request.tags) }],
        }),
      ),
    );
    if (answer.VolumeId === undefined) {
      throw new PermanentError(`CreateVolume from ${request.snapshotId} answered no volume id`, {
        context: { snapshotId: request.snapshotId },
      });
    }
    return answer.VolumeId;
  }

  async describeVolume(volumeId: string): Promise<CloneVolume | undefined> {
    let answer;
    try {
      answer = await this.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    } catch (error) {
      if (ABSENT_VOLUME_ERRORS.has(sdkErrorName(error) ?? '')) return undefined;
      throw translateSdkError(error, 'DescribeVolumes (clone)', { volumeId });
    }
    const volume = answer.Volumes?.[0];
    if (volume === undefined) return undefined;
    return {
      volumeId,
      state: volume.State ?? 'error',
      availabilityZone: volume.AvailabilityZone ?? '',
      attachments: (volume.Attachments ?? []).map((a) => ({
        instanceId: a.InstanceId ?? '',
        device: a.Device ?? '',
        state: a.State ?? 'attached',
      })),
    };
  }

  async attachVolume(volumeId: string, instanceId: string, device: string): Promise<void> {
    await callSdk('AttachVolume (mount)', { volumeId, instanceId, device }, () =>
      this.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })),
    );
  }

  async detachVolume(volumeId: string, instanceId: string): Promise<void> {
    await callSdk('DetachVolume (mount)', { volumeId, instanceId }, () =>
      this.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId })),
    );
  }

  async deleteVolume(volumeId: string): Promise<void> {
    try {
      await this.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    } catch (error) {
      if (ABSENT_VOLUME_ERRORS.has(sdkErrorName(error) ?? '')) return;
      throw translateSdkError(error, 'DeleteVolume (clone)', { volumeId });
    }
  }

  async taggedWithRun(
    runId: string,
  ): Promise<{ snapshotIds: readonly string[]; volumeIds: readonly string[] }> {
    const found = await new Ec2WorkflowResources(this.ec2).findTagged(RUN_ID_TAG, runId);
    return { snapshotIds: found.snapshotIds, volumeIds: found.volumes.map((v) => v.volumeId) };
  }
}

/**
 * Masking hooks through Lambda Invoke (RequestResponse): a function error (`FunctionError` set)
 * or no answer within the timeout is a failure
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
 */
export class LambdaMaskingHooks implements MaskingHookInvoker {
  constructor(private readonly lambda: LambdaClient) {}

  invoke(functionName: string, request: MaskingHookEvent, timeoutSeconds: number): Promise<unknown> {
    return invokeForAnswer(this.lambda, functionName, request, timeoutSeconds, 'Invoke (masking hook)');
  }
}
