/** What the workflow routes answer (docs/workflows.md), as zod schemas for the router and OpenAPI. */
import { z } from 'zod';
import { WORKFLOW_TYPES, workflowDocumentSchema } from './workflow-document.ts';
import type { WorkflowRecord } from './workflow-service.ts';

export const workflowViewSchema = z.strictObject({
  name: z.string(),
  type: z.enum(WORKFLOW_TYPES),
  enabled: z.boolean(),
  revision: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  document: workflowDocumentSchema,
});
export type WorkflowView = z.infer<typeof workflowViewSchema>;

export function workflowViewOf(record: WorkflowRecord): WorkflowView {
  return {
    name: record.name,
    type: record.document.type,
    enabled: record.document.enabled,
    revision: record.revision,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    document: record.document,
  };
}
