/**
 * Rough edges found walking the CLI as an operator would on `rbp local serve` (a volume and a
 * two-disk server backed up, browsed and restored), each pinned here against a stand-in for the
 * API that answers as the local stack did:
 * - `files ls --recovery-point RP /dev` shows the directories the recovery point makes up above its
 *   filesystems as `dr-xr-xr-x`, the mode the API gives them (RECOVERY_POINT_DIRECTORY_MODE);
 * - `files ls` of a file lists the file, as `ls -l` does (it was the API's 404 `is not a directory`);
 * - a relative path (`etc`, `./etc/hosts`) is refused before any request, naming the absolute path
 *   meant (it reached the API before and came back as `query.path: path must be absolute`);
 * - an id of another kind (a recovery point after `--image`, an image after `--recovery-point`) gets
 *   the API's refusal plus which kind it is and the command that takes it;
 * - `restore server --volume-type` without `--availability-zone` is a usage error before any request;
 * - `restore status --out` of a volume restore is refused after one look, not after waiting for it;
 * - `--status` (and the other listed choices) take a value in any case (`failed`);
 * - `--file` that is not there says `no such file` (was Node's `ENOENT: no such file or directory, open …`);
 * - `files find /etc/motd` (a path) is refused before any request, naming `files find 'motd'`;
 * - `images ls --from/--to` take a date (`2026-12-04`) as `files find` does (the API refused it);
 * - `--limit` of the history listings states its default once;
 * - a usage error keeps exit 2 when the reader has closed stderr (`rbp … 2>&1 | head`; it was 1).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseImagePath } from '../../cli/api/context.ts';
import { wrongIdHint } from '../../cli/api/id-hints.ts';
import { buildProgram } from '../../cli/program.ts';
import { noRoute, runRbp, useApiStandIn } from '../support/cli.ts';

const RP = 'rp-bk-20261204t133501004z-9bb3b1eb914ab65e';
const IMG = 'img-bk-20261204t133352924z-f3ed9769a38173d2';

/** What GET /recovery-points/{RP}/files answered on the local stack for a server of two disks. */
const POINT_FILES: Readonly<Record<string, unknown[]>> = {
  '/': [{ name: 'dev', path: '/dev', type: 'directory', sizeBytes: 0, mode: 0o40555 }],
  '/dev': [
    { name: 'xvda', path: '/dev/xvda', type: 'directory', sizeBytes: 0, mode: 0o40555 },
    { name: 'xvdb1', path: '/dev/xvdb1', type: 'directory', sizeBytes: 0, mode: 0o40555 },
  ],
  '/dev/xvda': [],
  '/dev/xvdb1/data': [],
  '/dev/xvdb1': [
    {
      name: 'data',
      path: '/dev/xvdb1/data',
      type: 'directory',
      sizeBytes: 4096,
      modifiedAt: '2026-12-04T13:33:47.000Z',
      mode: 0o40755,
      uid: 0,
      gid: 0,
    },
  ],
};

/** A file of the image, as GET /images/{IMG}/files?path=/etc answered. */
const MOTD = {
  name: 'motd',
  path: '/etc/motd',
  type: 'file',
  sizeBytes: 8,
  modifiedAt: '2026-12-04T13:33:47.000Z',
  mode: 0o100644,
  uid: 0,
  gid: 0,
};

const seen: string[] = [];
const api = useApiStandIn((request) => {
  seen.push(`${request.method} ${request.url}`);
  const url = new URL(request.url, 'http://localhost');
  if (url.pathname === `/api/recovery-points/${RP}/files`) {
    const items = POINT_FILES[url.searchParams.get('path') ?? '/'];
    if (items !== undefined) return { status: 200, json: { items } };
  }
  if (url.pathname === '/api/backups') return { status: 200, json: { items: [] } };
  if (url.pathname === '/api/volumes/vol-98eb7aed8a3404fa7/images')
    return { status: 200, json: { items: [] } };
  if (url.pathname === '/api/restores/rs-vol') {
    return {
      status: 200,
      json: {
        restoreId: 'rs-vol',
        imageId: IMG,
        volumeId: 'vol-98eb7aed8a3404fa7',
        kind: 'volume',
        status: 'RUNNING',
        createdAt: '2026-12-04T13:37:56.286Z',
      },
    };
  }
  if (url.pathname === `/api/images/${IMG}/files`) {
    const path = url.searchParams.get('path');
    if (path === '/etc') return { status: 200, json: { items: [MOTD] } };
    const why = path === '/etc/motd' || path === '/etc/motd/' ? 'is not a directory' : 'does not exist';
    return {
      status: 404,
      json: { code: 'NotFound', message: `${path?.replace(/\/$/, '')} ${why} in image ${IMG}`, details: {} },
    };
  }
  if (url.pathname === `/api/images/${RP}/files` || url.pathname === '/api/images/img-nope/files') {
    const id = url.pathname.split('/')[3];
    return { status: 404, json: { code: 'NotFound', message: `image ${id} does not exist`, details: {} } };
  }
  if (url.pathname === `/api/recovery-points/${IMG}/files` || url.pathname === '/api/server-restores') {
    const field = url.pathname === '/api/server-restores' ? 'body' : 'path';
    return {
      status: 400,
      json: {
        code: 'InvalidRequest',
        message: `invalid request: ${field}.recoveryPointId: must be a recovery point id (rp- and a backup id)`,
        details: {},
      },
    };
  }
  return noRoute(request);
});
beforeEach(() => {
  seen.length = 0;
});
/** `rbp ARGS` in the test process's one rbp host, against the stand-in (no process start per command). */
const rbp = (...args: string[]) =>
  runRbp(args, {
    PATH: process.env.PATH ?? '',
    RBP_API_URL: api.base,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });

describe('files ls --recovery-point: the directories above the filesystems', () => {
  it('shows /dev and each filesystem under it as dr-xr-xr-x, and a filesystem’s own entries with their mode', async () => {
    const dev = await rbp('files', 'ls', '--recovery-point', RP, '/dev');
    expect(dev.stderr).toBe('');
    expect(dev.code).toBe(0);
    expect(dev.stdout).toBe(
      [
        'MODE        OWNER  SIZE  MODIFIED  NAME',
        'dr-xr-xr-x  -         -  -         xvda',
        'dr-xr-xr-x  -         -  -         xvdb1',
        '',
      ].join('\n'),
    );
    const root = await rbp('files', 'ls', '--recovery-point', RP, '--recursive', '/');
    expect(root.code).toBe(0);
    expect(root.stdout).toBe(
      [
        'MODE        OWNER  SIZE  MODIFIED                  PATH',
        'dr-xr-xr-x  -         -  -                         /dev',
        'dr-xr-xr-x  -         -  -                         /dev/xvda',
        'dr-xr-xr-x  -         -  -                         /dev/xvdb1',
        'drwxr-xr-x  0:0       -  2026-12-04T13:33:47.000Z  /dev/xvdb1/data',
        '',
      ].join('\n'),
    );
  }, 60_000);

  it('prints the API’s entries unchanged with --json', async () => {
    const run = await rbp('files', 'ls', '--recovery-point', RP, '/dev', '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(POINT_FILES['/dev']);
  }, 60_000);
});

describe('files ls of a file', () => {
  it('lists the file itself, as ls -l does, from its parent’s listing after the API’s 404', async () => {
    const run = await rbp('files', 'ls', '--image', IMG, '/etc/motd');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        'MODE        OWNER  SIZE  MODIFIED                  NAME',
        '-rw-r--r--  0:0     8 B  2026-12-04T13:33:47.000Z  motd',
        '',
      ].join('\n'),
    );
    expect(seen).toEqual([
      `GET /api/images/${IMG}/files?path=%2Fetc%2Fmotd`,
      `GET /api/images/${IMG}/files?path=%2Fetc`,
    ]);
    const json = await rbp('files', 'ls', '--image', IMG, '--recursive', '/etc/motd', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([MOTD]);
  }, 60_000);

  it('keeps the API’s 404 for a path that is not there, and for a file named with a trailing /', async () => {
    const missing = await rbp('files', 'ls', '--image', IMG, '/etc/nope');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe(`rbp: /etc/nope does not exist in image ${IMG} (HTTP 404 NotFound)\n`);
    seen.length = 0;
    const slash = await rbp('files', 'ls', '--image', IMG, '/etc/motd/');
    expect(slash.code).toBe(3);
    expect(slash.stderr).toBe(`rbp: /etc/motd is not a directory in image ${IMG} (HTTP 404 NotFound)\n`);
    expect(seen).toEqual([`GET /api/images/${IMG}/files?path=%2Fetc%2Fmotd%2F`]);
  }, 60_000);
});

describe('relative paths are refused before any request, naming the absolute path meant', () => {
  const refusal = (meant: string) =>
    `not an absolute path; paths in a backup start at / (did you mean ${meant}?)`;

  it('parses an absolute path as it is and names the path meant for a relative one', () => {
    expect(parseImagePath('/etc/')).toBe('/etc/');
    expect(parseImagePath('/')).toBe('/');
    for (const [value, meant] of [
      ['etc', '/etc'],
      ['etc/hosts', '/etc/hosts'],
      ['./etc/hosts', '/etc/hosts'],
      ['././etc', '/etc'],
      ['.', '/'],
      ['Windows\\System32', '/Windows/System32'],
      ['\\Windows', '/Windows'],
    ] as const) {
      expect(() => parseImagePath(value), value).toThrow(refusal(meant));
    }
  });

  it('files ls, files versions, recovery-points files and restore file --path exit 2 and send nothing', async () => {
    const ls = await rbp('files', 'ls', '--image', IMG, 'etc');
    expect(ls.code).toBe(2);
    expect(ls.stderr.split('\n')[0]).toBe(
      `error: command-argument value 'etc' is invalid for argument 'path'. ${refusal('/etc')}`,
    );
    const versions = await rbp('files', 'versions', '--volume', 'vol-98eb7aed8a3404fa7', 'etc/motd');
    expect(versions.code).toBe(2);
    expect(versions.stderr.split('\n')[0]).toBe(
      `error: command-argument value 'etc/motd' is invalid for argument 'path'. ${refusal('/etc/motd')}`,
    );
    const points = await rbp('recovery-points', 'files', RP, 'dev');
    expect(points.code).toBe(2);
    expect(points.stderr.split('\n')[0]).toBe(
      `error: command-argument value 'dev' is invalid for argument 'path'. ${refusal('/dev')}`,
    );
    const restore = await rbp('restore', 'file', '--image', IMG, '--path', './etc/motd');
    expect(restore.code).toBe(2);
    expect(restore.stderr.split('\n')[0]).toBe(
      `error: option '--path <path>' argument './etc/motd' is invalid. ${refusal('/etc/motd')}`,
    );
    expect(seen).toEqual([]);
  }, 60_000);
});

describe('an id of another kind', () => {
  it('names the kind an id’s prefix says and where it belongs; nothing for an id of the kind expected or unknown', () => {
    expect(wrongIdHint('rp-1', 'image')).toBe(
      'rp-1 is a recovery point id, not an image id; its images: rbp recovery-points show rp-1',
    );
    expect(wrongIdHint('vol-0123abcd', 'image')).toBe(
      'vol-0123abcd is a volume id, not an image id; its images: rbp images ls --volume vol-0123abcd',
    );
    expect(wrongIdHint('bk-1', 'recovery point')).toBe(
      'bk-1 is a backup id, not a recovery point id; its recovery point: rbp backup status bk-1',
    );
    expect(wrongIdHint('img-1', 'recovery point', { image: 'list it: rbp files ls --image {id}' })).toBe(
      'img-1 is an image id, not a recovery point id; list it: rbp files ls --image img-1; the recovery points of its server: rbp recovery-points ls --server SERVER',
    );
    expect(wrongIdHint('img-1', 'image')).toBeUndefined();
    expect(wrongIdHint('nope', 'image')).toBeUndefined();
  });

  it('files ls --image RP: the API’s 404, then how to list the recovery point (exit 3)', async () => {
    const run = await rbp('files', 'ls', '--image', RP, '/etc');
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `rbp: image ${RP} does not exist (HTTP 404 NotFound)\n` +
        `  ${RP} is a recovery point id, not an image id; list it: rbp files ls --recovery-point ${RP} /dev; its images: rbp recovery-points show ${RP}\n`,
    );
  }, 60_000);

  it('files ls --recovery-point IMAGE and restore server --recovery-point IMAGE: the API’s 400, then the image commands (exit 5)', async () => {
    const ls = await rbp('files', 'ls', '--recovery-point', IMG, '/');
    expect(ls.code).toBe(5);
    expect(ls.stderr).toBe(
      'rbp: invalid request: path.recoveryPointId: must be a recovery point id (rp- and a backup id) (HTTP 400 InvalidRequest)\n' +
        `  ${IMG} is an image id, not a recovery point id; list it: rbp files ls --image ${IMG}; the recovery points of its server: rbp recovery-points ls --server SERVER\n`,
    );
    const restore = await rbp('restore', 'server', '--recovery-point', IMG);
    expect(restore.code).toBe(5);
    expect(restore.stderr).toBe(
      'rbp: invalid request: body.recoveryPointId: must be a recovery point id (rp- and a backup id) (HTTP 400 InvalidRequest)\n' +
        `  ${IMG} is an image id, not a recovery point id; to restore that volume: rbp restore volume --image ${IMG}; the recovery points of its server: rbp recovery-points ls --server SERVER\n`,
    );
  }, 60_000);

  it('leaves the API’s message alone for an unknown id of the kind expected', async () => {
    const run = await rbp('files', 'ls', '--image', 'img-nope', '/');
    expect(run.code).toBe(3);
    expect(run.stderr).toBe('rbp: image img-nope does not exist (HTTP 404 NotFound)\n');
  }, 60_000);
});

describe('usage checked before any request', () => {
  it('restore server --volume-type without --availability-zone exits 2 and sends nothing', async () => {
    const run = await rbp('restore', 'server', '--recovery-point', RP, '--volume-type', 'gp3');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'rbp: --volume-type needs --availability-zone: it is the type of the volumes made in that zone\n',
    );
    expect(seen).toEqual([]);
  }, 60_000);

  it('restore status --out of a volume restore exits 2 after one look instead of waiting for it', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rbp-walk-')), 'vol.img');
    const run = await rbp('restore', 'status', 'rs-vol', '--out', out);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'rbp: restore rs-vol has nothing to download (a volume restore ends in an EBS snapshot): leave out --out\n',
    );
    expect(seen).toEqual(['GET /api/restores/rs-vol']);
  }, 60_000);

  it('--status takes a state in any case and sends it as the API spells it; an unknown one is refused with the choices', async () => {
    const lower = await rbp('backup', 'ls', '--status', 'failed');
    expect(lower.stderr).toBe('');
    expect(lower.code).toBe(0);
    expect(lower.stdout).toBe('(none)\n');
    expect(seen).toEqual(['GET /api/backups?status=FAILED&limit=20']);
    seen.length = 0;
    const unknown = await rbp('restore', 'ls', '--status', 'done');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n')[0]).toBe(
      "error: option '--status <status>' argument 'done' is invalid. Allowed choices are PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED.",
    );
    expect(seen).toEqual([]);
  }, 60_000);

  it('workflows create --file of a file that is not there, or a directory, says so in plain words (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbp-walk-'));
    const missing = await rbp('workflows', 'create', '--file', join(dir, 'qaclone.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`rbp: cannot read ${join(dir, 'qaclone.json')}: no such file\n`);
    const directory = await rbp('plans', 'create', '--file', dir);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toBe(`rbp: cannot read ${dir}: it is a directory\n`);
    expect(seen).toEqual([]);
  }, 60_000);

  it('--limit of backup ls and restore ls says its default once', () => {
    const program = buildProgram();
    for (const group of ['backup', 'restore']) {
      const ls = program.commands.find((c) => c.name() === group)!.commands.find((c) => c.name() === 'ls')!;
      const limit = ls.options.find((o) => o.long === '--limit')!;
      expect(limit.description).toBe('show at most this many');
      expect(limit.defaultValue).toBe(20);
    }
  });
});

describe('files find and images ls', () => {
  it('files find of a path exits 2 before any request, naming the glob of its name and files versions', async () => {
    const run = await rbp('files', 'find', '/etc/motd');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "rbp: a glob matches one file name, not a path: rbp files find 'motd' (each match shows its path); one path's versions: rbp files versions --volume VOLUME /etc/motd\n",
    );
    const relative = await rbp('files', 'find', 'etc/*.conf');
    expect(relative.stderr).toBe(
      "rbp: a glob matches one file name, not a path: rbp files find '*.conf' (each match shows its path); one path's versions: rbp files versions --volume VOLUME /etc/*.conf\n",
    );
    expect(seen).toEqual([]);
  }, 60_000);

  it('images ls --from/--to take a date as files find does (its midnight UTC), and refuse what is not one before any request', async () => {
    const run = await rbp(
      'images',
      'ls',
      '--volume',
      'vol-98eb7aed8a3404fa7',
      '--from',
      '2026-12-04',
      '--to',
      '2026-12-05T06:00:00+01:00',
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(seen).toEqual([
      'GET /api/volumes/vol-98eb7aed8a3404fa7/images?from=2026-12-04T00%3A00%3A00.000Z&to=2026-12-05T05%3A00%3A00.000Z',
    ]);
    seen.length = 0;
    const bad = await rbp('images', 'ls', '--volume', 'vol-98eb7aed8a3404fa7', '--from', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe(
      "error: option '--from <time>' argument 'yesterday' is invalid. not an ISO 8601 date or time (2026-01-31, 2026-01-31T12:00:00Z)",
    );
    expect(seen).toEqual([]);
  }, 60_000);
});

describe('a reader that closes the pipe early', () => {
  it('keeps the exit code of a usage error when stderr is closed (rbp … 2>&1 | head)', async () => {
    const child = spawn('npx', ['tsx', 'cli/main.ts', 'backup', 'ls', '--status', 'nope'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Closed before the CLI has started, so its usage error and help meet a closed pipe.
    child.stdout.destroy();
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
  }, 60_000);
});
