/**
 * The outcome of a backup run as the product announces it: an EventBridge event
 * (source `rbp.backup`, detail-type `Backup Succeeded` / `Backup Failed`) and an SNS message.
 */
export const BACKUP_SUCCEEDED = 'Backup Succeeded';
export const BACKUP_FAILED = 'Backup Failed';
export const OUTCOME_EVENT_VERSION = 1;
/** SNS subjects are limited to 100 characters. */
const SNS_SUBJECT_MAX_CHARS = 100;
/** Causes are truncated in events: a Step Functions cause can be 32 KiB, an event stays readable. */
export const MAX_CAUSE_CHARS = 2_000;

export interface BackupOutcomeDetail {
  readonly version: typeof OUTCOME_EVENT_VERSION;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly backupId: string;
  readonly serverId: string;
  readonly volumeIds: readonly string[];
  readonly trigger: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Committed images (SUCCEEDED). */
  readonly imageIds: readonly string[];
  /** Step Functions error name (FAILED). */
  readonly error?: string;
  readonly cause?: string;
}

export function outcomeDetailType(detail: BackupOutcomeDetail): string {
  return detail.status === 'SUCCEEDED' ? BACKUP_SUCCEEDED : BACKUP_FAILED;
}

/**
 * A Step Functions Catch puts `{Error, Cause}` in the state; Cause is often the JSON of a Lambda
 * error (`{"errorType","errorMessage",...}`): keep only its message.
 */
export function readableCause(cause: string | undefined): string | undefined {
  if (cause === undefined) return undefined;
  let text = cause;
  try {
    const parsed: unknown = JSON.parse(cause);
    if (parsed !== null && typeof parsed === 'object' && 'errorMessage' in parsed) {
      const message = parsed.errorMessage;
      if (typeof message === 'string') text = message;
    }
  } catch {
    // not JSON: keep the text as it is
  }
  return text.length > MAX_CAUSE_CHARS ? `${text.slice(0, MAX_CAUSE_CHARS - 1)}…` : text;
}

export function snsSubject(detail: BackupOutcomeDetail): string {
  const subject = `rbp: backup ${detail.status === 'SUCCEEDED' ? 'succeeded' : 'FAILED'} for ${detail.serverId}`;
  return subject.length > SNS_SUBJECT_MAX_CHARS ? subject.slice(0, SNS_SUBJECT_MAX_CHARS) : subject;
}

export function snsMessage(detail: BackupOutcomeDetail): string {
  const lines = [
    `Backup ${detail.backupId} of ${detail.serverId} (${detail.volumeIds.join(', ')}) ${detail.status}.`,
    `Trigger: ${detail.trigger}. Started ${detail.startedAt}, finished ${detail.finishedAt}.`,
  ];
  if (detail.imageIds.length > 0) lines.push(`Images: ${detail.imageIds.join(', ')}.`);
  if (detail.error !== undefined) lines.push(`Error: ${detail.error}: ${detail.cause ?? '(no cause)'}`);
  return lines.join('\n');
}
