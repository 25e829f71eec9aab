/**
 * `rbp images ls --volume V`, `rbp images show IMAGE`, `rbp images hold IMAGE` / `rbp images release
 * IMAGE` (PUT /images/{id}/legal-hold) and `rbp images delete IMAGE` (lifecycle.ts).
 */
import { Option, type Command } from 'commander';
import {
  IMAGE_KINDS,
  IMAGE_STATUSES,
  type Image,
  type ImageCatalog,
} from '../../lambdas/core/api/schemas.ts';
import { withIdHint } from '../api/id-hints.ts';
import { formatBytes, renderTable } from '../api/output.ts';
import {
  anyCaseChoices,
  apiContext,
  listAll,
  withApiOptions,
  type ApiCommandOptions,
} from '../api/context.ts';
import { parseInstant } from './files.ts';
import { registerImageDeleteCommand } from './lifecycle.ts';
import type { LegalHold } from '../../lambdas/core/api/lifecycle-api.ts';

/**
 * What each full-read reason of an image means (lambdas/core/backup/plan.ts and range-worker.ts
 * set them); a reason not listed here is shown by its code alone.
 */
export const FULL_READ_EXPLANATIONS: Readonly<Record<string, string>> = {
  UNRELATED_SNAPSHOTS:
    "the parent image's snapshot is of another volume lineage, e.g. a re-created replica volume, so EBS cannot list the changes since it",
  PARENT_SNAPSHOT_NOT_FOUND:
    "the parent image's snapshot no longer exists, so the changes since it cannot be listed",
  VOLUME_SIZE_CHANGED: "the volume's size differs from the parent image's",
  QUARANTINED_CHUNK:
    'the scrub quarantined a chunk of this volume (corrupt or missing at rest); a full read writes it again if the volume still holds it',
};

/** `images show`'s line for an image read in full although it has a parent; undefined otherwise. */
export function fullReadLine(image: Image): string | undefined {
  const reason = image.fullReadReason;
  if (reason === undefined) return undefined;
  const explanation = FULL_READ_EXPLANATIONS[reason];
  const inFull = image.stats.blocksReadInFull;
  const blocks =
    inFull === undefined ? '' : `; ${inFull} of ${image.stats.blocksRead ?? inFull} blocks read in full`;
  return `Full read: ${reason}${explanation === undefined ? '' : ` (${explanation})`}${blocks}`;
}

export const imageColumns = [
  { header: 'IMAGE', value: (i: Image) => i.imageId },
  { header: 'CREATED', value: (i: Image) => i.createdAt },
  // A full read the backup fell back to names its reason: it read written blocks, not only changed ones.
  {
    header: 'KIND',
    value: (i: Image) => (i.fullReadReason === undefined ? i.kind : `${i.kind} (${i.fullReadReason})`),
  },
  { header: 'STATUS', value: (i: Image) => i.status },
  // What the backup stored (new chunks, compressed), not the volume's size.
  { header: 'STORED', value: (i: Image) => formatBytes(i.stats.bytesCreated ?? 0), right: true },
  { header: 'PARENT', value: (i: Image) => i.parentImageId },
  { header: 'SNAPSHOT', value: (i: Image) => i.snapshotId },
];

type CatalogFilesystem = ImageCatalog['filesystems'][number];

const filesystemColumns = [
  { header: 'PARTITION', value: (f: CatalogFilesystem) => String(f.partition), right: true },
  { header: 'TYPE', value: (f: CatalogFilesystem) => f.type },
  { header: 'LABEL', value: (f: CatalogFilesystem) => f.label ?? f.logicalVolume },
  { header: 'STATUS', value: (f: CatalogFilesystem) => f.status },
  { header: 'FILES', value: (f: CatalogFilesystem) => String(f.files), right: true },
  { header: 'DIRS', value: (f: CatalogFilesystem) => String(f.directories), right: true },
  { header: 'BYTES', value: (f: CatalogFilesystem) => formatBytes(f.bytes), right: true },
  { header: 'ERRORS', value: (f: CatalogFilesystem) => String(f.errorCount), right: true },
  { header: 'REASON', value: (f: CatalogFilesystem) => f.reason },
];

/** `images show`: the image, then what its catalog found (filesystems, warnings). */
export function describeImage(image: Image & { catalog?: ImageCatalog }): string {
  const fullRead = fullReadLine(image);
  const hold =
    image.legalHold === true
      ? [`Legal hold: yes${image.legalHoldReason === undefined ? '' : ` (${image.legalHoldReason})`}`]
      : [];
  const lines = [
    renderTable([image], imageColumns),
    ...(fullRead === undefined ? [] : [fullRead]),
    ...hold,
    '',
  ];
  const catalog = image.catalog;
  if (catalog === undefined) {
    lines.push('catalog: not built yet');
    return lines.join('\n');
  }
  const scheme = catalog.partitionScheme === undefined ? '' : ` (${catalog.partitionScheme} disk)`;
  lines.push(`catalog: ${catalog.status}${scheme}, ${catalog.errorCount} errors`);
  if (catalog.filesystems.length === 0) lines.push('no filesystem found');
  else lines.push(renderTable(catalog.filesystems, filesystemColumns));
  if (catalog.warnings.length > 0) {
    lines.push('', 'warnings:');
    for (const w of catalog.warnings) {
      const where = [w.partition === undefined ? '' : `partition ${w.partition}`, w.path ?? '']
        .filter(Boolean)
        .join(' ');
      lines.push(`  ${where === '' ? '' : `${where}: `}${w.message}`);
    }
  }
  return lines.join('\n');
}

export function registerImageCommands(program: Command): void {
  const images = program
    .command('images')
    .description('point-in-time images of a volume')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp images ls --volume vol-0123456789abcdef0\n  $ rbp images show img-bk-20261120t120000000z-0a1b2c3d4e5f6071',
    );
  withApiOptions(images.command('ls'))
    .description('list the images of a volume, newest first')
    .requiredOption('--volume <volumeId>', 'the volume')
    .option(
      '--from <time>',
      'only images created at or after this instant (ISO 8601: 2026-01-31 or 2026-01-31T12:00:00Z)',
      parseInstant,
    )
    .option('--to <time>', 'only images created at or before this instant (ISO 8601)', parseInstant)
    .addOption(anyCaseChoices(new Option('--status <status>', 'only images in this state'), IMAGE_STATUSES))
    .addOption(anyCaseChoices(new Option('--kind <kind>', 'only full or incremental images'), IMAGE_KINDS))
    .option('--quiet', 'print only the image ids, one a line (newest first)', false)
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp images ls --volume vol-0123456789abcdef0\n  $ rbp images ls --volume vol-0123456789abcdef0 --from 2026-11-01T00:00:00Z --kind full --json\n  $ IMG=$(rbp images ls --volume vol-0123456789abcdef0 --quiet | head -1)',
    )
    .action(
      async (
        options: ApiCommandOptions & {
          volume: string;
          from?: string;
          to?: string;
          status?: string;
          kind?: string;
          quiet: boolean;
        },
      ) => {
        const { client, print } = await apiContext(options);
        const items = await listAll<Image>(client, `/volumes/${encodeURIComponent(options.volume)}/images`, {
          from: options.from,
          to: options.to,
          status: options.status,
          kind: options.kind,
        });
        if (options.quiet) {
          process.stdout.write(items.map((image) => `${image.imageId}\n`).join(''));
          return;
        }
        print.result(items, items, imageColumns);
      },
    );
  withApiOptions(images.command('show'))
    .description('show one image and what its catalog found (filesystems, counts, warnings)')
    .argument('<imageId>', 'the image')
    .addHelpText('after', '\nExample:\n  $ rbp images show img-bk-20261120t120000000z-0a1b2c3d4e5f6071')
    .action(async (imageId: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const image = await withIdHint(
        client.get<Image & { catalog?: ImageCatalog }>(`/images/${encodeURIComponent(imageId)}`),
        imageId,
        'image',
      );
      print.message(image, describeImage(image));
    });
  registerLegalHoldCommands(images);
  registerImageDeleteCommand(images);
}

/** The line `images hold` and `images release` print: what the image's hold is now, who and when. */
export function legalHoldLine(hold: LegalHold): string {
  const what = hold.legalHold
    ? `under legal hold${hold.reason === undefined ? '' : ` (${hold.reason})`}`
    : 'not under legal hold';
  return `image ${hold.imageId} of ${hold.volumeId} is ${what}: changed by ${hold.changedBy} at ${hold.changedAt}`;
}

function registerLegalHoldCommands(images: Command): void {
  const send = async (imageId: string, body: object, options: ApiCommandOptions): Promise<void> => {
    const { client, print } = await apiContext(options);
    const hold = await withIdHint(
      client.put<LegalHold>(`/images/${encodeURIComponent(imageId)}/legal-hold`, body),
      imageId,
      'image',
    );
    print.message(hold, legalHoldLine(hold));
  };
  withApiOptions(images.command('hold'))
    .description(
      'put one image under legal hold: retention, expiry and delete keep it until it is released (refused once its deletion has begun)',
    )
    .argument('<imageId>', 'the image')
    .option('--reason <text>', 'why it is held, e.g. a case or ticket reference (1-256 characters)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp images hold img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --reason "case 4711"\n  $ rbp images ls --volume vol-0123456789abcdef0 --quiet | xargs -n1 rbp images hold --reason "case 4711"',
    )
    .action((imageId: string, options: ApiCommandOptions & { reason?: string }) =>
      send(
        imageId,
        { legalHold: true, ...(options.reason === undefined ? {} : { reason: options.reason }) },
        options,
      ),
    );
  withApiOptions(images.command('release'))
    .description('lift the legal hold of one image (nothing to lift is success)')
    .argument('<imageId>', 'the image')
    .addHelpText('after', '\nExample:\n  $ rbp images release img-bk-20261120t120000000z-0a1b2c3d4e5f6071')
    .action((imageId: string, options: ApiCommandOptions) => send(imageId, { legalHold: false }, options));
}
