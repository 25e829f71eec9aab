/**
 * The Debian disk's incremental backup on the local stack, end to end (issue 12): a 1 GiB ext4
 * replica holding a Debian bookworm minbase root (debootstrap, cached per machine by
 * bench/suites/fs.ts; skipped with a printed reason when debootstrap or the mirror is unavailable)
 * is backed up full through the REST API and the real backup state machine, about 4 MiB of it
 * changes (two files rewritten, two written, one removed: debugfs on a copy, the changed 512 KiB
 * blocks replicated through the replica simulator, as `rbp local replica write|rm` do), and an
 * incremental follows. Snapshots complete at once, so the times are the product's own.
 *
 * For each backup: the execution's time (DescribeExecution start to stop), each state's time from
 * the execution history (GetExecutionHistory: first entry to last exit of the state), and the
 * requests Build Catalog made (the gateway's request counts around the Build Catalog Lambda's
 * in-process invocation: nothing else of the backup runs meanwhile, and the bench polls only
 * Step Functions). The goal is the ratio incremental / full of the execution times, at most 0.5.
 *
 * Part of the default `npm run bench` (alone: `npm run bench catalog-debian-local`): with the
 * Debian image cached it takes about 45 s on a 2-core machine at load 3 and 2 min 15 s at load 12
 * (moto's start, the copy of the 1 GiB image, two backups); the first run's debootstrap adds a
 * minute or two.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { executionArnOf } from '../../lambdas/aws/sfn-backup-executions.ts';
import { catalogOutputSchema, type CatalogOutput } from '../../lambdas/core/orchestration/step-state.ts';
import type { LambdaHandler } from '../../local/gateway/lambda-functions.ts';
import { stateMachineFunctionName } from '../../lib/function-manifest.ts';
import { deployProduct } from '../../local/deploy.ts';
import { changeReplicaFile, type ReplicaFileChange } from '../../local/replica/replica-files.ts';
import { seededRandom } from '../../local/seeded-random.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { benchCacheDir } from '../bench-cache.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';
import { debianImage } from './fs.ts';

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;
/** The goal: the incremental backup takes at most this share of the full backup's time. */
const RATIO_GOAL = 0.5;
/** The state whose time and requests the suite reports beside the totals. */
const CATALOG_STATE = 'Build Catalog';
/** The placeholder of the Build Catalog Lambda in statemachines/backup.asl.json. */
const CATALOG_PLACEHOLDER = 'BuildCatalogFunctionArn';
/** The service the bench polls while a backup runs (gateway request counts name it so). */
const BENCH_POLL_SERVICE = 'states';
/** How often the bench asks Step Functions whether a backup ended (DescribeExecution). */
const POLL_INTERVAL_MS = 250;
/** A backup not finished by then has hung (the incremental took 101 s before its catalog was incremental). */
const BACKUP_TIMEOUT_MS = 15 * 60_000;
/** Size of each rewritten and each new file: four of them make a ~4 MiB change. */
const CHANGED_FILE_BYTES = MIB;
/** Seed of the changed files' content (incompressible, so every byte reaches the image). */
const CHANGE_SEED = 12;

/** The change between the two backups; each path exists in a bookworm minbase root (or is new). */
const REWRITTEN = ['/usr/bin/bash', '/usr/share/common-licenses/GPL-3'] as const;
const WRITTEN = ['/srv/new-1.bin', '/var/tmp/new-2.bin'] as const;
const REMOVED = '/etc/debian_version';

interface BackupFigures {
  readonly executionMs: number;
  /** Each state's time: its first entry to its last exit, ms. */
  readonly states: Readonly<Record<string, number>>;
  /** Requests made while Build Catalog ran, by `service:Operation`. */
  readonly catalogRequests: Readonly<Record<string, number>>;
  /** Build Catalog's time inside its Lambda (the handler's own wall time), ms. */
  readonly catalogHandlerMs: number;
  /** What Build Catalog answered. */
  readonly catalog: CatalogOutput;
  readonly loadAverage1m: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What stateSpans reads of a history event. */
export type TimedHistoryEvent = Partial<
  Pick<HistoryEvent, 'timestamp' | 'stateEnteredEventDetails' | 'stateExitedEventDetails'>
>;

/** Each named state's span in the history: its first StateEntered to its last StateExited. */
export function stateSpans(events: readonly TimedHistoryEvent[]): Record<string, number> {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  for (const event of events) {
    const at = event.timestamp?.getTime();
    if (at === undefined) continue;
    const entered = event.stateEnteredEventDetails?.name;
    if (entered !== undefined) first.set(entered, Math.min(first.get(entered) ?? at, at));
    const exited = event.stateExitedEventDetails?.name;
    if (exited !== undefined) last.set(exited, Math.max(last.get(exited) ?? at, at));
  }
  const spans: Record<string, number> = {};
  for (const [name, start] of first) {
    const end = last.get(name);
    if (end !== undefined) spans[name] = end - start;
  }
  return spans;
}

/** `after - before` of the gateway's request counts, without the zeros. */
function requestDelta(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [key, count] of Object.entries(after)) {
    const grown = count - (before[key] ?? 0);
    if (grown > 0) delta[key] = grown;
  }
  return delta;
}

function sumOf(requests: Readonly<Record<string, number>>, service: string): number {
  return Object.entries(requests)
    .filter(([key]) => key.startsWith(`${service}:`))
    .reduce((sum, [, count]) => sum + count, 0);
}

/** The Build Catalog Lambda, registered again around the same handler to count its requests. */
function measureCatalog(
  stack: LocalStack,
  buildCatalogHandler: LambdaHandler,
): { take(): { requests: Record<string, number>; ms: number; output?: CatalogOutput } } {
  let requests: Record<string, number> = {};
  let ms = 0;
  let output: CatalogOutput | undefined;
  stack.gateway.registerFunction(stateMachineFunctionName(CATALOG_PLACEHOLDER), async (event, context) => {
    const before = stack.gateway.stats().requests;
    const started = performance.now();
    try {
      const answer = await buildCatalogHandler(event, context);
      output = catalogOutputSchema.parse(answer);
      return answer;
    } finally {
      ms += performance.now() - started;
      const grown = requestDelta(before, stack.gateway.stats().requests);
      // Step Functions requests meanwhile are the bench's own polls (Build Catalog makes none).
      for (const [key, count] of Object.entries(grown))
        if (!key.startsWith(`${BENCH_POLL_SERVICE}:`)) requests[key] = (requests[key] ?? 0) + count;
    }
  });
  return {
    take() {
      const taken = { requests, ms, ...(output === undefined ? {} : { output }) };
      requests = {};
      ms = 0;
      output = undefined;
      return taken;
    },
  };
}

async function startBackup(apiUrl: string, volumeId: string, full: boolean): Promise<string> {
  const response = await fetch(`${apiUrl}/backups`, {
    method: 'POST',
    body: JSON.stringify({ volumeId, full }),
    headers: { 'content-type': 'application/json' },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST /backups answered ${response.status}: ${text}`);
  return (JSON.parse(text) as { backupId: string }).backupId;
}

/** Waits for the execution to end (DescribeExecution only: no DynamoDB request); its history. */
async function awaitExecution(
  sfn: SFNClient,
  executionArn: string,
): Promise<{ executionMs: number; events: HistoryEvent[] }> {
  const deadline = Date.now() + BACKUP_TIMEOUT_MS;
  for (;;) {
    const answer = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (answer.status !== 'RUNNING') {
      if (answer.status !== 'SUCCEEDED')
        throw new Error(
          `${executionArn} ended ${answer.status}: ${answer.error ?? ''} ${answer.cause ?? ''}`,
        );
      const events: HistoryEvent[] = [];
      let nextToken: string | undefined;
      do {
        const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken }));
        events.push(...(page.events ?? []));
        nextToken = page.nextToken;
      } while (nextToken !== undefined);
      return { executionMs: answer.stopDate!.getTime() - answer.startDate!.getTime(), events };
    }
    if (Date.now() > deadline) throw new Error(`${executionArn} still RUNNING after ${BACKUP_TIMEOUT_MS} ms`);
    await sleep(POLL_INTERVAL_MS);
  }
}

/** The ~4 MiB change: two files rewritten, two written, one removed. */
async function changeDisk(
  stack: LocalStack,
  volumeId: string,
  imagePath: string,
  work: string,
): Promise<number> {
  const random = seededRandom(CHANGE_SEED);
  const content = async (name: string): Promise<string> => {
    const file = path.join(work, name);
    const bytes = Buffer.alloc(CHANGED_FILE_BYTES);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(random() * 256);
    await writeFile(file, bytes);
    return file;
  };
  const changes: ReplicaFileChange[] = [];
  for (const [i, to] of [...REWRITTEN, ...WRITTEN].entries())
    changes.push({ kind: 'write', from: await content(`change-${i}.bin`), to });
  changes.push({ kind: 'rm', path: REMOVED });
  let blocks = 0;
  for (const change of changes) {
    const result = await changeReplicaFile(imagePath, change, (offset, data) =>
      stack.agent.write(volumeId, offset, data),
    );
    blocks += result.blocksWritten;
  }
  return blocks;
}

async function backUp(
  sfn: SFNClient,
  product: { apiUrl: string; stateMachineArn: string },
  catalog: ReturnType<typeof measureCatalog>,
  volumeId: string,
  full: boolean,
): Promise<BackupFigures> {
  catalog.take();
  const backupId = await startBackup(product.apiUrl, volumeId, full);
  const { executionMs, events } = await awaitExecution(
    sfn,
    executionArnOf(product.stateMachineArn, backupId),
  );
  const measured = catalog.take();
  if (measured.output?.status !== 'complete')
    throw new Error(`Build Catalog of ${backupId} answered ${JSON.stringify(measured.output)}`);
  return {
    executionMs,
    states: stateSpans(events),
    catalogRequests: measured.requests,
    catalogHandlerMs: measured.ms,
    catalog: measured.output,
    loadAverage1m: os.loadavg()[0]!,
  };
}

function entriesOf({ counts }: CatalogOutput): number {
  return counts.files + counts.directories + counts.symlinks + counts.others;
}

function details(prefix: string, figures: BackupFigures): Record<string, number | string> {
  const r = figures.catalogRequests;
  const c = figures.catalog.changes;
  return {
    [`${prefix}ExecutionMs`]: figures.executionMs,
    [`${prefix}BuildCatalogMs`]: figures.states[CATALOG_STATE] ?? -1,
    [`${prefix}BuildCatalogHandlerMs`]: round(figures.catalogHandlerMs, 0),
    [`${prefix}CatalogDynamoDbRequests`]: sumOf(r, 'dynamodb'),
    [`${prefix}CatalogDynamoDbQueries`]: r['dynamodb:Query'] ?? 0,
    [`${prefix}CatalogS3Requests`]: sumOf(r, 's3'),
    [`${prefix}LoadAverage1m`]: round(figures.loadAverage1m, 2),
    [`${prefix}CatalogEntries`]: entriesOf(figures.catalog),
    [`${prefix}CatalogChanges`]: `+${c.added} ~${c.changed} -${c.removed} (${c.itemsWritten} items written)`,
  };
}

function printFigures(label: string, figures: BackupFigures): void {
  const states = Object.entries(figures.states)
    .sort(([, a], [, b]) => b - a)
    .map(([name, ms]) => `${name} ${(ms / 1000).toFixed(2)} s`)
    .join(', ');
  console.error(
    `bench catalog-debian-local: ${label} ${(figures.executionMs / 1000).toFixed(1)} s ` +
      `(load ${figures.loadAverage1m.toFixed(2)}); states: ${states}`,
  );
  console.error(
    `bench catalog-debian-local: ${label} Build Catalog requests ${JSON.stringify(figures.catalogRequests)}`,
  );
}

export const suite: BenchSuite = {
  name: 'catalog-debian-local',
  async run(): Promise<readonly BenchResult[]> {
    const debian = await debianImage(await benchCacheDir());
    if (debian.image === undefined) {
      console.error(`bench catalog-debian-local: skipped: ${debian.reason}`);
      return [];
    }
    const work = await mkdtemp(path.join(os.tmpdir(), 'rbp-bench-debian-local-'));
    const savedEnv = { ...process.env };
    let stack: LocalStack | undefined;
    try {
      const disk = path.join(work, 'replica.img');
      await execFileAsync('cp', ['--sparse=always', debian.image, disk]);
      stack = await startLocalStack({ stateDir: path.join(work, 'state'), snapshotCompletionDelayMs: 0 });
      const running = stack;
      // The handlers' logs and metrics would drown the figures (set before deploy loads them).
      Object.assign(process.env, running.env, {
        POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR',
        POWERTOOLS_METRICS_DISABLED: 'true',
      });
      const product = await deployProduct(running);
      // Loaded after the environment is set: its logger reads the log level when its module loads.
      const { handler } = await import('../../lambdas/handlers/build-catalog.ts');
      const catalog = measureCatalog(running, handler);
      const sfn = new SFNClient({ endpoint: running.endpoint, region: running.env.AWS_REGION! });
      try {
        const replica = await running.replicas.create({ imagePath: disk, serverId: 'debian-server' });
        const full = await backUp(sfn, product, catalog, replica.volumeId, true);
        printFigures('full', full);
        const blocks = await changeDisk(running, replica.volumeId, disk, work);
        const incremental = await backUp(sfn, product, catalog, replica.volumeId, false);
        printFigures(`incremental (${blocks} changed 512 KiB blocks)`, incremental);
        const { added, changed, removed } = incremental.catalog.changes;
        // The catalog must have seen exactly the change made, or the figures measure something else.
        if (added !== WRITTEN.length || changed !== REWRITTEN.length || removed !== 1)
          throw new Error(
            `the incremental catalog found ${added} added, ${changed} changed, ${removed} removed; ` +
              `the change was ${WRITTEN.length} written, ${REWRITTEN.length} rewritten, 1 removed`,
          );
        const all = {
          ...details('full', full),
          ...details('incremental', incremental),
          changedBlocks: blocks,
        };
        const ratio = incremental.executionMs / full.executionMs;
        const catalogRatio = (incremental.states[CATALOG_STATE] ?? 0) / (full.states[CATALOG_STATE] ?? 1);
        return [
          {
            name: 'catalog-debian-local/incremental-vs-full-backup-1GiB-debian',
            value: round(incremental.executionMs / 1000, 1),
            unit: 's',
            baseline: round(full.executionMs / 1000, 1),
            ratio: round(ratio, 3),
            goal: `<= ${RATIO_GOAL} of the full backup (execution time, local stack)`,
            met: ratio <= RATIO_GOAL,
            details: all,
          },
          {
            name: 'catalog-debian-local/build-catalog-incremental-vs-full',
            value: round((incremental.states[CATALOG_STATE] ?? 0) / 1000, 2),
            unit: 's',
            baseline: round((full.states[CATALOG_STATE] ?? 0) / 1000, 2),
            ratio: round(catalogRatio, 3),
            details: {
              fullDynamoDbRequests: sumOf(full.catalogRequests, 'dynamodb'),
              incrementalDynamoDbRequests: sumOf(incremental.catalogRequests, 'dynamodb'),
            },
          },
        ];
      } finally {
        sfn.destroy();
      }
    } finally {
      await stack?.stop();
      for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
      Object.assign(process.env, savedEnv);
      await rm(work, { recursive: true, force: true });
    }
  },
};
