/**
 * A tar archive (ustar, with pax headers for long or non-ASCII names and link targets) of one or
 * more subtrees of an image's filesystem, produced as a stream: the walk, the reads and the
 * archive advance together, so memory stays bounded whatever the size of the tree. Written with
 * tar-stream (a small, well-kept streaming tar encoder) rather than by hand.
 *
 * Preserved: names, types, permission bits (incl. setuid/setgid/sticky), uid/gid, mtimes (whole
 * seconds; pax records where ustar's fields are too small), symlink targets, hard links (a second path of an inode becomes a link entry),
 * device numbers, fifos, holes (a file with holes is a GNU sparse entry, format 1.0 in pax
 * records: the archive holds its data regions only, and GNU tar, bsdtar and Python's tarfile
 * recreate the holes; https://www.gnu.org/software/tar/manual/html_node/Sparse-Formats.html).
 * Sockets cannot be archived and are reported as skipped.
 */
import tar from 'tar-stream';
import type { Header, Pack } from 'tar-stream';
import type { FilesystemReader, WalkEntry } from '../fs/index.ts';
import type { ByteRangeReader } from '../ports.ts';
import { fileDataMap, readFileBytes, readFileRegions, type DataRegion } from './file-bytes.ts';

/** Problems listed in a restore's result (the count is always exact). */
export const MAX_LISTED_PROBLEMS = 50;

export interface TarProgress {
  entries: number;
  /** Regular-file paths archived (a hard link's second path counts too). */
  files: number;
  fileBytes: number;
  problemCount: number;
  readonly problems: string[];
}

type Headers = Partial<Header> & Pick<Header, 'name'>;

function archiveName(path: string): string {
  return path === '/' ? '.' : path.slice(1);
}

/** Largest uid/gid the 6 octal digits of tar-stream's ustar fields hold. */
const USTAR_MAX_ID = 0o777777;
/** tar-stream writes mtime as a signed 32-bit number of seconds. */
const USTAR_MAX_SECONDS = 2 ** 31 - 1;

/**
 * Owners and times that the ustar fields cannot hold go into pax records (uid, gid, mtime), which
 * GNU tar, bsdtar and Python's tarfile honour; the ustar fields then carry placeholders.
 */
function paxOverrides(entry: WalkEntry): Record<string, string> | undefined {
  const pax: Record<string, string> = {};
  if (entry.uid > USTAR_MAX_ID) pax.uid = String(entry.uid);
  if (entry.gid > USTAR_MAX_ID) pax.gid = String(entry.gid);
  const seconds = entry.mtime.seconds;
  if (seconds < 0 || seconds > USTAR_MAX_SECONDS) {
    pax.mtime = `${seconds}.${String(entry.mtime.nanoseconds).padStart(9, '0')}`;
  }
  return Object.keys(pax).length === 0 ? undefined : pax;
}

function headerFor(entry: WalkEntry, hardLinkTo: string | undefined): Headers | undefined {
  const pax = paxOverrides(entry);
  const seconds = entry.mtime.seconds;
  const base = {
    name: archiveName(entry.path),
    mode: entry.permissions,
    uid: Math.min(entry.uid, USTAR_MAX_ID),
    gid: Math.min(entry.gid, USTAR_MAX_ID),
    mtime: new Date((seconds < 0 || seconds > USTAR_MAX_SECONDS ? 0 : seconds) * 1000),
    ...(pax === undefined ? {} : { pax }),
  };
  if (hardLinkTo !== undefined) return { ...base, type: 'link', linkname: hardLinkTo, size: 0 };
  switch (entry.type) {
    case 'file':
      return { ...base, type: 'file', size: entry.size };
    case 'directory':
      return { ...base, type: 'directory', size: 0 };
    case 'symlink':
      return { ...base, type: 'symlink', linkname: entry.symlinkTarget ?? '', size: 0 };
    case 'char-device':
    case 'block-device':
      return {
        ...base,
        type: entry.type === 'char-device' ? 'character-device' : 'block-device',
        size: 0,
        devmajor: entry.device?.major ?? 0,
        devminor: entry.device?.minor ?? 0,
      };
    case 'fifo':
      return { ...base, type: 'fifo', size: 0 };
    default:
      return undefined;
  }
}

/** Tar's record size: the sparse map is padded to it. */
const TAR_BLOCK_BYTES = 512;

/**
 * The map that starts a GNU sparse 1.0 entry's data: the number of regions, then each region's
 * offset and length, one decimal number a line, NUL-padded to a 512-byte block. A file that ends
 * in a hole gets a last empty region at its size, as GNU tar writes it.
 */
export function sparseMap(regions: readonly DataRegion[], size: number): Uint8Array {
  const last = regions.at(-1);
  const entries =
    last === undefined || last.offset + last.length < size
      ? [...regions, { offset: size, length: 0 }]
      : regions;
  const text = `${[entries.length, ...entries.flatMap((r) => [r.offset, r.length])].join('\n')}\n`;
  const bytes = new Uint8Array(Math.ceil(text.length / TAR_BLOCK_BYTES) * TAR_BLOCK_BYTES);
  bytes.set(new TextEncoder().encode(text));
  return bytes;
}

/** The member name GNU tar gives a sparse file's own header: DIR/GNUSparseFile.0/NAME. */
function sparseMemberName(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0
    ? `GNUSparseFile.0/${name}`
    : `${name.slice(0, slash)}/GNUSparseFile.0/${name.slice(slash + 1)}`;
}

/** The header and body of a regular file with holes, as a GNU sparse 1.0 entry. */
function sparseEntry(
  header: Headers,
  regions: readonly DataRegion[],
  body: AsyncIterable<Uint8Array>,
): { header: Headers; body: AsyncIterable<Uint8Array> } {
  const size = header.size ?? 0;
  const map = sparseMap(regions, size);
  const dataBytes = regions.reduce((sum, region) => sum + region.length, 0);
  return {
    header: {
      ...header,
      name: sparseMemberName(header.name),
      size: map.length + dataBytes,
      pax: {
        ...(header.pax ?? {}),
        'GNU.sparse.major': '1',
        'GNU.sparse.minor': '0',
        'GNU.sparse.name': header.name,
        'GNU.sparse.realsize': String(size),
      },
    },
    body: (async function* () {
      yield map;
      yield* body;
    })(),
  };
}

function note(progress: TarProgress, problem: string): void {
  progress.problemCount += 1;
  if (progress.problems.length < MAX_LISTED_PROBLEMS) progress.problems.push(problem);
}

async function writeEntry(
  pack: Pack,
  header: Headers,
  body: AsyncIterable<Uint8Array> | undefined,
): Promise<void> {
  let settle!: (error?: Error | null) => void;
  const finished = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  const sink = pack.entry(header, (error) => settle(error));
  if (body !== undefined) {
    try {
      for await (const piece of body) {
        if (!sink.write(piece)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
      }
    } catch (error) {
      sink.destroy(error instanceof Error ? error : new Error(String(error)));
      await finished.catch(() => undefined);
      throw error;
    }
  }
  sink.end(undefined);
  await finished;
}

async function archiveTrees(
  pack: Pack,
  fs: FilesystemReader,
  reader: ByteRangeReader,
  roots: readonly string[],
  progress: TarProgress,
): Promise<void> {
  /** First archive path of every multiply-linked regular file seen. */
  const linked = new Map<number, string>();
  for (const root of roots) {
    for await (const item of fs.walk({ root })) {
      if (item.kind === 'error') {
        note(progress, `${item.path}: ${item.error.message}`);
        continue;
      }
      if (item.type === 'file' && item.encrypted === true) {
        note(progress, `${item.path}: encrypted with EFS; its bytes cannot be restored; skipped`);
        continue;
      }
      const first = item.type === 'file' && item.nlink > 1 ? linked.get(item.inode) : undefined;
      const header = headerFor(item, first);
      if (header === undefined) {
        note(progress, `${item.path}: a ${item.type} cannot be stored in a tar archive; skipped`);
        continue;
      }
      if (item.type === 'file' && item.nlink > 1 && first === undefined) linked.set(item.inode, header.name);
      const withData = header.type === 'file' && (header.size ?? 0) > 0;
      const regions = withData ? await fileDataMap(fs, item.inode) : undefined;
      const holes =
        regions !== undefined && regions.reduce((sum, region) => sum + region.length, 0) < (header.size ?? 0);
      if (holes) {
        const sparse = sparseEntry(header, regions, readFileRegions(fs, reader, item.inode, regions));
        await writeEntry(pack, sparse.header, sparse.body);
      } else {
        await writeEntry(pack, header, withData ? readFileBytes(fs, reader, item.inode) : undefined);
      }
      progress.entries += 1;
      if (header.type === 'file' || header.type === 'link') progress.files += 1;
      if (header.type === 'file') progress.fileBytes += header.size ?? 0;
    }
  }
}

/** Drops roots inside other roots (they would be archived twice) and sorts them. */
export function disjointRoots(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && (q === '/' || p.startsWith(`${q}/`))));
}

/**
 * The archive of `roots` as a byte stream. Errors of the walk are listed in `progress` and the
 * archive goes on; a reader failure (e.g. the store) ends the stream with that error.
 */
export function tarArchive(
  fs: FilesystemReader,
  reader: ByteRangeReader,
  roots: readonly string[],
): { stream: AsyncIterable<Uint8Array>; progress: TarProgress } {
  const progress: TarProgress = { entries: 0, files: 0, fileBytes: 0, problemCount: 0, problems: [] };
  const pack = tar.pack();
  archiveTrees(pack, fs, reader, disjointRoots(roots), progress).then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  return { stream: pack as unknown as AsyncIterable<Uint8Array>, progress };
}
