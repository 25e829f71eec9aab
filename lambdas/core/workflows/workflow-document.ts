/**
 * The workflow document (format version 1, docs/workflows.md): how a backup is handed to a test,
 * development or analytics team, as a LiveClone (an independent EBS snapshot made from an image,
 * refreshed incrementally, optionally masked) or as a DirectMount (a volume made from it and
 * attached to a target instance). One zod schema, strict at every level, plus the rules across
 * fields; `parseWorkflowDocument` lists every problem at once with its path.
 */
import { z } from 'zod';
import { DocumentValidationError, type DocumentIssue } from '../errors.ts';
import { documentIssuesOf, issuesSentence } from '../util/document-issues.ts';
import { hookSchema, scheduleSchema, MAX_SERVER_PATTERN_CHARS } from '../plans/plan-document.ts';
import { volumeIdSchema } from '../api/schemas.ts';

/** Workflow names: letters and digits only (no special characters), so they fit any resource name. */
export const WORKFLOW_NAME_PATTERN = /^[A-Za-z0-9]+$/;
/**
 * Longest workflow name: EventBridge Scheduler names are at most 64 characters, and a workflow's
 * schedule is named `wf-<name>`.
 */
export const MAX_WORKFLOW_NAME_CHARS = 60;
/** Volumes a workflow may name: an EC2 instance has at most 128 EBS attachments on Nitro types. */
export const MAX_WORKFLOW_VOLUMES = 128;
/**
 * Tags a workflow puts on what it creates: EC2 allows 50 per resource, and the workflow adds its
 * own `rbp:` tags (rbp:workflow, rbp:image, rbp:non-sensitive) to them.
 */
export const MAX_WORKFLOW_TAGS = 40;
/** The tag-key prefix the product keeps for its own tags on what a workflow creates. */
export const RESERVED_TAG_PREFIX = 'rbp:';

export const WORKFLOW_TYPES = ['LiveClone', 'DirectMount'] as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[number];
export const WORKFLOW_FORMAT_VERSION = 1;

/** A server id (rbp:source-server): the alphabet of plan server patterns, without wildcards. */
const SERVER_NAME_PATTERN = /^[A-Za-z0-9._:-]+$/;
/** EC2 instance ids (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Instance.html). */
const INSTANCE_ID_PATTERN = /^i-[0-9a-f]{8,17}$/;
/**
 * Device names EC2 accepts for EBS attachments: /dev/sd[a-z] and /dev/xvd[a-z] with an optional
 * second letter (https://docs.aws.amazon.com/ebs/latest/userguide/device_naming.html).
 */
export const DEVICE_NAME_PATTERN = /^\/dev\/(?:sd|xvd)[a-z]{1,2}$/;
const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d$/;
const AVAILABILITY_ZONE_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d[a-z]$/;
const ACCOUNT_PATTERN = /^\d{12}$/;
/** Image ids (`img-…`) and recovery-point ids (`rp-…`) as the API gives them. */
const IMAGE_REFERENCE_PATTERN = /^(?:img|rp)-[A-Za-z0-9_-]{1,124}$/;

const deviceSchema = z.string().regex(DEVICE_NAME_PATTERN, 'must be an EBS device name such as /dev/sdf');

export const workflowTargetSchema = z.strictObject({
  /** Where the clone is made; cross-account and cross-region targets are refused for now (docs). */
  account: z.string().regex(ACCOUNT_PATTERN, 'must be a 12-digit AWS account id').optional(),
  region: z.string().regex(REGION_PATTERN, 'must be an AWS region such as us-east-1').optional(),
  availabilityZone: z
    .string()
    .regex(AVAILABILITY_ZONE_PATTERN, 'must be an availability zone such as us-east-1a')
    .optional(),
  /** DirectMount: the instance the volume is attached to. */
  instanceId: z.string().regex(INSTANCE_ID_PATTERN, 'must be an EC2 instance id i-…').optional(),
  /** DirectMount: the device name of the (first) volume on the instance. */
  device: deviceSchema.optional(),
  /** DirectMount: source device → device on the target, for a server with several volumes. */
  devices: z
    .record(z.string().min(1).max(64), deviceSchema)
    .refine((map) => new Set(Object.values(map)).size === Object.keys(map).length, 'devices must differ')
    .optional(),
});
export type WorkflowTarget = z.infer<typeof workflowTargetSchema>;

export const workflowScheduleSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('on-demand') }),
  scheduleSchema.extend({ type: z.literal('scheduled') }),
]);
export type WorkflowSchedule = z.infer<typeof workflowScheduleSchema>;

/** Why a tag key cannot be used, or undefined when it can. */
function tagKeyProblem(key: string): string | undefined {
  if (key.length === 0 || key.length > 128) return 'tag keys are 1-128 characters';
  if (key.startsWith('aws:')) return 'tag keys starting with aws: are reserved by AWS';
  if (key.startsWith(RESERVED_TAG_PREFIX)) {
    return `tag keys starting with ${RESERVED_TAG_PREFIX} are set by the workflow itself`;
  }
  return undefined;
}

export const workflowDocumentSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(MAX_WORKFLOW_NAME_CHARS)
    .regex(WORKFLOW_NAME_PATTERN, 'must be letters and digits only (no special characters)'),
  type: z.enum(WORKFLOW_TYPES),
  /** The server whose volumes are presented (rbp:source-server). */
  server: z
    .string()
    .min(1)
    .max(MAX_SERVER_PATTERN_CHARS)
    .regex(SERVER_NAME_PATTERN, 'must be a server name: A-Z a-z 0-9 . _ : -')
    .optional(),
  /** Or some of a server's volumes, by replica volume id. */
  volumes: z
    .array(volumeIdSchema)
    .min(1)
    .max(MAX_WORKFLOW_VOLUMES)
    .refine((ids) => new Set(ids).size === ids.length, 'volumes must not repeat')
    .optional(),
  target: workflowTargetSchema,
  /** `latest`, an image id or a recovery-point id. */
  image: z
    .union([z.literal('latest'), z.string().regex(IMAGE_REFERENCE_PATTERN, 'must be latest, img-… or rp-…')])
    .default('latest'),
  schedule: workflowScheduleSchema,
  /** A hook function that masks the clone; LiveClone only. */
  masking: hookSchema.optional(),
  /** Declared by the operator for data that needs no masking; set by a successful masking otherwise. */
  nonSensitive: z.boolean().default(false),
  enabled: z.boolean().default(true),
  /** LiveClone: also make a volume from each clone snapshot (in target.availabilityZone). */
  createVolume: z.boolean().optional(),
  /** Put on every snapshot and volume the workflow creates. */
  tags: z
    .record(z.string(), z.string().max(256))
    .superRefine((tags, context) => {
      const keys = Object.keys(tags);
      if (keys.length > MAX_WORKFLOW_TAGS) {
        context.addIssue({ code: 'custom', message: `at most ${MAX_WORKFLOW_TAGS} tags` });
      }
      for (const key of keys) {
        const problem = tagKeyProblem(key);
        if (problem !== undefined) context.addIssue({ code: 'custom', message: problem, path: [key] });
      }
    })
    .optional(),
});

/** A workflow as written (defaults may be missing). */
export type WorkflowDocumentInput = z.input<typeof workflowDocumentSchema>;
/** A workflow with every default filled in: what is stored and what runs. */
export type WorkflowDocument = z.infer<typeof workflowDocumentSchema>;

function fieldsOf(raw: unknown): Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw)
    ? (raw as Record<string, unknown>)
    : {};
}

/**
 * Rules across fields, checked on the raw input so that they are reported together with the
 * schema's problems (zod skips refinements of an object that already failed).
 */
function crossFieldIssues(raw: unknown): DocumentIssue[] {
  const doc = fieldsOf(raw);
  const target = fieldsOf(doc.target);
  const issues: DocumentIssue[] = [];
  if ((doc.server === undefined) === (doc.volumes === undefined)) {
    issues.push({ field: '(workflow)', message: 'give exactly one of server and volumes' });
  }
  if (doc.type === 'DirectMount') {
    if (target.instanceId === undefined) {
      issues.push({ field: 'target.instanceId', message: 'a DirectMount needs the instance to attach to' });
    }
    if (target.availabilityZone === undefined) {
      issues.push({
        field: 'target.availabilityZone',
        message: "a DirectMount needs the instance's availability zone",
      });
    }
    if (target.device === undefined && target.devices === undefined) {
      issues.push({ field: 'target.device', message: 'a DirectMount needs a device name (or devices)' });
    }
    if (doc.masking !== undefined) {
      issues.push({
        field: 'masking',
        message: 'a DirectMount presents the data without masking; use a LiveClone to mask',
      });
    }
    if (doc.createVolume !== undefined) {
      issues.push({ field: 'createVolume', message: 'a DirectMount always creates the volume it attaches' });
    }
  }
  if (doc.type === 'LiveClone') {
    for (const field of ['instanceId', 'device', 'devices'] as const) {
      if (target[field] !== undefined) {
        issues.push({ field: `target.${field}`, message: 'only a DirectMount attaches to an instance' });
      }
    }
    if (doc.createVolume === true && target.availabilityZone === undefined) {
      issues.push({
        field: 'target.availabilityZone',
        message: 'createVolume needs the availability zone to create the volumes in',
      });
    }
  }
  if (doc.masking !== undefined && doc.nonSensitive === true) {
    issues.push({
      field: 'nonSensitive',
      message: 'a masked workflow is flagged non-sensitive by its masking step; do not declare it',
    });
  }
  return issues;
}

/** Validates a workflow document; throws DocumentValidationError naming every problem. */
export function parseWorkflowDocument(raw: unknown): WorkflowDocument {
  const parsed = workflowDocumentSchema.safeParse(raw);
  const issues = [
    ...(parsed.success ? [] : documentIssuesOf(parsed.error, '(workflow)')),
    ...crossFieldIssues(raw),
  ];
  if (parsed.success && issues.length === 0) return parsed.data;
  throw new DocumentValidationError(issuesSentence('invalid workflow', issues), issues);
}

/** The fields an update may not change: the seed's name, type, appliance (target) and schedule type. */
export const IMMUTABLE_WORKFLOW_FIELDS = ['name', 'type', 'target', 'schedule.type'] as const;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** `value` with object keys sorted, so that two equal targets compare equal whatever their key order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** The immutable fields that `next` changes from `current`, in IMMUTABLE_WORKFLOW_FIELDS order. */
export function changedImmutableFields(current: WorkflowDocument, next: WorkflowDocument): DocumentIssue[] {
  const changed: DocumentIssue[] = [];
  const values: Record<(typeof IMMUTABLE_WORKFLOW_FIELDS)[number], [unknown, unknown]> = {
    name: [current.name, next.name],
    type: [current.type, next.type],
    target: [current.target, next.target],
    'schedule.type': [current.schedule.type, next.schedule.type],
  };
  for (const field of IMMUTABLE_WORKFLOW_FIELDS) {
    const [before, after] = values[field];
    if (!sameJson(before, after)) {
      changed.push({ field, message: 'cannot be changed after the workflow is created' });
    }
  }
  return changed;
}
