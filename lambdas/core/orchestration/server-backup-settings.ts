/**
 * A protected server's backup settings from the deployment's configuration (lib/config.ts
 * `servers[]`: `probe`, `syncWait`, `snapshotWait`, `volumeIds`), written to the product table at
 * deploy time (lib/constructs/config-servers.ts) and read when a backup of that server starts: a
 * plan task's (aws/plan-run-adapters.ts SfnPlanBackups) and `POST /backups` with a `serverId`
 * (recovery-points/recovery-point-service.ts startServerBackup). Both find the server's volumes by
 * the tag `rbp:source-server=<serverId>` (docs/replica-tags.md) and pass them here
 * (serverBackupSettingsInput): a configured `volumeIds` list that is not that set refuses the
 * backup before anything is started (ServerVolumesMismatchError). The probe and waits become
 * fields of the backup execution's input, where backup-request.ts reads them; a field the start
 * names itself wins.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import {
  MAX_SERVER_VOLUMES,
  MAX_WAIT_SECONDS,
  MIN_POLL_SECONDS,
  replicaProbeSchema,
  SOURCE_SERVER_TAG,
  volumeIdSchema,
} from './backup-request.ts';

/**
 * One wait as the configuration gives it: both fields, in the bounds backup-request.ts accepts,
 * so that a setting that passes `cdk synth` also passes Acquire Lock.
 */
export const configuredWaitSchema = z
  .object({
    intervalSeconds: z.number().int().min(MIN_POLL_SECONDS).max(MAX_WAIT_SECONDS),
    timeoutSeconds: z.number().int().min(MIN_POLL_SECONDS).max(MAX_WAIT_SECONDS),
  })
  .strict()
  .refine((w) => w.intervalSeconds <= w.timeoutSeconds, 'intervalSeconds must not exceed timeoutSeconds');
export type ConfiguredWait = z.infer<typeof configuredWaitSchema>;

/**
 * The settings of one server: only what its configuration names. An item written before
 * `volumeIds` existed has none, and a server without them is not checked.
 */
export const serverBackupSettingsSchema = z
  .object({
    serverId: z.string().min(1),
    probe: replicaProbeSchema.optional(),
    syncWait: configuredWaitSchema.optional(),
    snapshotWait: configuredWaitSchema.optional(),
    /** Every replica volume of the server: a backup whose tagged volumes differ is refused. */
    volumeIds: z.array(volumeIdSchema).min(1).max(MAX_SERVER_VOLUMES).optional(),
  })
  .strict();
export type ServerBackupSettings = z.infer<typeof serverBackupSettingsSchema>;

/**
 * Most characters of the configured servers' settings as stored (one JSON array in one item,
 * aws/dynamodb-server-settings.ts). A DynamoDB item holds at most 400 KB
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html), but the
 * array is also in the deploy-time custom resource's Create and Update calls, escaped twice, in a
 * CloudFormation template of at most 1 MB
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html):
 * each stored character costs about three there. 32 Ki characters hold about 110 servers with
 * every setting at its longest (a 64-character id, a DRS probe and both waits: 292 characters
 * each) and 155 with waits only; a `volumeIds` list adds 24 characters a volume.
 */
export const MAX_SERVER_SETTINGS_CHARS = 32_768;

/** The stored form of every configured server's settings, sorted by server id. */
export function serverSettingsJson(settings: readonly ServerBackupSettings[]): string {
  return JSON.stringify(
    [...settings].sort((a, b) => (a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : 0)),
  );
}

/** The fields of a backup execution's input that a server's settings give (backup-request.ts). */
export type BackupSettingsInput = Partial<Pick<ServerBackupSettings, 'probe' | 'syncWait' | 'snapshotWait'>>;

/** Reads a server's stored settings (adapter: aws/dynamodb-server-settings.ts). */
export interface ServerBackupSettingsReader {
  /** Undefined when the configuration names none for the server. */
  get(serverId: string): Promise<ServerBackupSettings | undefined>;
}

/**
 * A backup of a server whose replica volumes, found by their `rbp:source-server` tag, are not the
 * ones its configuration lists: backing up the tagged set would leave a listed disk out of the
 * recovery point, or put a disk in that the configuration does not name. Maps to HTTP 400 (rbp
 * exit 5), not 409: scripts read 409 (exit 4) as "a backup is already running", a retry later.
 */
export class ServerVolumesMismatchError extends ValidationError {}

/**
 * Why a backup of `serverId` over its tagged volumes is refused, if it is: the configuration
 * lists `configured` (undefined: no list, no check) and the volumes tagged
 * `rbp:source-server=<serverId>` are `tagged`. Order does not matter; both sides are named sorted,
 * with what each lacks.
 */
export function serverVolumesProblem(
  serverId: string,
  configured: readonly string[] | undefined,
  tagged: readonly string[],
): string | undefined {
  if (configured === undefined) return undefined;
  const listed = [...new Set(configured)].sort();
  const found = [...new Set(tagged)].sort();
  const notTagged = listed.filter((v) => !found.includes(v));
  const notListed = found.filter((v) => !listed.includes(v));
  if (notTagged.length === 0 && notListed.length === 0) return undefined;
  const differences = [
    ...(notTagged.length === 0 ? [] : [`${notTagged.join(', ')} not tagged`]),
    ...(notListed.length === 0 ? [] : [`${notListed.join(', ')} not listed`]),
  ];
  return (
    `server ${serverId}: the configuration lists ${listed.join(', ')}; ` +
    `the volumes tagged ${SOURCE_SERVER_TAG}=${serverId} are ${found.length === 0 ? 'none' : found.join(', ')} ` +
    `(${differences.join('; ')})`
  );
}

/** The execution-input fields of `settings` (none for undefined), to spread under the start's own fields. */
export function backupSettingsInput(settings: ServerBackupSettings | undefined): BackupSettingsInput {
  if (settings === undefined) return {};
  return {
    ...(settings.probe === undefined ? {} : { probe: settings.probe }),
    ...(settings.syncWait === undefined ? {} : { syncWait: settings.syncWait }),
    ...(settings.snapshotWait === undefined ? {} : { snapshotWait: settings.snapshotWait }),
  };
}

/**
 * The settings of `serverId` as execution-input fields for a backup of `taggedVolumeIds` (the
 * replica volumes tagged `rbp:source-server=<serverId>`, which the start backs up); none when
 * there is no reader. ServerVolumesMismatchError when the configuration lists other volumes
 * (serverVolumesProblem), before the start does anything.
 */
export async function serverBackupSettingsInput(
  reader: ServerBackupSettingsReader | undefined,
  serverId: string,
  taggedVolumeIds: readonly string[],
): Promise<BackupSettingsInput> {
  if (reader === undefined) return {};
  const settings = await reader.get(serverId);
  const problem = serverVolumesProblem(serverId, settings?.volumeIds, taggedVolumeIds);
  if (problem !== undefined) {
    throw new ServerVolumesMismatchError(problem, {
      context: {
        serverId,
        configuredVolumeIds: settings?.volumeIds?.join(','),
        taggedVolumeIds: taggedVolumeIds.join(','),
      },
    });
  }
  return backupSettingsInput(settings);
}
