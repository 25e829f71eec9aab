/** The two example workflows (docs/workflows.md) and a record factory for store tests. */
import { parseWorkflowDocument } from '../../lambdas/core/workflows/workflow-document.ts';
import { type WorkflowRecord } from '../../lambdas/core/workflows/workflow-service.ts';
import { WORKFLOW_FORMAT_VERSION } from '../../lambdas/core/workflows/workflow-document.ts';

export const LIVE_CLONE_EXAMPLE = {
  name: 'qaclone',
  type: 'LiveClone',
  server: 'web01',
  schedule: { type: 'on-demand' },
  target: { region: 'us-east-1' },
};

export const DIRECT_MOUNT_EXAMPLE = {
  name: 'qamount',
  type: 'DirectMount',
  server: 'web01',
  schedule: { type: 'scheduled', expression: 'cron(0 6 * * ? *)', timeZone: 'UTC' },
  target: { instanceId: 'i-0123456789abcdef0', availabilityZone: 'us-east-1a', device: '/dev/sdf' },
};

const CREATED = '2026-03-02T10:00:00.000Z';

export function workflowRecord(name: string, revision = 1, server = 'web01'): WorkflowRecord {
  return {
    formatVersion: WORKFLOW_FORMAT_VERSION,
    name,
    document: parseWorkflowDocument({ ...LIVE_CLONE_EXAMPLE, name, server }),
    revision,
    createdAt: CREATED,
    updatedAt: `2026-03-02T10:00:0${revision}.000Z`,
  };
}
