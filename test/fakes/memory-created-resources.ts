/**
 * CreatedResources (lambdas/core/workflows/workflow-service.ts) over the workflow tests' in-memory
 * EC2 (MemoryEc2): the snapshots and volumes tagged `rbp:workflow=<name>`, a detach that returns
 * once the volume is free, and deletes where an absent snapshot or volume is success, as
 * Ec2WorkflowResources does on EC2.
 */
import {
  CREATED_BY_WORKFLOW_TAG,
  type CreatedResources,
  type WorkflowCreated,
} from '../../lambdas/core/workflows/workflow-service.ts';
import type { MemoryEc2 } from '../workflows/memory-workflow-world.ts';

export class MemoryCreatedResources implements CreatedResources {
  constructor(private readonly ec2: MemoryEc2) {}

  find(workflow: string): Promise<WorkflowCreated> {
    const ours = (tags: Record<string, string>): boolean => tags[CREATED_BY_WORKFLOW_TAG] === workflow;
    return Promise.resolve({
      snapshotIds: [...this.ec2.snapshots].flatMap(([id, s]) => (ours(s.tags) ? [id] : [])).sort(),
      volumes: [...this.ec2.volumes]
        .filter(([, v]) => ours(v.tags))
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([volumeId, v]) => ({
          volumeId,
          attachments:
            v.attachment === undefined || v.attachment.state === 'detaching'
              ? []
              : [{ instanceId: v.attachment.instanceId, device: v.attachment.device }],
        })),
    });
  }

  /** DetachVolume, then EC2 finishes it (the adapter waits until the volume is available). */
  async detach(volumeId: string, instanceId: string): Promise<void> {
    const volume = this.ec2.volumes.get(volumeId);
    if (volume?.attachment?.instanceId !== instanceId) return;
    await this.ec2.detachVolume(volumeId, instanceId);
    delete volume.attachment;
    volume.state = 'available';
  }

  deleteVolume(volumeId: string): Promise<void> {
    return this.ec2.deleteVolume(volumeId);
  }

  deleteSnapshot(snapshotId: string): Promise<void> {
    return this.ec2.deleteSnapshot(snapshotId);
  }
}
