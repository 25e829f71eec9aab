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
import { positionOf, tokenOf } from './source-position.ts';

/** One page of replica volumes in the source's own order. */
export interface ReplicaVolumePage {
  readonly volumes: readonly ServerVolume[];
  /** Where the next page starts; absent after the last page. */
  readonly nextToken?: string;
}

/** The replica volumes (`rbp:replica=true`, with every tag), read a page at a time. */
export interface ReplicaVolumePages {
  /** At most `limit` replica volumes from `token` (the first page without one). */
  pageReplicaVolumes(page: { readonly limit: number; readonly token?: string }): Promise<ReplicaVolumePage>;
  /** Every replica volume whose `rbp:source-server` tag is one of `serverIds`. */
  volumesOfServers(serverIds: readonly string[]): Promise<readonly ServerVolume[]>;
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

/**
 * One page of at most `page.limit` servers, whole, from the replica volumes (the token is this
 * function's own, see the module comment). Reads at most MAX_VOLUME_PAGES_PER_PAGE volume pages.
 */
export async function pageServers(
  source: ReplicaVolumePages,
  page: PageRequest,
): Promise<StorePage<ServerView>> {
  let position = positionOf(page.pageToken, page.limit);
  const items: ServerView[] = [];
  for (let round = 0; round < MAX_VOLUME_PAGES_PER_PAGE; round += 1) {
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
    if (volumes.nextToken === undefined) return { items: byName(items) };
    position = { t: volumes.nextToken, s: 0, n: position.n };
    if (items.length >= page.limit) break;
  }
  return { items: byName(items), nextToken: tokenOf(position) };
}
