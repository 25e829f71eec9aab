/**
 * The masking hook contract (docs/workflows.md, "Masking hooks"): what a LiveClone run sends the
 * workflow's masking function, and what the function must answer.
 *
 * The run restores the chosen image of each volume to a clone snapshot, then invokes the hook
 * synchronously with a {@link MaskingHookEvent}. The hook writes the masked data to NEW snapshots
 * (a child snapshot through the EBS direct APIs, or a snapshot of a scratch volume it masked with
 * SSM Automation) and answers `{ "maskedSnapshots": { "<sourceVolumeId>": "snap-…" } }`, one entry
 * per device of the event. `{ "status": "failed", "message": "…" }`, an error, a timeout or a
 * malformed answer fail the masking: the run then deletes the unmasked clones and fails, so
 * unmasked data is never flagged non-sensitive nor presented to a target.
 */
import { z } from 'zod';
import { describeError, isRetryable, PermanentError, type RbpErrorOptions } from '../errors.ts';
import { MAX_HOOK_MESSAGE_CHARS } from '../plans/hooks.ts';
import { volumeIdSchema } from '../api/schemas.ts';

/** Version of the event and answer below; a hook can refuse an event version it does not know. */
export const MASKING_HOOK_EVENT_VERSION = 1;

/** EBS snapshot ids (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html). */
export const SNAPSHOT_ID_PATTERN = /^snap-[0-9a-f]{8,17}$/;

const snapshotIdSchema = z.string().regex(SNAPSHOT_ID_PATTERN, 'must be an EBS snapshot id snap-…');

/** One volume of the workflow's server, as the hook sees it. */
export const maskingDeviceSchema = z.strictObject({
  /** The replica volume the image was taken from: the key of the answer's `maskedSnapshots`. */
  sourceVolumeId: volumeIdSchema,
  /** The image restored into the clone. */
  imageId: z.string().min(1),
  /** The clone: an EBS snapshot (encrypted with the deployment's KMS key) holding the image's blocks. */
  snapshotId: snapshotIdSchema,
  /** The volume made from the clone, when the workflow sets `createVolume` (made before masking). */
  volumeId: volumeIdSchema.optional(),
  /** Size of the clone snapshot in GiB (what StartSnapshot's VolumeSize of a child must be at least). */
  sizeGiB: z.number().int().positive(),
});
export type MaskingDevice = z.infer<typeof maskingDeviceSchema>;

/** What the masking function is invoked with (JSON). */
export const maskingHookEventSchema = z.strictObject({
  version: z.literal(MASKING_HOOK_EVENT_VERSION),
  phase: z.literal('masking'),
  workflow: z.string().min(1),
  runId: z.string().min(1),
  /** The server (rbp:source-server) whose volumes these are, when the workflow names one. */
  server: z.string().min(1).optional(),
  /** ISO-8601 UTC: the run stops waiting for the answer then (invocation time + timeoutSeconds). */
  deadline: z.iso.datetime(),
  /** Tags the hook should put on every snapshot it creates, so the run and delete can find them. */
  tags: z.record(z.string(), z.string()),
  devices: z.array(maskingDeviceSchema).min(1),
});
export type MaskingHookEvent = z.infer<typeof maskingHookEventSchema>;

/** A successful answer: the masked snapshot of every device, keyed by `sourceVolumeId`. */
export const maskingAnswerSchema = z.strictObject({
  status: z.literal('succeeded').optional(),
  maskedSnapshots: z.record(z.string(), snapshotIdSchema),
  /** Free text for the run's record (what was masked), clipped to MAX_HOOK_MESSAGE_CHARS. */
  message: z.string().optional(),
});
export type MaskingAnswer = z.infer<typeof maskingAnswerSchema>;

/** A hook that gives up answers this (as plan hooks do). */
export const maskingFailureSchema = z.strictObject({
  status: z.literal('failed'),
  message: z.string().optional(),
});

/** The hook answered something that is not the contract's answer. Never retried. */
export class MaskingAnswerError extends PermanentError {
  constructor(message: string, options: RbpErrorOptions = {}) {
    super(message, options);
  }
}

function clip(text: string): string {
  return text.length <= MAX_HOOK_MESSAGE_CHARS ? text : `${text.slice(0, MAX_HOOK_MESSAGE_CHARS)}…`;
}

/** Source volume id → masked snapshot id, one per device of the event. */
export type MaskedSnapshots = ReadonlyMap<string, string>;

/**
 * Checks a hook's answer against the event it was given. Throws MaskingAnswerError naming the
 * problem: not the answer's shape, a device missing or unknown, or a masked snapshot that is the
 * unmasked clone itself (a snapshot cannot be changed, so the hook must answer a new one).
 */
export function parseMaskingAnswer(
  event: MaskingHookEvent,
  answer: unknown,
  functionName: string,
): MaskedSnapshots {
  const context = { workflow: event.workflow, runId: event.runId, function: functionName };
  const failed = maskingFailureSchema.safeParse(answer);
  if (failed.success) {
    const message =
      failed.data.message === undefined || failed.data.message === ''
        ? 'returned status failed'
        : clip(failed.data.message);
    throw new MaskingAnswerError(`masking hook ${functionName} failed: ${message}`, { context });
  }
  const parsed = maskingAnswerSchema.safeParse(answer);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.length === 0 ? '(answer)' : issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new MaskingAnswerError(
      `masking hook ${functionName} answered ${clip(JSON.stringify(answer) ?? 'nothing')}, not { "maskedSnapshots": { "<sourceVolumeId>": "snap-…" } }: ${problems}`,
      { context },
    );
  }
  const masked = parsed.data.maskedSnapshots;
  const expected = new Map(event.devices.map((device) => [device.sourceVolumeId, device]));
  const problems: string[] = [];
  for (const device of event.devices) {
    const snapshotId = masked[device.sourceVolumeId];
    if (snapshotId === undefined) problems.push(`no masked snapshot for ${device.sourceVolumeId}`);
    else if (snapshotId === device.snapshotId) {
      problems.push(
        `${device.sourceVolumeId}: ${snapshotId} is the unmasked clone; answer the new, masked snapshot`,
      );
    }
  }
  for (const key of Object.keys(masked)) {
    if (!expected.has(key)) problems.push(`${key} is not a device of this run`);
  }
  const ids = Object.values(masked);
  if (new Set(ids).size !== ids.length) problems.push('two devices answer the same snapshot');
  if (problems.length > 0) {
    throw new MaskingAnswerError(
      `masking hook ${functionName} answered a wrong maskedSnapshots: ${problems.join('; ')}`,
      {
        context,
      },
    );
  }
  return new Map(event.devices.map((device) => [device.sourceVolumeId, masked[device.sourceVolumeId] ?? '']));
}

/** Invokes a masking function synchronously (a Lambda function, or a local command function). */
export interface MaskingHookInvoker {
  /**
   * Returns what the function returned (parsed JSON; null when it returned nothing). Throws when the
   * function fails or does not answer within `timeoutSeconds`; a retryable RbpError (throttling)
   * may be retried by the run, anything else fails the masking.
   */
  invoke(functionName: string, event: MaskingHookEvent, timeoutSeconds: number): Promise<unknown>;
}

export type MaskingOutcome =
  | { readonly ok: true; readonly masked: MaskedSnapshots; readonly message?: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Runs the masking hook: the masked snapshots, or the reason masking failed (the caller then
 * deletes the unmasked clones and fails the run). A retryable invocation error is thrown, so the
 * step is retried; hooks must therefore tolerate a repeat (tag what they create with the event's
 * tags so that a repeat's leftovers are found and removed).
 */
export async function runMaskingHook(
  invoker: MaskingHookInvoker,
  hook: { readonly function: string; readonly timeoutSeconds: number },
  event: MaskingHookEvent,
): Promise<MaskingOutcome> {
  let answer: unknown;
  try {
    answer = await invoker.invoke(hook.function, event, hook.timeoutSeconds);
  } catch (error) {
    if (isRetryable(error)) throw error;
    return { ok: false, reason: `masking hook ${hook.function} failed: ${clip(describeError(error))}` };
  }
  try {
    const masked = parseMaskingAnswer(event, answer, hook.function);
    const message = (answer as { message?: unknown }).message;
    return typeof message === 'string' && message !== ''
      ? { ok: true, masked, message: clip(message) }
      : { ok: true, masked };
  } catch (error) {
    if (error instanceof MaskingAnswerError) return { ok: false, reason: error.message };
    throw error;
  }
}
