/**
 * The application metadata file that the replication agent writes onto each filesystem at the
 * checkpoint (docs/application-metadata.md): `/.rbp/applications.json`, validated here with zod.
 * A missing or malformed file is a warning on the image's catalog, never a failed backup.
 */
import { z } from 'zod';

/** Where the agent writes the file, on every filesystem that holds application files. */
export const APPLICATION_METADATA_PATH = '/.rbp/applications.json';
/** Larger files are refused unread: a real inventory is a few KiB, and the catalog Lambda has 1 GiB. */
export const APPLICATION_METADATA_MAX_BYTES = 1_048_576;
/** Schema version of the file. */
export const APPLICATION_METADATA_VERSION = 1;

const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), {
    message: 'must be an absolute path without ".." or NUL',
  });

export const applicationTypeSchema = z.enum([
  'postgresql',
  'mysql',
  'mariadb',
  'mssql',
  'oracle',
  'mongodb',
  'generic',
]);

export const applicationSchema = z.strictObject({
  name: z.string().min(1).max(128),
  type: applicationTypeSchema,
  version: z.string().max(64).optional(),
  /** Files and directories of the application on this filesystem (absolute from its root). */
  paths: z.array(absolutePath).max(1000).default([]),
  databases: z
    .array(z.strictObject({ name: z.string().min(1).max(128), paths: z.array(absolutePath).max(1000) }))
    .max(1000)
    .default([]),
});

export const applicationMetadataSchema = z.strictObject({
  formatVersion: z.literal(APPLICATION_METADATA_VERSION),
  /** When the agent wrote the file (ISO-8601), for display. */
  writtenAt: z.iso.datetime({ offset: true }).optional(),
  /** The checkpoint the file belongs to, as the agent named it. */
  checkpointId: z.string().max(256).optional(),
  applications: z.array(applicationSchema).max(1000),
});

export type ApplicationMetadata = z.infer<typeof applicationMetadataSchema>;
export type Application = z.infer<typeof applicationSchema>;

/** One application on one filesystem of one image, as stored in the catalog. */
export interface ApplicationRecord {
  readonly volumeId: string;
  readonly imageId: string;
  readonly partition: number;
  readonly name: string;
  readonly type: Application['type'];
  readonly version?: string;
  readonly paths: readonly string[];
  readonly databases: readonly { readonly name: string; readonly paths: readonly string[] }[];
}

export type ParsedApplications =
  | { readonly ok: true; readonly metadata: ApplicationMetadata }
  | { readonly ok: false; readonly problem: string };

/** Parses the file's bytes; a problem is returned as text (it becomes a catalog warning). */
export function parseApplicationMetadata(bytes: Uint8Array): ParsedApplications {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return {
      ok: false,
      problem: `not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const parsed = applicationMetadataSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`)
      .join('; ');
    return { ok: false, problem: `does not match the schema: ${issues}` };
  }
  const names = new Set<string>();
  for (const app of parsed.data.applications) {
    if (names.has(app.name)) return { ok: false, problem: `application "${app.name}" is listed twice` };
    names.add(app.name);
  }
  return { ok: true, metadata: parsed.data };
}

/** Every path of an application (its own and its databases'), for a restore; sorted, de-duplicated. */
export function applicationPaths(app: Pick<ApplicationRecord, 'paths' | 'databases'>): string[] {
  const all = new Set<string>(app.paths);
  for (const db of app.databases) for (const p of db.paths) all.add(p);
  return [...all].sort();
}
