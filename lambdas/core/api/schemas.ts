/**
 * Every input and output of the REST API as a zod schema: the handler validates with them and
 * docs/openapi.json is generated from them (openapi.ts), so the two cannot drift apart.
 */
import { MAX_GPT_ENTRIES } from '../fs/partitions.ts';
import { LV_NUMBER_BASE } from '../fs/volume.ts';
import { z } from 'zod';
import { normaliseCatalogPath, storedCatalogPath } from './catalog-path.ts';
import { MAX_CURSOR_CHARS } from './cursor.ts';

/** EC2 volume ids: `vol-` and 8 or 17 hex digits (the old and the current form). */
export const VOLUME_ID_PATTERN = /^vol-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/**
 * Backup and restore ids: a letter or digit, then letters, digits, `_` and `-` (at most 80: a Step
 * Functions execution name). No `.` or `/`, so an id can never walk a key prefix.
 */
export const RESOURCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;
/** Image ids: the same alphabet, at most 128 (the state machine names an image `img-<execution name>`). */
export const IMAGE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** Items per page unless the client asks otherwise. */
export const DEFAULT_PAGE_LIMIT = 100;
/** Most items per page: a DynamoDB Query page (1 MB) holds about this many catalog items. */
export const MAX_PAGE_LIMIT = 1_000;
/** Longest file name accepted by search: NAME_MAX. */
export const MAX_SEARCH_NAME_CHARS = 255;
/** Longest application name accepted: the agent's metadata names are short identifiers. */
export const MAX_APPLICATION_NAME_CHARS = 128;

export const volumeIdSchema = z
  .string()
  .regex(VOLUME_ID_PATTERN, 'must be an EBS volume id (vol- and 8 or 17 hex digits)')
  .describe('EBS volume id of a protected replica volume');
export const imageIdSchema = z
  .string()
  .regex(
    RESOURCE_ID_PATTERN,
    'must be an image id (1-80 of A-Z a-z 0-9 _ -, starting with a letter or digit)',
  )
  .describe('Image id: one committed point-in-time image of a volume');
export const backupIdSchema = z
  .string()
  .regex(
    RESOURCE_ID_PATTERN,
    'must be a backup id (1-80 of A-Z a-z 0-9 _ -, starting with a letter or digit)',
  )
  .describe('Backup id: the name of the backup execution');
export const restoreIdSchema = z
  .string()
  .regex(
    RESOURCE_ID_PATTERN,
    'must be a restore id (1-80 of A-Z a-z 0-9 _ -, starting with a letter or digit)',
  )
  .describe('Restore id');

/** A path inside the backed-up filesystem; normalised, traversal above `/` refused. */
export const catalogPathSchema = z
  .string()
  .describe(
    'Absolute POSIX path inside the filesystem, e.g. /etc/hosts (normalised; no NUL; .. may not climb above /). Names that are not UTF-8 are written escaped, as listings show them: \\xNN for such a byte, \\\\ for a backslash (caf\\xe9)',
  )
  .transform((raw, context) => {
    const normalised = normaliseCatalogPath(raw);
    const result = normalised.ok ? storedCatalogPath(normalised.path) : normalised;
    if (!result.ok) {
      context.addIssue({ code: 'custom', message: `path ${result.reason}` });
      return z.NEVER;
    }
    return result.path;
  });

const cursorSchema = z
  .string()
  .min(1)
  .max(MAX_CURSOR_CHARS)
  .describe('Opaque cursor from the previous page (nextCursor); valid only for the same query')
  .optional();
const limitSchema = z.coerce
  .number()
  .int('must be an integer')
  .min(1)
  .max(MAX_PAGE_LIMIT)
  .default(DEFAULT_PAGE_LIMIT)
  .describe(`Items per page (1-${MAX_PAGE_LIMIT})`);
const pageQuery = { cursor: cursorSchema, limit: limitSchema };
/**
 * Largest filesystem number: partitions keep their table index (GPT: up to MAX_GPT_ENTRIES; 0 is a
 * filesystem on the whole disk), LVM logical volumes are numbered LV_NUMBER_BASE × their PV's
 * partition index + n (docs/catalog.md, "Partitions and logical volumes").
 */
export const MAX_PARTITION_INDEX = (MAX_GPT_ENTRIES + 1) * LV_NUMBER_BASE;
const partitionQuery = z.coerce
  .number()
  .int('must be an integer')
  .min(0)
  .max(MAX_PARTITION_INDEX)
  .optional()
  .describe('Partition index of the filesystem (default: the image’s only catalogued filesystem)');
const partitionField = z
  .number()
  .int()
  .min(0)
  .max(MAX_PARTITION_INDEX)
  .optional()
  .describe('Partition index of the filesystem (default: the image’s only catalogued filesystem)');

// ---------------------------------------------------------------------------------------------
// Path parameters, query strings and bodies
// ---------------------------------------------------------------------------------------------

export const volumePathParams = z.object({ volumeId: volumeIdSchema }).strict();
export const imagePathParams = z.object({ imageId: imageIdSchema }).strict();
export const backupPathParams = z.object({ backupId: backupIdSchema }).strict();
export const restorePathParams = z.object({ restoreId: restoreIdSchema }).strict();

export const IMAGE_KINDS = ['full', 'incremental'] as const;
export const IMAGE_STATUSES = ['committed', 'cataloged'] as const;

export const pageOnlyQuery = z.object(pageQuery).strict();
export const listImagesQuery = z
  .object({
    from: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Only images created at or after this instant (ISO 8601)'),
    to: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Only images created at or before this instant (ISO 8601)'),
    status: z.enum(IMAGE_STATUSES).optional().describe('Only images in this state'),
    kind: z.enum(IMAGE_KINDS).optional().describe('Only full or only incremental images'),
    ...pageQuery,
  })
  .strict()
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) <= Date.parse(q.to), {
    message: 'from must not be after to',
    path: ['from'],
  });
export const listFilesQuery = z
  .object({ path: catalogPathSchema.default('/'), partition: partitionQuery, ...pageQuery })
  .strict();
export const fileVersionsQuery = z
  .object({ path: catalogPathSchema, partition: partitionQuery, ...pageQuery })
  .strict();
export const searchFilesQuery = z
  .object({
    name: z
      .string()
      .min(1)
      .max(MAX_SEARCH_NAME_CHARS)
      .refine((name) => !name.includes('/') && !name.includes('\0'), 'name must be a file name (no / or NUL)')
      .describe('Exact file name to find across the volume’s images'),
    ...pageQuery,
  })
  .strict();

export const startBackupBody = z
  .object({
    volumeId: volumeIdSchema.optional(),
    serverId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be a server id (1-128 of A-Z a-z 0-9 . _ : -)')
      .optional()
      .describe('Back up every replica volume of this server (tag rbp:source-server) as one recovery point'),
    full: z.boolean().default(false).describe('Read every block even when an incremental is possible'),
    source: z
      .enum(['replica', 'primary'])
      .default('replica')
      .describe(
        "Back up the replica volumes, or the source server's own (primary) volumes named by rbp:primary-volume (docs/plans.md)",
      ),
  })
  .strict()
  .refine((b) => (b.volumeId === undefined) !== (b.serverId === undefined), {
    message: 'give exactly one of volumeId and serverId',
  });

export const RESTORE_KINDS = ['file', 'directory', 'application', 'volume'] as const;
/** A KMS key ARN (or alias ARN) of this partition: https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id */
export const kmsKeyArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key\/[A-Za-z0-9-]{1,64}|alias\/[A-Za-z0-9/_-]{1,250})$/,
    'must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)',
  )
  .describe("KMS key of the restored snapshot (default: the stack's key)");
const applicationNameSchema = z
  .string()
  .min(1)
  .max(MAX_APPLICATION_NAME_CHARS)
  .regex(/^[^\0/]+$/, 'must not contain / or NUL')
  .describe('Application name as recorded in the image (GET /images/{imageId}/applications)');

export const startRestoreBody = z.discriminatedUnion('kind', [
  z
    .object({
      imageId: imageIdSchema,
      kind: z.literal('file'),
      path: catalogPathSchema,
      partition: partitionField,
    })
    .strict(),
  z
    .object({
      imageId: imageIdSchema,
      kind: z.literal('directory'),
      path: catalogPathSchema,
      partition: partitionField,
    })
    .strict(),
  z
    .object({
      imageId: imageIdSchema,
      kind: z.literal('application'),
      application: applicationNameSchema,
      partition: partitionField,
    })
    .strict(),
  z
    .object({
      imageId: imageIdSchema,
      kind: z.literal('volume'),
      kmsKeyArn: kmsKeyArnSchema.optional(),
      parentRestoreId: restoreIdSchema
        .optional()
        .describe(
          'Delta restore: start from the snapshot of this earlier succeeded volume restore of the same volume and put only the blocks that differ',
        ),
    })
    .strict(),
]);
export type StartRestoreRequest = z.output<typeof startRestoreBody>;
export type StartBackupRequest = z.output<typeof startBackupBody>;

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

const isoInstant = z.string().describe('ISO 8601 UTC instant');

export const volumeSchema = z.object({
  volumeId: volumeIdSchema,
  serverId: z.string().optional().describe('Protected (source) server of the replica'),
  device: z.string().optional().describe('Device name of this disk on the source server'),
  sizeGib: z.number().int().optional(),
  imageCount: z.number().int().describe('Committed images of the volume'),
  latestImageId: imageIdSchema.optional(),
  latestImageAt: isoInstant.optional(),
  state: z
    .enum(['REPLICA GONE'])
    .optional()
    .describe(
      'REPLICA GONE: EC2 no longer has the replica volume (deleted, e.g. when DRS disconnected the source server, or untagged); its backups remain. Absent: EC2 has it',
    ),
});
export type Volume = z.infer<typeof volumeSchema>;

export const imageSchema = z.object({
  imageId: imageIdSchema,
  volumeId: volumeIdSchema,
  createdAt: isoInstant,
  kind: z.enum(IMAGE_KINDS),
  status: z.enum(IMAGE_STATUSES).describe('committed: restorable; cataloged: its files are also searchable'),
  snapshotId: z.string(),
  parentImageId: imageIdSchema.optional(),
  fullReadReason: z
    .string()
    .optional()
    .describe(
      'Why the image was read in full although it has a parent: UNRELATED_SNAPSHOTS (EBS could not list changes since the parent snapshot), PARENT_SNAPSHOT_NOT_FOUND, VOLUME_SIZE_CHANGED, QUARANTINED_CHUNK (the scrub quarantined a chunk of the volume; the full read writes it again); absent otherwise and on images committed before it was recorded',
    ),
  volumeSizeBytes: z.number().int(),
  formatVersion: z.number().int(),
  stats: z
    .record(z.string(), z.number())
    .describe(
      'Figures of the backup that made the image: chunksCreated, bytesCreated, blocksRead, and with fullReadReason blocksReadInFull (of blocksRead, those read in full)',
    ),
  source: z
    .enum(['replica', 'primary'])
    .optional()
    .describe(
      "The copy the image was read from: the replica volume, or the source server's own (primary) volume (the API always sets it)",
    ),
  legalHold: z
    .literal(true)
    .optional()
    .describe(
      'Present while the image is under legal hold (PUT /images/{imageId}/legal-hold): retention, expiry and DELETE keep it',
    ),
  legalHoldReason: z.string().optional().describe('Why the image is held, when the hold was given a reason'),
});
export type Image = z.infer<typeof imageSchema>;

/** A filesystem's catalog state; `no-filesystem`: no known filesystem signature where one was looked for. */
export const FILESYSTEM_STATES = ['complete', 'partial', 'failed', 'unsupported', 'no-filesystem'] as const;

export const imageCatalogSchema = z
  .object({
    status: z
      .enum(['running', ...FILESYSTEM_STATES])
      .describe('unsupported: filesystems found, none readable; no-filesystem: no filesystem found at all'),
    partitionScheme: z.string().optional(),
    filesystems: z.array(
      z.object({
        partition: z.number().int(),
        type: z.string().describe('Filesystem type as detected (ext4, xfs, ntfs, vfat, exfat, swap, ...)'),
        label: z.string().optional(),
        logicalVolume: z.string().optional().describe('vg/lv for a filesystem in an LVM2 logical volume'),
        status: z.enum(FILESYSTEM_STATES),
        reason: z.string().optional().describe('Why an unsupported filesystem was not catalogued'),
        files: z.number().int(),
        directories: z.number().int(),
        symlinks: z.number().int(),
        others: z.number().int(),
        bytes: z.number().int(),
        errorCount: z.number().int(),
      }),
    ),
    errorCount: z.number().int(),
    warnings: z.array(
      z.object({ partition: z.number().int().optional(), path: z.string().optional(), message: z.string() }),
    ),
  })
  .describe('What the catalog found in the image (GET /images/{imageId} only)');
export type ImageCatalog = z.infer<typeof imageCatalogSchema>;
export const imageWithCatalogSchema = imageSchema.extend({ catalog: imageCatalogSchema.optional() });

export const ENTRY_TYPES = [
  'file',
  'directory',
  'symlink',
  'char-device',
  'block-device',
  'fifo',
  'socket',
] as const;
export const directoryEntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  type: z.enum(ENTRY_TYPES),
  sizeBytes: z.number().int(),
  modifiedAt: isoInstant.optional(),
  mode: z.number().int().optional().describe('POSIX mode bits (type and permissions)'),
  uid: z.number().int().optional(),
  gid: z.number().int().optional(),
  symlinkTarget: z.string().optional(),
  partition: z.number().int().optional().describe('Partition index of the filesystem (0: the whole disk)'),
});
export type DirectoryEntry = z.infer<typeof directoryEntrySchema>;

const fileVersionShape = {
  path: z.string(),
  partition: z.number().int().optional(),
  type: z.enum(ENTRY_TYPES),
  sizeBytes: z.number().int(),
  modifiedAt: isoInstant.optional(),
  firstImageId: imageIdSchema.describe('The image in which this version first appeared'),
  firstImageAt: isoInstant,
  untilImageId: imageIdSchema
    .optional()
    .describe(
      'The first image in which the path changed again or was gone; absent while this version is current',
    ),
  untilImageAt: isoInstant.optional(),
  removedAtUntil: z
    .boolean()
    .optional()
    .describe('True when the path was removed at untilImageId (not changed)'),
};
export const fileVersionSchema = z.object(fileVersionShape);
export type FileVersion = z.infer<typeof fileVersionSchema>;

export const foundFileSchema = z.object({ name: z.string(), ...fileVersionShape });
export type FoundFile = z.infer<typeof foundFileSchema>;

export const applicationSchema = z.object({
  name: z.string(),
  type: z.string().describe('postgresql, mysql, mariadb, mssql, oracle, mongodb or generic'),
  version: z.string().optional(),
  partition: z.number().int().optional(),
  databases: z.array(z.object({ name: z.string(), paths: z.array(z.string()) })).optional(),
  paths: z.array(z.string()).describe('Files and directories that make up the application in this image'),
});
export type Application = z.infer<typeof applicationSchema>;

export const BACKUP_STATUSES = [
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'ABORTED',
  'PENDING_REDRIVE',
] as const;
export const backupSchema = z.object({
  backupId: backupIdSchema,
  volumeId: volumeIdSchema.optional(),
  serverId: z
    .string()
    .optional()
    .describe(
      'The server: of a backup of every volume of a server, or, once a --volume backup succeeded, the server its recovery point is filed under (the volume’s rbp:source-server tag)',
    ),
  full: z.boolean().optional(),
  status: z.enum(BACKUP_STATUSES),
  startedAt: isoInstant,
  stoppedAt: isoInstant.optional(),
  step: z.string().optional().describe('The step the backup is in (or stopped in)'),
  imageId: imageIdSchema.optional().describe('The image it committed, once it succeeded'),
  recoveryPointId: z.string().optional().describe('The recovery point it committed, once it succeeded'),
  images: z
    .array(z.object({ volumeId: volumeIdSchema, device: z.string(), imageId: imageIdSchema }))
    .optional()
    .describe('Every volume’s committed image with its device, once it succeeded'),
  error: z.string().optional(),
  cause: z.string().optional(),
  durationSeconds: z.number().int().optional().describe('Seconds from start to stop, once it stopped'),
  bytesCopied: z
    .number()
    .int()
    .optional()
    .describe('Once it succeeded: snapshot bytes read (blocks read × 512 KiB) by a single-volume backup'),
  bytesStored: z
    .number()
    .int()
    .optional()
    .describe('Once it succeeded: bytes of new chunk objects a single-volume backup wrote'),
  failedStep: z.string().optional().describe('When it failed or was stopped: the step that failed'),
  progress: z
    .object({
      rangesDone: z.number().int().describe('Block ranges copied'),
      rangesTotal: z.number().int().describe('Block ranges planned (of the volumes planned so far)'),
      volumesPlanned: z.number().int(),
      volumes: z.number().int(),
      blocksScanned: z.number().int().describe('EBS blocks of the volume inside the ranges done'),
      blocksTotal: z.number().int(),
      blocksCopied: z.number().int().describe('Snapshot blocks read (changed or in use) in the ranges done'),
      bytesCopied: z.number().int().describe('blocksCopied × 512 KiB'),
      bytesStored: z.number().int().describe('Bytes of new chunk objects written (compressed)'),
      elapsedSeconds: z.number().int().describe('Seconds since the copy began'),
      throughputBytesPerSecond: z.number().int(),
      etaSeconds: z
        .number()
        .int()
        .optional()
        .describe('Seconds left at the rate so far; absent until a range is done'),
      exact: z
        .boolean()
        .describe('False when the copied figures are extrapolated from a sample of range summaries'),
    })
    .optional()
    .describe('While the backup runs and its ranges are planned: how far its copy got'),
});
export type Backup = z.infer<typeof backupSchema>;

export const RESTORE_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
/** A file, directory or application restore's progress; the worker's upload id stays internal. */
export const fileRestoreProgressSchema = z.object({
  bytesWritten: z
    .number()
    .int()
    .describe('Bytes of the result stored so far (once it succeeded: the whole result, sizeBytes)'),
  invocations: z
    .number()
    .int()
    .describe(
      'Worker invocations used so far: 1 plus each handover to a fresh invocation near its time limit',
    ),
});
export const restoreSchema = z.object({
  restoreId: restoreIdSchema,
  imageId: imageIdSchema,
  volumeId: volumeIdSchema.optional(),
  kind: z.enum(RESTORE_KINDS),
  path: z.string().optional(),
  application: z.string().optional(),
  status: z.enum(RESTORE_STATUSES),
  createdAt: isoInstant,
  updatedAt: isoInstant.optional(),
  downloadUrl: z
    .string()
    .optional()
    .describe('Presigned URL of the result (file: the file; directory, application: a tar archive)'),
  downloadExpiresAt: isoInstant.optional(),
  sizeBytes: z.number().int().optional(),
  snapshotId: z.string().optional().describe('The new EBS snapshot (volume restores)'),
  missingPaths: z
    .array(z.string())
    .optional()
    .describe('Application restores: paths its metadata lists that are not in the image (left out)'),
  error: z.string().optional(),
  durationSeconds: z.number().int().optional().describe('Listings: seconds from creation to the end'),
  progress: z
    .union([
      z.object({
        segmentsDone: z.number().int().describe('Segments (1 GiB of the volume each) written'),
        segmentsTotal: z.number().int(),
        bytesScanned: z.number().int().describe('segmentsDone × 1 GiB'),
        bytesTotal: z.number().int(),
        elapsedSeconds: z.number().int().describe('Seconds since the snapshot was started'),
        throughputBytesPerSecond: z.number().int(),
        etaSeconds: z.number().int().optional().describe('Seconds left at the rate so far'),
      }),
      fileRestoreProgressSchema,
    ])
    .optional()
    .describe(
      'A volume restore while it writes its snapshot: how far it got; a file, directory or application restore once running (also when finished): bytes written and invocations used',
    ),
});
export type Restore = z.infer<typeof restoreSchema>;

export const acceptedBackupSchema = z.object({ backupId: backupIdSchema, status: z.enum(BACKUP_STATUSES) });
export const acceptedRestoreSchema = z.object({
  restoreId: restoreIdSchema,
  status: z.enum(RESTORE_STATUSES),
});

export const pageSchema = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    nextCursor: z.string().optional().describe('Pass as ?cursor= for the next page; absent on the last page'),
  });

export const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});
