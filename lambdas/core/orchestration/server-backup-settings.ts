/**
 * A protected server's backup settings from the deployment's configuration (lib/config.ts
 * `servers[]`: `probe`, `syncWait`, `snapshotWait`), written to the product table at deploy time
 * (lib/constructs/config-servers.ts) and read when a backup of that server starts: a plan task's
 * (aws/plan-run-adapters.ts SfnPlanBackups) and `POST /backups` with a `serverId`
 * (recovery-points/recovery-point-service.ts startServerBackup). They become fields of the backup
 * execution's input, where backup-request.ts reads them; a field the start names itself wins.
 */
import { z } from 'zod';
import { MAX_WAIT_SECONDS, MIN_POLL_SECONDS, replicaProbeSchema } from './backup-request.ts';

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

/** The settings of one server: only what its configuration names. */
export const serverBackupSettingsSchema = z
  .object({
    serverId: z.string().min(1),
    probe: replicaProbeSchema.optional(),
    syncWait: configuredWaitSchema.optional(),
    snapshotWait: configuredWaitSchema.optional(),
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
 * each) and 155 with waits only.
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

/** The execution-input fields of `settings` (none for undefined), to spread under the start's own fields. */
export function backupSettingsInput(settings: ServerBackupSettings | undefined): BackupSettingsInput {
  if (settings === undefined) return {};
  return {
    ...(settings.probe === undefined ? {} : { probe: settings.probe }),
    ...(settings.syncWait === undefined ? {} : { syncWait: settings.syncWait }),
    ...(settings.snapshotWait === undefined ? {} : { snapshotWait: settings.snapshotWait }),
  };
}

/** The settings of `serverId` as execution-input fields; none when there is no reader. */
export async function serverBackupSettingsInput(
  reader: ServerBackupSettingsReader | undefined,
  serverId: string,
): Promise<BackupSettingsInput> {
  return reader === undefined ? {} : backupSettingsInput(await reader.get(serverId));
}
