/**
 * Columns that the job history listings (`rbp backup ls`, `rbp restore ls`) share: how long a job
 * took, and byte counts.
 */
import { formatBytes, type Column } from '../api/output.ts';
import { formatDuration } from '../api/job-progress.ts';

/**
 * DURATION, right-aligned: the finished job's duration; for a running one, when `elapsed` is given,
 * the time so far followed by "+"; else empty.
 */
export function durationColumn<T>(
  duration: (job: T) => number | undefined,
  elapsed?: (job: T) => number | undefined,
): Column<T> {
  return {
    header: 'DURATION',
    value: (job) => {
      const seconds = duration(job);
      if (seconds !== undefined) return formatDuration(seconds);
      const sofar = elapsed?.(job);
      return sofar === undefined ? undefined : `${formatDuration(sofar)}+`;
    },
    right: true,
  };
}

/** A right-aligned byte count (formatBytes). */
export function bytesColumn<T>(header: string, bytes: (job: T) => number | undefined): Column<T> {
  return { header, value: (job) => formatBytes(bytes(job)), right: true };
}
