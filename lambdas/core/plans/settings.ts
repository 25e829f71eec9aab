/**
 * The global settings record (format version 1, docs/plans.md): the switch that enables or
 * disables every backup, and the optional ceiling on stored bytes that the capacity checks use.
 */
import { z } from 'zod';
import type { DestinationUsage } from './plan-ports.ts';

export const SETTINGS_FORMAT_VERSION = 1;

export const settingsUpdateSchema = z.strictObject({
  backupsEnabled: z.boolean().optional(),
  /** Bytes the image bucket may hold before new tasks are refused; null removes the ceiling. */
  storedBytesCeiling: z.number().int().min(1).nullable().optional(),
});
export type SettingsUpdate = z.infer<typeof settingsUpdateSchema>;

export const planSettingsSchema = z.strictObject({
  formatVersion: z.literal(SETTINGS_FORMAT_VERSION),
  backupsEnabled: z.boolean(),
  storedBytesCeiling: z.number().int().min(1).optional(),
  /** ISO-8601 UTC of the last change; absent for the defaults. */
  updatedAt: z.iso.datetime().optional(),
});
export type PlanSettings = z.infer<typeof planSettingsSchema>;

/** Settings before anyone changed them: backups enabled, no ceiling. */
export const DEFAULT_SETTINGS: PlanSettings = {
  formatVersion: SETTINGS_FORMAT_VERSION,
  backupsEnabled: true,
};

export function applySettingsUpdate(current: PlanSettings, update: SettingsUpdate, now: Date): PlanSettings {
  const ceiling =
    update.storedBytesCeiling === undefined
      ? current.storedBytesCeiling
      : (update.storedBytesCeiling ?? undefined);
  return {
    formatVersion: SETTINGS_FORMAT_VERSION,
    backupsEnabled: update.backupsEnabled ?? current.backupsEnabled,
    ...(ceiling === undefined ? {} : { storedBytesCeiling: ceiling }),
    updatedAt: now.toISOString(),
  };
}

/** Undefined when the destination can take another backup, else why not. */
export function capacityProblem(settings: PlanSettings, usage: DestinationUsage): string | undefined {
  if (settings.storedBytesCeiling !== undefined && usage.storedBytes >= settings.storedBytesCeiling) {
    return `the image bucket holds ${usage.storedBytes} bytes, at or above the configured ceiling of ${settings.storedBytesCeiling}`;
  }
  if (usage.freeSnapshotSlots < 1) return 'no concurrent-snapshot slot is free (EC2 limit reached)';
  return undefined;
}
