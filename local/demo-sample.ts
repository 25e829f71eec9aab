/**
 * The demo's sample replica: a generated source tree (a few hundred files, an application metadata
 * file at /.rbp/applications.json, a symlink, a sparse file) turned into a real ext4 image with
 * `mke2fs -t ext4 -d`, and changes made to the image with `debugfs -w`, as a server's writes would
 * change its disk. Deterministic: the same seed gives the same tree.
 *
 * Written here rather than reusing test/support/fs-images.ts: the demo is product code and must not
 * import test helpers, and it needs only this small, plain tree (no special files, owners or odd
 * names, which exercise the readers, not the demo).
 */
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { seededRandom } from './seeded-random.ts';

const execFileAsync = promisify(execFile);

/** Regular files under /srv/data: "a few hundred", enough for a directory spanning many blocks. */
export const SAMPLE_DATA_FILE_COUNT = 300;
/** Largest sample data file: keeps the tree (and the demo's copy time) small. */
const SAMPLE_MAX_FILE_BYTES = 64 * 1024;
/** The sparse file's apparent size; only two small pieces of it hold data. */
export const SAMPLE_SPARSE_FILE_BYTES = 16 * 1024 * 1024;
/** The file the demo changes between the two backups and restores from the older image. */
export const CHANGED_FILE = '/etc/app.conf';
export const ADDED_FILE = '/srv/data/added-after-full.txt';
export const APPLICATION_NAME = 'orders-db';

export function changedFileContent(version: 1 | 2): Buffer {
  return Buffer.from(
    `# app.conf version ${version}\nlisten = 0.0.0.0:${version === 1 ? 8080 : 9090}\n` +
      `workers = ${version * 4}\n`.repeat(version * 50),
  );
}

/** Writes the sample tree under `root`; returns the number of regular files written. */
export async function writeSampleTree(root: string, seed: number): Promise<number> {
  const rand = seededRandom(seed);
  let files = 0;
  const put = async (relative: string, data: Uint8Array | string): Promise<void> => {
    await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
    await writeFile(path.join(root, relative), data);
    files += 1;
  };
  await put('etc/hostname', 'replica-demo\n');
  await put('etc/hosts', '127.0.0.1 localhost\n10.0.0.5 orders-db\n');
  await put(CHANGED_FILE.slice(1), changedFileContent(1));
  await put(
    '.rbp/applications.json',
    JSON.stringify(
      {
        formatVersion: 1,
        writtenAt: '2026-11-22T03:00:00Z',
        checkpointId: 'demo-initial',
        applications: [
          {
            name: APPLICATION_NAME,
            type: 'postgresql',
            version: '16.2',
            paths: ['/etc/app.conf'],
            databases: [{ name: 'orders', paths: ['/var/lib/db'] }],
          },
        ],
      },
      null,
      2,
    ),
  );
  for (let index = 0; index < SAMPLE_DATA_FILE_COUNT; index += 1) {
    const size = Math.floor(rand() ** 3 * SAMPLE_MAX_FILE_BYTES);
    const data = Buffer.alloc(Math.ceil(size / 4) * 4);
    for (let offset = 0; offset < data.length; offset += 4)
      data.writeUInt32LE(Math.floor(rand() * 2 ** 32), offset);
    await put(`srv/data/${index % 10}/record-${String(index).padStart(4, '0')}.bin`, data.subarray(0, size));
  }
  // A sparse database file: data at the start and near the end, a hole in between.
  await mkdir(path.join(root, 'var/lib/db'), { recursive: true });
  const sparse = await open(path.join(root, 'var/lib/db/table.dat'), 'w');
  try {
    await sparse.truncate(SAMPLE_SPARSE_FILE_BYTES);
    await sparse.write(Buffer.from('header of the table\n'), 0, 20, 0);
    await sparse.write(Buffer.from('row near the end\n'), 0, 17, SAMPLE_SPARSE_FILE_BYTES - 4096);
  } finally {
    await sparse.close();
  }
  files += 1;
  await symlink('data/0', path.join(root, 'srv/current'));
  return files;
}

async function tool(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { maxBuffer: 16 * 1024 * 1024 });
    return `${stdout}${stderr}`;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr.trim()}`, { cause: error });
  }
}

/** `mke2fs -t ext4 -d sourceDir`: a real ext4 filesystem of `sizeBytes` filling the image file. */
export async function makeExt4Image(image: string, sourceDir: string, sizeBytes: number): Promise<void> {
  await tool('mke2fs', [
    '-F',
    '-q',
    '-t',
    'ext4',
    '-b',
    '4096',
    '-L',
    'rbp-demo',
    '-E',
    'nodiscard,lazy_itable_init=1',
    '-d',
    sourceDir,
    image,
    `${Math.floor(sizeBytes / 1024)}k`,
  ]);
}

/**
 * Runs debugfs requests in write mode. debugfs exits 0 even when a request fails, so any stderr
 * line other than its banner is an error.
 */
export async function debugfsWrite(
  image: string,
  requests: readonly string[],
  scriptPath: string,
): Promise<void> {
  await writeFile(scriptPath, `${requests.join('\n')}\n`);
  const { stderr } = await execFileAsync('debugfs', ['-w', '-f', scriptPath, image]);
  const problems = stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('debugfs '));
  if (problems.length > 0) throw new Error(`debugfs failed: ${problems.join('; ')}`);
}
