/**
 * The retention rules a plan carries. Stored and validated with the plan; the lifecycle code
 * applies them. Their meaning follows restic's `forget` policy
 * (https://restic.readthedocs.io/en/stable/060_forget.html): an image is kept when any rule keeps
 * it; `minimumAge` keeps everything younger whatever the other rules say.
 *
 * Durations are restic's: a sequence of `<n>y`, `<n>m` (months), `<n>d`, `<n>h`, in that order,
 * e.g. `7d`, `1y6m`, `36h`.
 */
import { z } from 'zod';

/** Largest count per rule: ten years of hourly images; more is a typo. */
export const MAX_RETENTION_COUNT = 87_600;

export const RETENTION_DURATION_PATTERN = /^(?=\d)(?:\d{1,4}y)?(?:\d{1,4}m)?(?:\d{1,5}d)?(?:\d{1,6}h)?$/;

const count = z.number().int().min(1).max(MAX_RETENTION_COUNT);
const duration = z
  .string()
  .regex(RETENTION_DURATION_PATTERN, 'must be a duration like 7d, 36h or 1y6m (y, m, d, h in that order)');

export const retentionRulesSchema = z
  .strictObject({
    keepLast: count.optional(),
    keepWithin: duration.optional(),
    keepHourly: count.optional(),
    keepDaily: count.optional(),
    keepWeekly: count.optional(),
    keepMonthly: count.optional(),
    keepYearly: count.optional(),
    /** Images younger than this are never deleted, whatever the other rules say. */
    minimumAge: duration.optional(),
  })
  .refine(
    (rules) =>
      [
        rules.keepLast,
        rules.keepWithin,
        rules.keepHourly,
        rules.keepDaily,
        rules.keepWeekly,
        rules.keepMonthly,
        rules.keepYearly,
      ].some((rule) => rule !== undefined),
    'give at least one keep rule (keepLast, keepWithin, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly): with none, every image would be deleted',
  );
export type RetentionRules = z.infer<typeof retentionRulesSchema>;
