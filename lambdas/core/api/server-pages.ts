/**
 * Pages of protected servers read from the replica volumes a page at a time (`GET /servers`).
 *
 * A server is the group of replica volumes that share one `rbp:source-server` tag (a volume
 * without the tag is a server of its own, named by its volume id). The volumes are listed in the
 * source's own order (EC2's DescribeVolumes pages are not ordered by tag), so one server's volumes
 * can be on several pages. A page of servers is cut from a page of volumes like this: the servers
 * that have a volume on the page are read whole with one filtered read of their tag, and a server
 * belongs to the page that holds its smallest volume id (its anchor). Every server is then listed
 * exactly once across the pages, whole, and the requests of a page follow the page size, never the
 * number of servers or volumes of the account. Within a page servers are ordered by name; across
 * pages they follow the volumes' order (a fleet that fits in one page is ordered by name).
 *
 * The store's token is a SourcePosition (source-position.ts): the volume page's token, the servers
 * anchored on it already listed, and the volumes per volume page.
 */
import { serversFromVolumes, type ServerView, type ServerVolume } from '../plans/servers.ts';
import { SOURCE_SERVER_TAG } from '../orchestration/backup-request.ts';
import type { PageRequest, StorePage } from './api-ports.ts';
import type { ProtectedVolume } from '../lifecycle/protected-volumes.ts';
import { ValidationError } from '../errors.ts';
import { positionOf, tokenOf, type SourcePosition } from './source-position.ts';

/** One page of replica volumes in the source's own order. */
export interface ReplicaVolumePage {
  readonly volumes: readonly ServerVolume[];
  /** Where the next page starts; absent after the last page. */
  readonly nextToken?: string;
}

/** Registered servers in name order, each with every volume the registry files under it. */
export interface RegisteredServerPage {
  readonly servers: readonly { readonly name: string; readonly volumeIds: readonly string[] }[];
  /** More registered servers follow the last one. */
  readonly more: boolean;
}

/** The replica volumes (`rbp:replica=true`, with every tag), read a page at a time. */
export interface ReplicaVolumePages {
  /** At most `limit` replica volumes from `token` (the first page without one). */
  pageReplicaVolumes(page: { readonly limit: number; readonly token?: string }): Promise<ReplicaVolumePage>;
  /** Every replica volume whose `rbp:source-server` tag is one of `serverIds`. */
  volumesOfServers(serverIds: readonly string[]): Promise<readonly ServerVolume[]>;
  /**
   * The protected-volume registry (lifecycle/protected-volumes.ts), whole: one Query per 1 MB,
   * thousands of volumes each. Absent: `GET /servers` lists the servers EC2 has only.
   */
  readonly registeredVolumes?: () => Promise<readonly ProtectedVolume[]>;
  /**
   * At most `limit` registered servers whose names sort after `after`, each whole, from the
   * registry's index by server (reads follow the page, not the registry); undefined while that
   * index is not complete, and then the gone phase reads registeredVolumes. Absent: likewise.
   */
  registeredServers?(page: {
    readonly after?: string;
    readonly limit: number;
  }): Promise<RegisteredServerPage | undefined>;
  /** Which of `volumeIds` EC2 has as replica volumes (needed with registeredVolumes). */
  replicaVolumeIdsAmong?(volumeIds: readonly string[]): Promise<ReadonlySet<string>>;
}

/**
 * Server ids per filtered read: EC2 refuses a request whose filters carry too many values; 100
 * keeps one read per volume page at the API's default page size.
 */
export const SERVER_IDS_PER_READ = 100;
/**
 * Volume pages read at most for one page of servers. A volume page whose volumes all belong to
 * servers anchored on other pages adds no server; the answer then holds fewer servers than asked
 * (and a cursor), so a page costs at most this many volume pages whatever the account holds.
 */
export const MAX_VOLUME_PAGES_PER_PAGE = 3;

/** A page's servers by name (a page can gather servers of several volume pages). */
function byName(servers: ServerView[]): ServerView[] {
  return servers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The servers anchored on `page` (their smallest volume is on it), whole, ordered by name. A page
 * read from the start with no next token is every replica volume: its servers are whole already.
 */
async function serversAnchoredOn(
  source: ReplicaVolumePages,
  page: ReplicaVolumePage,
  fromStart: boolean,
): Promise<ServerView[]> {
  if (fromStart && page.nextToken === undefined) return serversFromVolumes(page.volumes);
  const onPage = new Set(page.volumes.map((v) => v.volumeId));
  const tagged = [
    ...new Set(
      page.volumes.flatMap((v) =>
        v.tags[SOURCE_SERVER_TAG] === undefined ? [] : [v.tags[SOURCE_SERVER_TAG]],
      ),
    ),
  ].sort();
  const volumes = new Map(page.volumes.map((v) => [v.volumeId, v]));
  for (let at = 0; at < tagged.length; at += SERVER_IDS_PER_READ) {
    for (const volume of await source.volumesOfServers(tagged.slice(at, at + SERVER_IDS_PER_READ))) {
      volumes.set(volume.volumeId, volume);
    }
  }
  // serversFromVolumes orders each server's volumes by id: the first is its anchor.
  return serversFromVolumes([...volumes.values()]).filter((server) =>
    onPage.has(server.volumes[0]!.volumeId),
  );
}

/** A server known only from the registry: its registered volumes, none of which EC2 has. */
function goneServer(name: string, volumeIds: readonly string[]): ServerView {
  return {
    name,
    replication: 'disconnected',
    volumes: [...volumeIds].sort().map((volumeId) => ({ volumeId, tags: {} })),
    applications: [],
    hasPrimary: false,
    state: 'REPLICA GONE',
  };
}

/** A chunk of registered servers, by name, each with its registered volume ids. */
interface ServerChunk {
  readonly servers: readonly { readonly name: string; readonly volumeIds: readonly string[] }[];
  /** More registered servers follow the chunk's last. */
  readonly more: boolean;
}

/**
 * The registry's servers after a name in chunks of `size` names: from its index by server, one
 * read per chunk (registeredServers), or, while there is none, from the whole registry read once.
 */
async function serverChunks(
  source: ReplicaVolumePages,
  registered: NonNullable<ReplicaVolumePages['registeredVolumes']>,
  after: string | undefined,
  size: number,
): Promise<{ readonly first: ServerChunk; readonly next: (after: string) => Promise<ServerChunk> }> {
  const page = (from: string | undefined) =>
    source.registeredServers?.({ ...(from === undefined ? {} : { after: from }), limit: size });
  const first = await page(after);
  if (first !== undefined) {
    return {
      first,
      next: async (from) => (await page(from)) ?? { servers: [], more: false },
    };
  }
  const byServer = new Map<string, string[]>();
  for (const volume of await registered()) {
    const name = volume.serverId ?? volume.volumeId;
    byServer.set(name, [...(byServer.get(name) ?? []), volume.volumeId]);
  }
  const names = [...byServer.keys()].sort();
  const chunk = (from: string | undefined): ServerChunk => {
    const rest = names.filter((name) => from === undefined || name > from);
    return {
      servers: rest.slice(0, size).map((name) => ({ name, volumeIds: byServer.get(name)! })),
      more: rest.length > size,
    };
  };
  return { first: chunk(after), next: (from) => Promise.resolve(chunk(from)) };
}

/**
 * The gone phase of `GET /servers`, after EC2's last volume page: the registry's servers (a
 * volume's registered server, else its volume id) in name order after `position.t`, checked
 * `position.n` names at a time; a server is gone when EC2 has no replica volume tagged with its
 * name and none of its registered volumes. The names come from the registry's index by server,
 * one read per chunk, so a page reads its own servers only; where that index is not complete yet
 * (a table from before it, until the lifecycle jobs' backfill), from the whole registry, read once
 * per page. Each check costs one filtered read of the names' tag and one of their volume ids per
 * SERVER_IDS_PER_READ.
 */
async function goneServers(
  source: ReplicaVolumePages,
  registered: NonNullable<ReplicaVolumePages['registeredVolumes']>,
  position: SourcePosition,
  wanted: number,
  rounds: number,
): Promise<{ readonly items: ServerView[]; readonly next?: SourcePosition }> {
  const chunks = await serverChunks(source, registered, position.t, position.n);
  const items: ServerView[] = [];
  let chunk = chunks.first;
  for (let round = 0; chunk.servers.length > 0; round += 1) {
    const names = chunk.servers.map((server) => server.name);
    const present = new Set<string>();
    for (let i = 0; i < names.length; i += SERVER_IDS_PER_READ) {
      for (const volume of await source.volumesOfServers(names.slice(i, i + SERVER_IDS_PER_READ))) {
        const tag = volume.tags[SOURCE_SERVER_TAG];
        if (tag !== undefined) present.add(tag);
      }
    }
    const ids = chunk.servers.flatMap((server) => server.volumeIds);
    const inEc2 = new Set<string>();
    for (let i = 0; i < ids.length; i += SERVER_IDS_PER_READ) {
      for (const id of (await source.replicaVolumeIdsAmong?.(ids.slice(i, i + SERVER_IDS_PER_READ))) ?? []) {
        inEc2.add(id);
      }
    }
    for (const { name, volumeIds } of chunk.servers) {
      if (present.has(name) || volumeIds.some((id) => inEc2.has(id))) continue;
      items.push(goneServer(name, volumeIds));
      // Stop right after the page's last server: the next page starts after its name.
      if (items.length === wanted && (name !== names.at(-1) || chunk.more)) {
        return { items, next: { g: 1, t: name, s: 0, n: position.n } };
      }
    }
    if (!chunk.more) break;
    if (round + 1 >= rounds) return { items, next: { g: 1, t: names.at(-1)!, s: 0, n: position.n } };
    chunk = await chunks.next(names.at(-1)!);
  }
  return { items };
}

/**
 * One page of at most `page.limit` servers, whole, from the replica volumes (the token is this
 * function's own, see the module comment), then, when the source has the registry, the servers
 * EC2 no longer has (goneServers). Reads at most MAX_VOLUME_PAGES_PER_PAGE volume pages or
 * registry chunks.
 */
export async function pageServers(
  source: ReplicaVolumePages,
  page: PageRequest,
): Promise<StorePage<ServerView>> {
  let position = positionOf(page.pageToken, page.limit);
  const registered = source.registeredVolumes;
  if (position.g === 1 && registered === undefined) {
    throw new ValidationError('invalid cursor: unreadable position', { context: { field: 'cursor' } });
  }
  const items: ServerView[] = [];
  for (let round = 0; round < MAX_VOLUME_PAGES_PER_PAGE; round += 1) {
    if (position.g === 1) {
      const gone = await goneServers(
        source,
        registered!,
        position,
        page.limit - items.length,
        MAX_VOLUME_PAGES_PER_PAGE - round,
      );
      items.push(...gone.items);
      return gone.next === undefined
        ? { items: byName(items) }
        : { items: byName(items), nextToken: tokenOf(gone.next) };
    }
    const volumes = await source.pageReplicaVolumes({
      limit: position.n,
      ...(position.t === undefined ? {} : { token: position.t }),
    });
    const anchored = (await serversAnchoredOn(source, volumes, position.t === undefined)).slice(position.s);
    const taken = anchored.slice(0, page.limit - items.length);
    items.push(...taken);
    if (taken.length < anchored.length) {
      return { items: byName(items), nextToken: tokenOf({ ...position, s: position.s + taken.length }) };
    }
    if (volumes.nextToken === undefined) {
      if (registered === undefined) return { items: byName(items) };
      position = { g: 1, s: 0, n: position.n };
      if (items.length >= page.limit) break;
      continue;
    }
    position = { t: volumes.nextToken, s: 0, n: position.n };
    if (items.length >= page.limit) break;
  }
  return { items: byName(items), nextToken: tokenOf(position) };
}
