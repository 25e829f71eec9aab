/**
 * `rbp restore-test run [--server S] [--files N] [--whole-volume] [--wait] [--json]` over
 * POST /restore-tests/runs (and its GET to wait): restores a seeded sample of files of each
 * server's newest recovery point and compares them with the catalog (docs/lifecycle.md, "Restore
 * tests"). With --json it prints `{ status, servers: [{ server, imageId, filesChecked,
 * bytesChecked, durationMs, result, failures, wholeVolume? }] }` (`wholeVolume`: `{ chunksVerified,
 * bytes }` read, with --whole-volume); a failed test exits 8.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { RestoreTestRun } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { RESTORE_TEST_MAX_FILES } from '../../lambdas/core/lifecycle/restore-test.ts';
import { apiContext } from '../api/context.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { jobCommand, waitForJob, type JobCommandOptions, type JobKind } from '../api/jobs.ts';

type ServerResult = RestoreTestRun['servers'][number];

/** What `rbp restore-test run --json` prints (the interface). */
export function restoreTestSummary(run: RestoreTestRun) {
  return {
    status: run.status,
    servers: run.servers.map((s: ServerResult) => ({
      server: s.server,
      imageId: s.imageId,
      filesChecked: s.filesChecked,
      bytesChecked: s.bytesChecked,
      durationMs: s.durationMs,
      result: s.result,
      failures: [...s.failures],
      // Present when the test read every chunk of the point (--whole-volume): the evidence it did.
      ...(s.wholeVolume === undefined ? {} : { wholeVolume: { ...s.wholeVolume } }),
    })),
  };
}

const serverColumns = [
  { header: 'SERVER', value: (s: ServerResult) => s.server },
  { header: 'IMAGE', value: (s: ServerResult) => s.imageId },
  { header: 'FILES', value: (s: ServerResult) => String(s.filesChecked) },
  { header: 'BYTES', value: (s: ServerResult) => String(s.bytesChecked) },
  { header: 'DURATION', value: (s: ServerResult) => `${(s.durationMs / 1000).toFixed(1)} s` },
  { header: 'RESULT', value: (s: ServerResult) => s.result },
  { header: 'FAILURES', value: (s: ServerResult) => s.failures.join('; ') || '-' },
];

const RESTORE_TEST_RUN: JobKind<RestoreTestRun> = {
  noun: 'restore test',
  collection: '/restore-tests/runs',
  finished: (r) => r.status !== 'pending' && r.status !== 'running',
  failed: (r) => r.status === 'failed',
  describe: (r, runId) => `restore test ${runId}: ${r.status}`,
  unfinished: 'has not finished',
};

function fileCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > RESTORE_TEST_MAX_FILES) {
    throw new InvalidArgumentError(`expected a whole number from 1 to ${RESTORE_TEST_MAX_FILES}`);
  }
  return n;
}

interface RestoreTestOptions extends JobCommandOptions {
  server?: string;
  files?: number;
  wholeVolume?: boolean;
}

export function registerRestoreTestCommands(program: Command): void {
  const group = program
    .command('restore-test')
    .description("restoring a sample of each server's newest backup and checking it (also runs daily)");
  jobCommand(group, 'run', 'restore test')
    .description(
      "start a restore test: the newest recovery point of every server (or --server), a seeded sample of files restored and compared with the catalog's sizes",
    )
    .option('--server <serverId>', 'test this server only')
    .option('--files <n>', 'files per server (default 16)', fileCount)
    .option('--whole-volume', 'also read every chunk of every volume of the recovery point')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp restore-test run --wait\n  $ rbp restore-test run --server web-01 --files 50 --whole-volume --wait --json',
    )
    .action(async (options: RestoreTestOptions) => {
      const { client, print, progress } = await apiContext(options);
      const started = await client.post<RestoreTestRun>('/restore-tests/runs', {
        ...(options.server === undefined ? {} : { server: options.server }),
        ...(options.files === undefined ? {} : { files: options.files }),
        wholeVolume: options.wholeVolume === true,
      });
      const run = options.wait
        ? await waitForJob(client, RESTORE_TEST_RUN, started.runId, options, progress)
        : started;
      print.result(restoreTestSummary(run), [...run.servers], serverColumns);
      if (RESTORE_TEST_RUN.failed(run)) {
        const reasons = run.failure ?? run.servers.flatMap((s) => s.failures).join('; ');
        throw new CliError(`restore test ${run.runId} failed: ${reasons}`, EXIT.JOB_FAILED);
      }
    });
}
