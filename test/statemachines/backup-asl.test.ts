import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as orchestrationErrors from '../../lambdas/core/orchestration/orchestration-errors.ts';
import { RETRYABLE_ERROR_NAMES } from '../../lambdas/core/orchestration/orchestration-errors.ts';
import { CollectionInProgressError } from '../../lambdas/core/errors.ts';
import { CLEAN_UP_ERROR_NAMES } from '../../lambdas/core/backup/range-failures.ts';
import {
  COLLECTION_WAIT_ATTEMPTS,
  COLLECTION_WAIT_INTERVAL_SECONDS,
  COLLECTION_WAIT_SECONDS,
} from '../../lambdas/core/lifecycle/commit-gate.ts';
import { ASL_PATH, placeholdersOf, type AslDefinition } from './asl-harness.ts';

const text = readFileSync(ASL_PATH, 'utf8');
const asl = JSON.parse(text) as AslDefinition;
type State = Record<string, unknown>;
type Retrier = {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
};
type Catcher = { ErrorEquals: string[]; Next: string; ResultPath?: string };

const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
];
/**
 * States whose retryable failures (after their retries) suspend the run so that a redrive resumes
 * them: permanent errors go to Clean Up, everything else to "<state> Failed" → Suspend Run.
 * "Back Up Volumes" is the Map over volumes: its iterations' states have no Catch of their own (a
 * Catch cannot leave the Map), so their failures are the Map's.
 */
const RESUMABLE_STATES = ['Back Up Volumes', 'Commit Recovery Point'];
/** The states of one iteration of "Back Up Volumes" (docs/recovery-points.md). */
const VOLUME_STATES = ['Plan Backup', 'Explain Copy Failure', 'Renew Lock', 'Commit Image', 'Build Catalog'];
const backUpVolumes = asl.States['Back Up Volumes'] as {
  ItemProcessor: { StartAt: string; States: Record<string, State>; ProcessorConfig: { Mode: string } };
};
const copyRanges = backUpVolumes.ItemProcessor.States['Copy Ranges']!;
const PERMANENT_ERRORS = [
  'ValidationError',
  'NotFoundError',
  'ConflictError',
  'AccessDeniedError',
  'PermanentError',
  'LockLostError',
];
const FAILURE_PATH = ['Clean Up', 'Suspend Run', 'Publish Failure', 'Publish Success', 'Publish Skipped'];

function allStates(states: Record<string, State>): [string, State][] {
  const out: [string, State][] = [];
  for (const [name, state] of Object.entries(states)) {
    out.push([name, state]);
    const processor = state['ItemProcessor'] as { States: Record<string, State> } | undefined;
    if (processor !== undefined) out.push(...allStates(processor.States));
  }
  return out;
}

function successors(state: State): string[] {
  const next: string[] = [];
  if (typeof state['Next'] === 'string') next.push(state['Next']);
  if (typeof state['Default'] === 'string') next.push(state['Default']);
  for (const choice of (state['Choices'] as { Next: string }[] | undefined) ?? []) next.push(choice.Next);
  for (const catcher of (state['Catch'] as Catcher[] | undefined) ?? []) next.push(catcher.Next);
  return next;
}

const lambdaTasks = allStates(asl.States).filter(
  ([, s]) => s['Resource'] === 'arn:aws:states:::lambda:invoke',
);

describe('statemachines/backup.asl.json', () => {
  it('uses exactly the substitutions the CDK construct provides', () => {
    expect([...placeholdersOf(text)].sort()).toEqual([
      'BackupLockFunctionArn',
      'BuildCatalogFunctionArn',
      'CheckpointFunctionArn',
      'CleanupFunctionArn',
      'CommitImageFunctionArn',
      'CommitRecoveryPointFunctionArn',
      'CopyRangeFunctionArn',
      'PlanBackupFunctionArn',
      'ProbeReplicaFunctionArn',
      'PublishOutcomeFunctionArn',
      'ReplicaSnapshotFunctionArn',
      'WorkBucketName',
    ]);
  });

  it('passes asl-validator (the ${…} placeholders are accepted as they are)', () => {
    const out = execFileSync('npx', ['asl-validator', '--json-path', fileURLToPath(ASL_PATH)], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    expect(out).toContain('is valid');
  });

  it('every Next, Default, Choice and Catch target exists, and every state is reachable', () => {
    const check = (states: Record<string, State>, start: string) => {
      for (const [name, state] of Object.entries(states)) {
        for (const target of successors(state)) expect(states[target], `${name} → ${target}`).toBeDefined();
      }
      const seen = new Set<string>();
      const queue = [start];
      while (queue.length > 0) {
        const name = queue.pop()!;
        if (seen.has(name)) continue;
        seen.add(name);
        queue.push(...successors(states[name]!));
      }
      expect([...seen].sort()).toEqual(Object.keys(states).sort());
    };
    check(asl.States, asl.StartAt);
    check(backUpVolumes.ItemProcessor.States, backUpVolumes.ItemProcessor.StartAt);
    const map = copyRanges as { ItemProcessor: { StartAt: string; States: Record<string, State> } };
    check(map.ItemProcessor.States, map.ItemProcessor.StartAt);
  });

  it('every Lambda task retries Lambda service errors as AWS advises, and our retryable errors with backoff', () => {
    expect(lambdaTasks.length).toBeGreaterThanOrEqual(14);
    for (const [name, state] of lambdaTasks) {
      const retry = state['Retry'] as Retrier[];
      expect(retry[0], name).toEqual({
        ErrorEquals: LAMBDA_SERVICE_ERRORS,
        IntervalSeconds: 2,
        MaxAttempts: 6,
        BackoffRate: 2,
      });
      const retryable = retry.find((r) => r.ErrorEquals.includes('RetryableError'));
      expect(retryable?.ErrorEquals, name).toEqual([...RETRYABLE_ERROR_NAMES]);
    }
  });

  it('every main-flow Lambda task catches into Clean Up; resumable states suspend the run on what is not permanent', () => {
    for (const [name, state] of lambdaTasks) {
      if (name === 'Copy Range') {
        expect(state['Catch'], 'a failed range fails its child execution').toBeUndefined();
        continue;
      }
      if (VOLUME_STATES.includes(name)) {
        expect(
          state['Catch'],
          `${name}: a failure fails the iteration, caught by Back Up Volumes`,
        ).toBeUndefined();
        continue;
      }
      const catchers = state['Catch'] as Catcher[];
      if (FAILURE_PATH.includes(name)) {
        expect(catchers, name).toHaveLength(1);
        expect(catchers[0]!.ErrorEquals).toEqual(['States.ALL']);
        continue;
      }
      expect(catchers[0]!.Next, name).toBe('Clean Up');
      expect(catchers[0]!.ResultPath, name).toBe('$.error');
      if (RESUMABLE_STATES.includes(name)) {
        expect(
          catchers.map((c) => [c.ErrorEquals, c.Next, c.ResultPath]),
          name,
        ).toEqual([
          [PERMANENT_ERRORS, 'Clean Up', '$.error'],
          [['States.ALL'], `${name} Failed`, '$.error'],
        ]);
      } else if (name === 'Await Redrive') {
        // BackupSuspendedError (the parked run) and BackupAlreadyRunningError (a redrive while
        // another run holds the lock) stay uncaught: the execution fails here and can be redriven.
        expect(
          catchers.map((c) => [c.ErrorEquals, c.Next]),
          name,
        ).toEqual([[PERMANENT_ERRORS, 'Clean Up']]);
      } else if (name === 'Reclaim Snapshots') {
        expect(
          catchers.map((c) => [c.ErrorEquals, c.Next]),
          name,
        ).toEqual([
          [PERMANENT_ERRORS, 'Clean Up'],
          [['States.ALL'], 'Suspend Run'],
        ]);
      } else {
        expect(catchers, name).toHaveLength(1);
        expect(catchers[0]!.ErrorEquals, name).toEqual(['States.ALL']);
      }
    }
    // A failed child never reaches the Map with its own error: only the Map Run's failure is caught.
    expect(copyRanges['Catch']).toEqual([
      {
        ErrorEquals: ['States.ExceedToleratedFailureThreshold'],
        ResultPath: '$.copyError',
        Next: 'Explain Copy Failure',
      },
    ]);
    expect(
      (asl.States['Back Up Volumes']!['Catch'] as Catcher[]).map((c) => [
        c.ErrorEquals,
        c.Next,
        c.ResultPath,
      ]),
    ).toEqual([
      [PERMANENT_ERRORS, 'Clean Up', '$.error'],
      [['States.ALL'], 'Back Up Volumes Failed', '$.error'],
    ]);
    expect(backUpVolumes.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'INLINE' });
    for (const name of RESUMABLE_STATES) {
      expect(asl.States[`${name} Failed`], name).toMatchObject({
        Type: 'Pass',
        Result: { state: name },
        ResultPath: '$.resume',
        Next: 'Suspend Run',
      });
      const resume = asl.States['Resume Where?'] as { Choices: { StringEquals: string; Next: string }[] };
      expect(resume.Choices.find((c) => c.StringEquals === name)?.Next, name).toBe(name);
    }
  });

  it("Explain Copy Failure throws the ranges' recorded error: permanent names are Back Up Volumes' Clean Up names, RangeCopyFailedError is retried nowhere", () => {
    const explain = backUpVolumes.ItemProcessor.States['Explain Copy Failure']!;
    expect(explain['Parameters']).toEqual({
      FunctionName: '${CopyRangeFunctionArn}',
      Payload: { action: 'explain-failure', 'plan.$': '$.plan.result', 'error.$': '$.copyError' },
    });
    expect(explain['ResultPath']).toBeNull();
    expect(explain['Next']).toBe('Copy Failure Unexplained');
    expect(backUpVolumes.ItemProcessor.States['Copy Failure Unexplained']).toMatchObject({
      Type: 'Fail',
      Error: new orchestrationErrors.RangeCopyFailedError('x').name,
    });
    const cleanUp = (asl.States['Back Up Volumes']!['Catch'] as Catcher[])[0]!;
    expect(cleanUp.Next).toBe('Clean Up');
    expect(cleanUp.ErrorEquals).toEqual([...CLEAN_UP_ERROR_NAMES]);
    const retried = allStates(asl.States).flatMap(([, s]) =>
      ((s['Retry'] as Retrier[] | undefined) ?? []).flatMap((r) => r.ErrorEquals),
    );
    expect(retried).not.toContain('RangeCopyFailedError');
    expect(retried).not.toContain('States.ALL');
  });

  it('a suspended run fails at Await Redrive, which tells its own entry from a redrive by $$.State.EnteredTime', () => {
    expect(asl.States['Suspended?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.failure.suspended', IsPresent: true, Next: 'Await Redrive' }],
      Default: 'Which Failure?',
    });
    const parameters = asl.States['Await Redrive']!['Parameters'] as { Payload: Record<string, unknown> };
    expect(parameters.Payload).toEqual({
      action: 'await-redrive',
      'backup.$': '$.backup',
      'enteredAt.$': '$$.State.EnteredTime',
      'resumeAt.$': '$.resume.state',
      'cause.$': '$.failure.cause',
    });
    expect(asl.States['Suspend Run']!['ResultSelector']).toMatchObject({ suspended: true });
  });

  it('routes each orchestration error to a named Fail that carries the cause', () => {
    const choice = asl.States['Which Failure?'] as { Choices: State[]; Default: string };
    const names = JSON.stringify(choice.Choices)
      .match(/"StringEquals":"([A-Za-z]+)"/g)!
      .map((m) => m.slice(16, -1));
    const exported = Object.keys(orchestrationErrors).filter((k) => k.endsWith('Error'));
    for (const name of names) expect(exported).toContain(name);
    const fails = Object.entries(asl.States).filter(([, s]) => s['Type'] === 'Fail');
    expect(fails.map(([n, s]) => [n, s['Error'], s['CausePath']])).toEqual([
      ['Backup Already Running', 'BackupAlreadyRunning', '$.failure.cause'],
      ['Replica Not In Sync', 'ReplicaNotInSync', '$.failure.cause'],
      ['Snapshot Failed', 'SnapshotFailed', '$.failure.cause'],
      ['Lock Lost', 'LockLost', '$.failure.cause'],
      ['Backup Failed', 'BackupFailed', '$.failure.cause'],
    ]);
    expect(choice.Default).toBe('Backup Failed');
  });

  it('uses only what moto 5.2.1 can run: no ItemBatcher, JSONata, Variables or EXPRESS children', () => {
    for (const forbidden of [
      'ItemBatcher',
      'QueryLanguage',
      '"Assign"',
      '"Arguments"',
      '"Output"',
      'EXPRESS',
      'JSONata',
    ]) {
      expect(text).not.toContain(forbidden);
    }
    const map = copyRanges;
    expect(map['ItemReader']).toEqual({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSON' },
      Parameters: { 'Bucket.$': '$.plan.result.workItems.bucket', 'Key.$': '$.plan.result.workItems.key' },
    });
    expect(map['ItemProcessor']).toMatchObject({
      ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
    });
    // No tolerated failures: the default (0). moto 5.2.1 cannot parse an explicit ToleratedFailurePercentage.
    expect(map['ToleratedFailurePercentage']).toBeUndefined();
    expect(map['ToleratedFailureCount']).toBeUndefined();
  });

  it("polls with Wait states (the replica at the request's interval, snapshots with a backoff capped by it), never with waiters inside Lambdas", () => {
    const waits = Object.entries(asl.States).filter(([, s]) => s['Type'] === 'Wait');
    expect(waits.map(([n, s]) => [n, s['SecondsPath'], s['Next']])).toEqual([
      ['Wait For Replica', '$.backup.syncWait.intervalSeconds', 'Probe Replica'],
      ['Wait For Snapshots', '$.snapshotProgress.waitSeconds', 'Check Snapshots'],
    ]);
  });

  it('Commit Image waits for a collection every minute for two hours, on a retrier of its own; only Commit Image does', () => {
    const retry = backUpVolumes.ItemProcessor.States['Commit Image']!['Retry'] as Retrier[];
    expect(retry.map((r) => r.ErrorEquals[0])).toEqual([
      'Lambda.ServiceException',
      'CollectionInProgressError',
      'RetryableError',
    ]);
    expect(retry[1]).toEqual({
      ErrorEquals: [new CollectionInProgressError('img', 'gc', undefined).name],
      IntervalSeconds: COLLECTION_WAIT_INTERVAL_SECONDS,
      MaxAttempts: COLLECTION_WAIT_ATTEMPTS,
      BackoffRate: 1,
    });
    // BackoffRate 1 and no jitter: every wait is the interval, so the retries span exactly the bound.
    expect(retry[1]!.IntervalSeconds! * retry[1]!.MaxAttempts!).toBe(COLLECTION_WAIT_SECONDS);
    // Within the execution's timeout (no state of the path to it has a timeout of its own).
    expect(asl['TimeoutSeconds']).toBe(1_209_600);
    expect(COLLECTION_WAIT_SECONDS).toBeLessThan(asl['TimeoutSeconds'] as number);
    expect(backUpVolumes.ItemProcessor.States['Commit Image']!['TimeoutSeconds']).toBeUndefined();
    expect(asl.States['Back Up Volumes']!['TimeoutSeconds']).toBeUndefined();
    for (const [name, state] of lambdaTasks) {
      if (name === 'Commit Image') continue;
      expect(JSON.stringify(state['Retry']), name).not.toContain('CollectionInProgressError');
    }
  });

  it('retries ConcurrentSnapshotLimitExceeded on Create Snapshots with a long backoff', () => {
    const retry = asl.States['Create Snapshots']!['Retry'] as Retrier[];
    expect(retry.at(-1)).toEqual({
      ErrorEquals: ['SnapshotLimitExceededError'],
      IntervalSeconds: 60,
      MaxAttempts: 10,
      BackoffRate: 1.5,
      MaxDelaySeconds: 600,
      JitterStrategy: 'FULL',
    });
  });
});
