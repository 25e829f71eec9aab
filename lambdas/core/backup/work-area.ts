/**
 * The backup's work area in the work bucket: the Distributed Map's item list and one summary per
 * range, under keys derived from the backup and the volume so that re-runs and redrives find them.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors.ts';
import type { ObjectStore } from '../store/object-store.ts';

/** Prefix of everything one backup of one volume writes to the work bucket. */
export function workPrefix(backupId: string, volumeId: string): string {
  return `work/${backupId}/${volumeId}/`;
}

export function itemsKey(backupId: string, volumeId: string): string {
  return `${workPrefix(backupId, volumeId)}items.json`;
}

export function rangeSummaryPrefix(backupId: string, volumeId: string): string {
  return `${workPrefix(backupId, volumeId)}ranges/`;
}

/** Zero-padded so that a listing returns ranges in block order. */
export function rangeSummaryKey(backupId: string, volumeId: string, firstBlock: number): string {
  return `${rangeSummaryPrefix(backupId, volumeId)}${String(firstBlock).padStart(12, '0')}.json`;
}

/** Why each range's last failed attempt failed (range-failures.ts); not under rangeSummaryPrefix. */
export function rangeFailurePrefix(backupId: string, volumeId: string): string {
  return `${workPrefix(backupId, volumeId)}range-failures/`;
}

export function rangeFailureKey(backupId: string, volumeId: string, firstBlock: number): string {
  return `${rangeFailurePrefix(backupId, volumeId)}${String(firstBlock).padStart(12, '0')}.json`;
}

/** Writes JSON once (a re-run finds it in place: every writer here produces the same content). */
export async function putJsonOnce(
  store: ObjectStore,
  key: string,
  value: unknown,
): Promise<'created' | 'exists'> {
  const body = new TextEncoder().encode(JSON.stringify(value));
  return store.putIfAbsent({
    key,
    body,
    sha256Base64: createHash('sha256').update(body).digest('base64'),
    contentType: 'application/json',
  });
}

export async function getJson(store: ObjectStore, key: string): Promise<unknown> {
  const bytes = await store.get(key);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (error) {
    throw new IntegrityError(`work object ${key} is not JSON`, { cause: error, context: { key } });
  }
}
