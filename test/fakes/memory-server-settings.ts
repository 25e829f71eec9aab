/** In-memory ServerBackupSettingsReader with the deployment's write (server-backup-settings.contract.ts). */
import type {
  ServerBackupSettings,
  ServerBackupSettingsReader,
} from '../../lambdas/core/orchestration/server-backup-settings.ts';

export class MemoryServerBackupSettings implements ServerBackupSettingsReader {
  private settings = new Map<string, ServerBackupSettings>();

  get(serverId: string): Promise<ServerBackupSettings | undefined> {
    const found = this.settings.get(serverId);
    return Promise.resolve(found === undefined ? undefined : structuredClone(found));
  }

  put(settings: readonly ServerBackupSettings[]): Promise<void> {
    this.settings = new Map(settings.map((s) => [s.serverId, structuredClone(s)]));
    return Promise.resolve();
  }
}
