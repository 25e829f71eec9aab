/**
 * Which device name each of a DirectMount's volumes gets on the target instance: the names the
 * workflow gives in `target.devices` (keyed by replica volume id), else `target.device` for the
 * first volume and the next free names after it for the others. EC2 refuses an attachment at a
 * device name already in use on the instance
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachVolume.html), so a name in use
 * is refused here, before anything is created.
 */
import { DocumentValidationError, type DocumentIssue } from '../errors.ts';
import { issuesSentence } from '../util/document-issues.ts';
import type { WorkflowTarget } from './workflow-document.ts';

/** An EC2 instance as a DirectMount sees it. */
export interface TargetInstance {
  readonly instanceId: string;
  readonly availabilityZone: string;
  /** Device names of the instance's current block-device mappings (root included). */
  readonly devicesInUse: readonly string[];
}

const LAST_DEVICE_LETTER = 'z';

/** The device name after `device` (`/dev/sdf` → `/dev/sdg`); undefined after the last letter. */
export function nextDeviceName(device: string): string | undefined {
  const last = device.at(-1) ?? LAST_DEVICE_LETTER;
  if (last >= LAST_DEVICE_LETTER) return undefined;
  return `${device.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`;
}

function refuse(issues: DocumentIssue[]): never {
  throw new DocumentValidationError(issuesSentence('invalid DirectMount target', issues), issues);
}

/** Replica volume id → device name on the instance; refuses names in use or volumes left unnamed. */
export function deviceAssignment(
  volumeIds: readonly string[],
  target: WorkflowTarget,
  instance: TargetInstance,
): Map<string, string> {
  const inUse = new Set(instance.devicesInUse);
  const assignment = new Map<string, string>();
  const issues: DocumentIssue[] = [];
  if (target.devices !== undefined) {
    for (const volumeId of volumeIds) {
      const device = target.devices[volumeId];
      if (device === undefined) {
        issues.push({ field: `target.devices`, message: `no device for volume ${volumeId}` });
      } else assignment.set(volumeId, device);
    }
    for (const key of Object.keys(target.devices)) {
      if (!volumeIds.includes(key)) {
        issues.push({
          field: `target.devices.${key}`,
          message: `${key} is not one of the workflow's volumes`,
        });
      }
    }
  } else {
    let candidate: string | undefined = target.device;
    for (const [index, volumeId] of volumeIds.entries()) {
      while (index > 0 && candidate !== undefined && inUse.has(candidate))
        candidate = nextDeviceName(candidate);
      if (candidate === undefined) {
        issues.push({ field: 'target.device', message: `no free device name left for volume ${volumeId}` });
        break;
      }
      assignment.set(volumeId, candidate);
      candidate = nextDeviceName(candidate);
    }
  }
  for (const [volumeId, device] of assignment) {
    if (inUse.has(device)) {
      issues.push({
        field: target.devices === undefined ? 'target.device' : `target.devices.${volumeId}`,
        message: `${device} is already in use on ${instance.instanceId}`,
      });
    }
  }
  if (issues.length > 0) refuse(issues);
  return assignment;
}
