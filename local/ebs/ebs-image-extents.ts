/**
 * Where a sparse image file holds data, so that freezing a big, mostly empty image reads only its
 * data regions. Reading a hole is not free: the kernel zero-fills page-cache pages for it (about
 * 0.5-1 GB/s here), which made a fresh 2 GiB image take seconds to freeze.
 *
 * Node has no lseek(SEEK_DATA/SEEK_HOLE) binding and the npm modules that add one are native builds,
 * so the extents come from a few lines of Python (present wherever moto runs). When Python or
 * SEEK_DATA is unavailable the caller treats the whole file as data: slower, never wrong.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

const LIST_DATA_EXTENTS_PY = `
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end = os.fstat(fd).st_size
offset = 0
while offset < end:
    try:
        data = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as error:
        if error.errno == errno.ENXIO:
            break
        raise
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    print(data, hole)
    offset = hole
`;

/**
 * The system interpreter starts in tens of milliseconds; a version manager's `python3` shim (pyenv)
 * can take ten times that, on every freeze.
 */
const PYTHON_CANDIDATES = ['/usr/bin/python3', '/usr/local/bin/python3'];

let pythonCommand: string | undefined;

function python(): string {
  pythonCommand ??= PYTHON_CANDIDATES.find((candidate) => existsSync(candidate)) ?? 'python3';
  return pythonCommand;
}

/** Time allowed for the extent listing before falling back to reading the whole file. */
const EXTENT_LISTING_TIMEOUT_MS = 30_000;

/** Byte ranges [start, end) that hold data, ascending; undefined when they cannot be listed. */
export function listDataExtents(path: string): Promise<[number, number][] | undefined> {
  return new Promise((resolve) => {
    execFile(
      python(),
      ['-c', LIST_DATA_EXTENTS_PY, path],
      { timeout: EXTENT_LISTING_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
      (error, stdout) => {
        if (error !== null) {
          resolve(undefined);
          return;
        }
        const extents: [number, number][] = [];
        for (const line of stdout.split('\n')) {
          if (line.trim() === '') continue;
          const [start, end] = line.split(' ').map(Number);
          if (
            start === undefined ||
            end === undefined ||
            !Number.isSafeInteger(start) ||
            !Number.isSafeInteger(end)
          ) {
            resolve(undefined);
            return;
          }
          extents.push([start, end]);
        }
        resolve(extents);
      },
    );
  });
}

/** Block ranges [first, end) covering the byte extents, merged, clipped to `limitBytes`. */
export function blockRangesOf(
  extents: readonly (readonly [number, number])[],
  blockSize: number,
  limitBytes: number,
): [number, number][] {
  const ranges: [number, number][] = [];
  for (const [start, end] of extents) {
    const clippedEnd = Math.min(end, limitBytes);
    if (clippedEnd <= start) continue;
    const first = Math.floor(start / blockSize);
    const last = Math.ceil(clippedEnd / blockSize);
    const previous = ranges.at(-1);
    if (previous !== undefined && first <= previous[1]) previous[1] = Math.max(previous[1], last);
    else ranges.push([first, last]);
  }
  return ranges;
}
