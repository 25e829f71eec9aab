/**
 * The protected volumes: every volume that has image records, whether or not its replica volume
 * still exists in EC2. What the lifecycle jobs treat as live (garbage collection above all) is the
 * records of these volumes, so it can never depend on EC2: a replica volume is deleted when AWS
 * Elastic Disaster Recovery disconnects its source server
 * (https://docs.aws.amazon.com/drs/latest/APIReference/API_DisconnectSourceServer.html), when a
 * server is decommissioned or its replica re-created, or its tag is lost, and the backups of that
 * server are then exactly the ones an operator needs.
 *
 * Each volume is registered by the transaction that commits its images (the commit point), and
 * volumes with records from before the registry by a one-time backfill (docs/lifecycle.md, "What
 * is live").
 */

/** One registered volume: written with every image commit of the volume (idempotent). */
export interface ProtectedVolume {
  readonly volumeId: string;
  /** The server the volume's backups are filed under, as the last commit named it. */
  readonly serverId?: string;
}

/**
 * The volumes whose records the lifecycle jobs read, each with its server: the registered volumes
 * and the replica volumes EC2 tags now. A volume's server is its tag's when it has one, else the
 * registry's, so the server of a volume whose replica (or tag) is gone comes from the stored
 * records. A volume that is only tagged (no image yet) has no records and costs one empty Query.
 */
export function protectedVolumeServers(
  registered: readonly ProtectedVolume[],
  tagged: ReadonlyMap<string, string | undefined>,
): Map<string, string | undefined> {
  const servers = new Map<string, string | undefined>();
  for (const volume of registered) servers.set(volume.volumeId, volume.serverId);
  for (const [volumeId, serverId] of tagged) servers.set(volumeId, serverId ?? servers.get(volumeId));
  return new Map([...servers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
