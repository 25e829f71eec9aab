/** `rbp files ls|versions|find`: the catalog of files across images. */
import { posix } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { FoundVersionView as FoundFileEverywhere } from '../../lambdas/core/api/file-search-routes.ts';
import { MAX_PAGE_LIMIT, type DirectoryEntry, type FileVersion } from '../../lambdas/core/api/schemas.ts';
import { ApiCallError } from '../api/api-client.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { withIdHint } from '../api/id-hints.ts';
import { formatBytes } from '../api/output.ts';
import { listRecoveryPointFiles } from './recovery-points.ts';
import {
  apiContext,
  listAll,
  parseImagePath,
  parsePartition,
  withApiOptions,
  type ApiCommandOptions,
} from '../api/context.ts';

/** Directories listed at most in one `files ls --recursive`: a guard against a cycle in a damaged catalog. */
export const MAX_RECURSIVE_DIRECTORIES = 1_000_000;

/** The tree under `root`, depth first, each directory's entries by name, listed by `list`. */
export async function walkDirectories(
  list: (directory: string) => Promise<DirectoryEntry[]>,
  root: string,
): Promise<DirectoryEntry[]> {
  const entries: DirectoryEntry[] = [];
  const pending = [root];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const directory = pending.pop()!;
    if (seen.has(directory) || seen.size >= MAX_RECURSIVE_DIRECTORIES) continue;
    seen.add(directory);
    const children = await list(directory);
    entries.push(...children);
    for (const child of [...children].reverse()) if (child.type === 'directory') pending.push(child.path);
  }
  return entries;
}

/**
 * What `files ls PATH` lists: the directory (with `recursive`, the tree below it), or, as `ls -l`
 * does, the entry itself when PATH names a file, a symlink or another non-directory. The API
 * answers 404 for a listing of a non-directory; only then is PATH's parent listed (one more
 * request, every page of it) to find it. A PATH that ends in `/` names a directory, so it is never
 * looked up so.
 */
export async function listPath(
  list: (directory: string) => Promise<DirectoryEntry[]>,
  path: string,
  recursive: boolean,
): Promise<DirectoryEntry[]> {
  try {
    return recursive ? await walkDirectories(list, path) : await list(path);
  } catch (error) {
    const normalized = posix.normalize(path);
    if (!(error instanceof ApiCallError) || error.status !== 404 || normalized.endsWith('/')) throw error;
    const name = posix.basename(normalized);
    const entry = (await list(posix.dirname(normalized)).catch(() => [])).find(
      (candidate) => candidate.name === name && candidate.type !== 'directory',
    );
    if (entry === undefined) throw error;
    return [entry];
  }
}

/** One page of GET /files/search. */
interface SearchAnswer {
  readonly items: FoundFileEverywhere[];
  readonly nextCursor?: string;
  readonly truncated: boolean;
}

/** Binary multiples --min-size and --max-size accept. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
};

/** A size in bytes, or with a K, M, G or T suffix (powers of 1024): `10M`, `1.5G`. */
export function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  const bytes = match === null ? NaN : Math.round(Number(match[1]) * SIZE_UNITS[match[2]!.toUpperCase()]!);
  if (!Number.isSafeInteger(bytes))
    throw new InvalidArgumentError('not a size (bytes, or 10K, 10M, 1.5G, 2T)');
  return bytes;
}

/** An ISO 8601 date or instant, passed on as an instant (a date is its midnight UTC). */
export function parseInstant(value: string): string {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new InvalidArgumentError('not an ISO 8601 date or time (2026-01-31, 2026-01-31T12:00:00Z)');
  }
  return new Date(ms).toISOString();
}

/** What --partition means, for every command that takes it. */
export const PARTITION_HELP =
  "the filesystem: its partition's index (0: a filesystem on the whole disk; an LVM logical volume's number as `images show` lists it)";

/** `ls -l`'s type letter of each entry type. */
const TYPE_LETTERS: Readonly<Record<DirectoryEntry['type'], string>> = {
  file: '-',
  directory: 'd',
  symlink: 'l',
  'char-device': 'c',
  'block-device': 'b',
  fifo: 'p',
  socket: 's',
};

/**
 * A mode as `ls -l` shows it (`drwxr-xr-x`, `-rwsr-x--T`): the type letter, then rwx for owner,
 * group and others, with setuid/setgid as s/S in the owner's/group's x place and sticky as t/T
 * in others'. Without mode bits (a filesystem that has none), only the type letter and dashes.
 */
export function formatMode(type: DirectoryEntry['type'], mode: number | undefined): string {
  const letter = TYPE_LETTERS[type];
  if (mode === undefined) return `${letter}?????????`;
  const triple = (shift: number, special: boolean, specialLetter: string): string => {
    const bits = (mode >> shift) & 0o7;
    const x = bits & 1 ? (special ? specialLetter : 'x') : special ? specialLetter.toUpperCase() : '-';
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${x}`;
  };
  return (
    letter +
    triple(6, (mode & 0o4000) !== 0, 's') +
    triple(3, (mode & 0o2000) !== 0, 's') +
    triple(0, (mode & 0o1000) !== 0, 't')
  );
}

export function registerFileCommands(program: Command): void {
  const files = program
    .command('files')
    .description('files and directories in the images (the catalog)')
    .addHelpText(
      'after',
      "\nExamples:\n  $ rbp files ls --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 /etc\n  $ rbp files versions --volume vol-0123456789abcdef0 /etc/hosts\n  $ rbp files find --server web01 'hosts*'",
    );

  withApiOptions(files.command('ls'))
    .description('list a directory as it was in an image or in a recovery point')
    .option('--image <imageId>', 'the image (or --recovery-point)')
    .option(
      '--recovery-point <recoveryPointId>',
      'a recovery point instead of an image: every volume under its device name (/dev/xvdb1/etc)',
    )
    .argument('[path]', 'the directory (absolute)', parseImagePath, '/')
    .option('-r, --recursive', 'walk the whole tree below the directory', false)
    .option('--partition <n>', PARTITION_HELP, parsePartition)
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp files ls --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 /etc\n  $ rbp files ls --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --recursive /home --json > home.json\n  $ rbp files ls --recovery-point rp-bk-20261120t120000000z-0a1b2c3d4e5f6071 /dev/xvdb1/var/lib',
    )
    .action(
      async (
        path: string,
        options: ApiCommandOptions & {
          image?: string;
          recoveryPoint?: string;
          recursive: boolean;
          partition?: number;
        },
      ) => {
        if ((options.image === undefined) === (options.recoveryPoint === undefined)) {
          throw new CliError('give exactly one of --image and --recovery-point', EXIT.USAGE);
        }
        const { client, print } = await apiContext(options);
        const pointId = options.recoveryPoint;
        const imageId = options.image ?? '';
        const entries =
          pointId !== undefined
            ? await withIdHint(
                listPath((d) => listRecoveryPointFiles(client, pointId, d), path, options.recursive),
                pointId,
                'recovery point',
                { image: 'list it: rbp files ls --image {id}' },
              )
            : await withIdHint(
                listPath(
                  (d) =>
                    listAll<DirectoryEntry>(client, `/images/${encodeURIComponent(imageId)}/files`, {
                      path: d,
                      partition: options.partition,
                    }),
                  path,
                  options.recursive,
                ),
                imageId,
                'image',
                { 'recovery point': 'list it: rbp files ls --recovery-point {id} /dev' },
              );
        print.result(entries, entries, [
          {
            header: 'MODE',
            value: (e) => formatMode(e.type, e.mode),
          },
          { header: 'OWNER', value: (e) => (e.uid === undefined ? undefined : `${e.uid}:${e.gid ?? '-'}`) },
          {
            header: 'SIZE',
            value: (e) => (e.type === 'directory' ? undefined : formatBytes(e.sizeBytes)),
            right: true,
          },
          { header: 'MODIFIED', value: (e) => e.modifiedAt },
          {
            header: options.recursive ? 'PATH' : 'NAME',
            value: (e) =>
              `${options.recursive ? e.path : e.name}${e.symlinkTarget === undefined ? '' : ` -> ${e.symlinkTarget}`}`,
          },
        ]);
      },
    );

  withApiOptions(files.command('versions'))
    .description('every version of a path across the images of a volume, oldest first')
    .requiredOption('--volume <volumeId>', 'the volume')
    .argument('<path>', 'the file or directory (absolute)', parseImagePath)
    .option('--partition <n>', PARTITION_HELP, parsePartition)
    .addHelpText('after', '\nExample:\n  $ rbp files versions --volume vol-0123456789abcdef0 /etc/hosts')
    .action(async (path: string, options: ApiCommandOptions & { volume: string; partition?: number }) => {
      const { client, print } = await apiContext(options);
      const versions = await listAll<FileVersion>(
        client,
        `/volumes/${encodeURIComponent(options.volume)}/files/versions`,
        { path, partition: options.partition },
      );
      print.result(versions, versions, [
        { header: 'FIRST IMAGE', value: (v) => v.firstImageId },
        { header: 'FIRST AT', value: (v) => v.firstImageAt },
        {
          header: 'UNTIL IMAGE',
          value: (v) =>
            v.untilImageId ? `${v.untilImageId}${v.removedAtUntil ? ' (removed)' : ''}` : 'current',
        },
        { header: 'TYPE', value: (v) => v.type },
        { header: 'SIZE', value: (v) => formatBytes(v.sizeBytes), right: true },
        { header: 'MODIFIED', value: (v) => v.modifiedAt },
      ]);
    });

  withApiOptions(files.command('find'))
    .description(
      'find files by name (a glob) in the images of one server, one volume or every volume, newest first',
    )
    .argument('<glob>', "a file name or glob: '*.bin', 'report-2026*', '?', '[a-z]' (quote it for the shell)")
    .option('--server <serverId>', 'only this server (default: every server you can see)')
    .option('--volume <volumeId>', 'only this volume')
    .option('--partition <n>', `${PARTITION_HELP}; default: every filesystem`, parsePartition)
    .option('--min-size <size>', 'at least this size (bytes, or with K, M, G, T: 10M)', parseSize)
    .option('--max-size <size>', 'at most this size (bytes, or with K, M, G, T)', parseSize)
    .option(
      '--modified-after <time>',
      'modified at or after (ISO 8601: 2026-01-31 or 2026-01-31T12:00:00Z)',
      parseInstant,
    )
    .option('--modified-before <time>', 'modified at or before (ISO 8601)', parseInstant)
    .option('--deleted', 'only versions that ended because the file was deleted', false)
    .option('--present', 'only versions in the newest image', false)
    .addHelpText(
      'after',
      "\nExamples:\n  $ rbp files find 'report-2026*'\n  $ rbp files find --server web01 '*.bin' --min-size 10M --modified-after 2026-01-01\n  $ rbp files find --volume vol-0123456789abcdef0 --deleted postgresql.conf\n\nNames that are not UTF-8 are shown and typed escaped (caf\\xe9); the search reads the catalog's\nname index: a glob with a literal start is one query per volume, a leading * reads each volume's index.",
    )
    .action(
      async (
        glob: string,
        options: ApiCommandOptions & {
          server?: string;
          volume?: string;
          partition?: number;
          minSize?: number;
          maxSize?: number;
          modifiedAfter?: string;
          modifiedBefore?: string;
          deleted: boolean;
          present: boolean;
        },
      ) => {
        if (options.deleted && options.present) {
          throw new CliError('give at most one of --deleted and --present', EXIT.USAGE);
        }
        if (glob.includes('/')) {
          const name = posix.basename(glob) || '*';
          throw new CliError(
            `a glob matches one file name, not a path: rbp files find '${name}' (each match shows its path); one path's versions: rbp files versions --volume VOLUME ${glob.startsWith('/') ? glob : `/${glob}`}`,
            EXIT.USAGE,
          );
        }
        const { client, print } = await apiContext(options);
        const query = {
          glob,
          server: options.server,
          volumeId: options.volume,
          partition: options.partition,
          minSize: options.minSize,
          maxSize: options.maxSize,
          modifiedAfter: options.modifiedAfter,
          modifiedBefore: options.modifiedBefore,
          state: options.deleted ? 'deleted' : options.present ? 'present' : undefined,
          // Every page runs the search again (docs/api.md): the largest page costs the fewest runs.
          limit: MAX_PAGE_LIMIT,
        };
        const found: FoundFileEverywhere[] = [];
        let truncated = false;
        let cursor: string | undefined;
        do {
          const page: SearchAnswer = await client.get<SearchAnswer>('/files/search', {
            ...query,
            ...(cursor === undefined ? {} : { cursor }),
          });
          found.push(...page.items);
          truncated ||= page.truncated;
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        if (truncated) {
          process.stderr.write(
            'warning: the search stopped at its read limit; more files may match (narrow the glob or name a server)\n',
          );
        }
        print.result(found, found, [
          { header: 'SERVER', value: (f) => f.serverId ?? f.volumeId },
          { header: 'PARTITION', value: (f) => String(f.partition ?? 0), right: true },
          { header: 'PATH', value: (f) => f.path },
          { header: 'TYPE', value: (f) => f.type },
          { header: 'SIZE', value: (f) => formatBytes(f.sizeBytes), right: true },
          { header: 'MODIFIED', value: (f) => f.modifiedAt },
          { header: 'FIRST IMAGE', value: (f) => f.firstImageId },
          {
            header: 'UNTIL IMAGE',
            value: (f) =>
              f.untilImageId === undefined
                ? 'current'
                : `${f.untilImageId}${f.removedAtUntil ? ' (deleted)' : ''}`,
          },
        ]);
      },
    );
}
