/**
 * Object Lock with deduplication, by generations. S3 Object Lock protects one object version until
 * its retain-until date (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html);
 * a deduplicated chunk written once and referenced by images made months later must stay locked
 * for as long as the newest of them must. Re-locking every referenced chunk on every backup would
 * cost one PutObjectRetention per chunk per backup, so time is cut into generations of a fixed
 * window W (aligned to the epoch), and:
 *
 * - every object written during generation g is written with retain-until = end(g) + P, where P
 *   is the configured retention (the x-amz-object-lock-retain-until-date header of the PUT);
 * - once per generation, the first collection run of generation g extends every object that a
 *   live image references to end(g) + P, in one batch; objects already locked that long are not
 *   touched again until the next generation;
 * - a backup that reuses an object it did not find through a live parent (a conditional PUT
 *   answered 412) extends that object to end(g) + P itself, when its lock is shorter.
 *
 * Invariant (docs/lifecycle.md, "Object Lock generations"): with W ≤ P and a collection run in every
 * generation, every object of an image created at t is locked until at least t + P.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

export const objectLockConfigSchema = z
  .object({
    /** GOVERNANCE can be bypassed by a principal with s3:BypassGovernanceRetention; COMPLIANCE by nobody. */
    mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
    /** P: how long every image must stay immutable after it is created. */
    retentionDays: z.number().int().min(1).max(36_500),
    /** W: the generation window; objects are re-locked at most once per window. */
    generationDays: z.number().int().min(1).max(365),
  })
  .strict()
  .refine((c) => c.generationDays <= c.retentionDays, 'the generation window must not exceed the retention');

export type ObjectLockConfig = z.infer<typeof objectLockConfigSchema>;

const DAY_MS = 86_400_000;

export function generationOf(instant: Date, config: ObjectLockConfig): number {
  return Math.floor(instant.getTime() / (config.generationDays * DAY_MS));
}

/** end(g) + P: the retain-until date of objects written or extended during generation g. */
export function retainUntilForGeneration(generation: number, config: ObjectLockConfig): Date {
  return new Date((generation + 1) * config.generationDays * DAY_MS + config.retentionDays * DAY_MS);
}

/** The retain-until date a backup writes on a new object at `now`. */
export function retainUntilForNewObject(now: Date, config: ObjectLockConfig): Date {
  return retainUntilForGeneration(generationOf(now, config), config);
}

/**
 * The date until which every object of an image created at `createdAt` is locked: its objects were
 * written or extended in the image's generation or later (docs/lifecycle.md, "Object Lock
 * generations"), so each holds at least end(g) + P. Deleting the image before then is refused.
 */
export function imageLockedUntil(createdAt: string, config: ObjectLockConfig): Date {
  return retainUntilForNewObject(new Date(createdAt), config);
}

/**
 * A lower bound of an object's lock: it was written with at least end(generation of its write) + P.
 * An object whose lower bound is still in the future is certainly locked, so a sweep does not try.
 */
export function certainlyLockedUntil(lastModified: Date, config: ObjectLockConfig): Date {
  return retainUntilForNewObject(lastModified, config);
}

export function parseObjectLockConfig(input: unknown): ObjectLockConfig {
  const parsed = objectLockConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(
      `invalid Object Lock configuration: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  return parsed.data;
}
