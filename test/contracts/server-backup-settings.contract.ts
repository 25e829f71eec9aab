/**
 * One contract for the ServerBackupSettingsReader port (core/orchestration/server-backup-settings.ts)
 * with the deployment's write (config-servers.ts puts every configured server's settings at once):
 * nothing before a write, each server's settings read back as written and never under another
 * server (a server's `volumeIds` as written, in the configuration's order, which the check
 * ignores; a server without them reads without), and the next write replaces the whole set (a
 * server whose settings left the configuration has none). Run against MemoryServerBackupSettings and the DynamoDB adapter on moto
 * (test/plans/server-backup-settings.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type {
  ServerBackupSettings,
  ServerBackupSettingsReader,
} from '../../lambdas/core/orchestration/server-backup-settings.ts';

/** The port and the deployment's write of every server's settings. */
export interface WritableServerBackupSettings extends ServerBackupSettingsReader {
  put(settings: readonly ServerBackupSettings[]): Promise<void>;
}

const WEB1: ServerBackupSettings = {
  serverId: 'web-1',
  probe: { kind: 'drs', sourceServerId: 's-0123456789abcdef0', maxLagSeconds: 60 },
  syncWait: { intervalSeconds: 60, timeoutSeconds: 7_200 },
};
const WEB10: ServerBackupSettings = {
  serverId: 'web-10',
  snapshotWait: { intervalSeconds: 120, timeoutSeconds: 43_200 },
};
/** Only a volume list, not sorted: the configuration's order is kept. */
const DB1: ServerBackupSettings = {
  serverId: 'db-1',
  volumeIds: ['vol-0f9e8d7c6b5a49302', 'vol-0a1b2c3d4e5f60718'],
};

export function serverBackupSettingsContract(
  name: string,
  make: () => Promise<WritableServerBackupSettings>,
): void {
  describe(`server backup settings contract: ${name}`, () => {
    it('has no settings before the deployment wrote any', async () => {
      const store = await make();
      expect(await store.get('web-1')).toBeUndefined();
    });

    it("reads each server's settings as written, ids that share a prefix apart, none for another server", async () => {
      const store = await make();
      await store.put([WEB10, WEB1]);
      expect(await store.get('web-1')).toEqual(WEB1);
      expect(await store.get('web-10')).toEqual(WEB10);
      expect(await store.get('web')).toBeUndefined();
    });

    it("reads a server's volumeIds as written; a server without them has none", async () => {
      const store = await make();
      await store.put([WEB1, DB1, { ...WEB10, volumeIds: ['vol-0c4d5e6f708192a3b'] }]);
      expect(await store.get('db-1')).toEqual(DB1);
      expect(await store.get('web-10')).toEqual({ ...WEB10, volumeIds: ['vol-0c4d5e6f708192a3b'] });
      expect(await store.get('web-1')).toEqual(WEB1);
      expect(await store.get('web-1')).not.toHaveProperty('volumeIds');
    });

    it('the next write replaces the whole set: a server left out has no settings any more', async () => {
      const store = await make();
      await store.put([WEB1, WEB10]);
      await store.put([{ ...WEB10, syncWait: { intervalSeconds: 5, timeoutSeconds: 600 } }]);
      expect(await store.get('web-1')).toBeUndefined();
      expect(await store.get('web-10')).toEqual({
        ...WEB10,
        syncWait: { intervalSeconds: 5, timeoutSeconds: 600 },
      });
    });
  });
}
