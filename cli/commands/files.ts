/** `rbp files ls|versions|find`: the catalog of files across images. */
import type { Command } from 'commander';
import type { DirectoryEntry, FileVersion, FoundFile } from '../../lambdas/core/api/schemas.ts';
import type { ApiClient } from '../api/api-client.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { formatBytes } from '../api/output.ts';
import { listRecoveryPointFiles } from './recovery-points.ts';
import {
  apiContext,
  listAll,
  parsePartition,
  withApiOptions,
  type ApiCommandOptions,
} from '../api/context.ts';

/** Directories listed at most in one `files ls --recursive`: a guard against a cycle in a damaged catalog. */
export const MAX_RECURSIVE_DIRECTORIES = 1_000_000;

/** The tree under `root` as it was in the image, depth first, each directory's entries by name. */
export function walkTree(
  client: ApiClient,
  imageId: string,
  root: string,
  partition?: number,
): Promise<DirectoryEntry[]> {
  return walkDirectories(
    (directory) =>
      listAll<DirectoryEntry>(client, `/images/${encodeURIComponent(imageId)}/files`, {
        path: directory,
        partition,
      }),
    root,
  );
}

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
      '\nExamples:\n  $ rbp files ls --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 /etc\n  $ rbp files versions --volume vol-0123456789abcdef0 /etc/hosts\n  $ rbp files find --volume vol-0123456789abcdef0 hosts',
    );

  withApiOptions(files.command('ls'))
    .description('list a directory as it was in an image or in a recovery point')
    .option('--image <imageId>', 'the image (or --recovery-point)')
    .option(
      '--recovery-point <recoveryPointId>',
      'a recovery point instead of an image: every volume under its device name (/dev/xvdb1/etc)',
    )
    .argument('[path]', 'the directory', '/')
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
            ? options.recursive
              ? await walkDirectories((d) => listRecoveryPointFiles(client, pointId, d), path)
              : await listRecoveryPointFiles(client, pointId, path)
            : options.recursive
              ? await walkTree(client, imageId, path, options.partition)
              : await listAll<DirectoryEntry>(client, `/images/${encodeURIComponent(imageId)}/files`, {
                  path,
                  partition: options.partition,
                });
        print.result(entries, entries, [
          { header: 'MODE', value: (e) => formatMode(e.type, e.mode) },
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
    .argument('<path>', 'the file or directory')
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
    .description('find files by exact name across the images of a volume')
    .requiredOption('--volume <volumeId>', 'the volume')
    .argument('<name>', 'the file name (no directories)')
    .option('--partition <n>', `${PARTITION_HELP}; default: every filesystem`, parsePartition)
    .addHelpText('after', '\nExample:\n  $ rbp files find --volume vol-0123456789abcdef0 postgresql.conf')
    .action(async (name: string, options: ApiCommandOptions & { volume: string; partition?: number }) => {
      const { client, print } = await apiContext(options);
      const all = await listAll<FoundFile>(
        client,
        `/volumes/${encodeURIComponent(options.volume)}/files/search`,
        { name },
      );
      // The search spans every filesystem of the volume; --partition narrows it here.
      const found =
        options.partition === undefined ? all : all.filter((f) => (f.partition ?? 0) === options.partition);
      print.result(found, found, [
        { header: 'PARTITION', value: (f) => String(f.partition ?? 0), right: true },
        { header: 'PATH', value: (f) => f.path },
        { header: 'TYPE', value: (f) => f.type },
        { header: 'SIZE', value: (f) => formatBytes(f.sizeBytes), right: true },
        { header: 'FIRST IMAGE', value: (f) => f.firstImageId },
        { header: 'UNTIL IMAGE', value: (f) => f.untilImageId ?? 'current' },
      ]);
    });
}
